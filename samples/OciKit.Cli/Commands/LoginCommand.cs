using System.CommandLine;
using OciKit.Auth;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit login REGISTRY -u USER --password-stdin</c>: checks and stores a credential where docker, podman and skopeo find it.</summary>
internal static class LoginCommand
{
    public static Command Create()
    {
        var registry = new Argument<string>("registry") { Description = "The registry, for example ghcr.io or localhost:5000 (default Docker Hub).", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => RegistryKeys.DockerHub };
        var username = new Option<string>("--username", "-u") { Description = "The user name.", Required = true };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password (or token) from standard input; the only way, so it never shows in the process list." };
        var command = new Command("login", "Log in to a registry: check the credential, then store it in Docker's config.json (or --authfile).") { registry, username, passwordStdin };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            if (!parseResult.GetValue(passwordStdin))
            {
                throw new ArgumentException("Give the password on standard input with --password-stdin.");
            }

            var password = (await host.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).TrimEnd('\r', '\n');
            if (password.Length == 0)
            {
                throw new ArgumentException("The password on standard input is empty.");
            }

            var credential = RegistryCredential.FromUsernamePassword(parseResult.GetValue(username)!, password);
            var location = await RegistryLogin.LoginAsync(parseResult.GetValue(registry)!, credential, session.ClientOptions, session.CredentialOptions, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Credentials stored in {location.Origin}").ConfigureAwait(false);
            await host.Out.WriteLineAsync("Login Succeeded").ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
