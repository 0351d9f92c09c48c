using System.CommandLine;
using OciKit.Auth;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit logout REGISTRY</c>: erases the stored credential.</summary>
internal static class LogoutCommand
{
    public static Command Create()
    {
        var registry = new Argument<string>("registry") { Description = "The registry (default Docker Hub).", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => RegistryKeys.DockerHub };
        var command = new Command("logout", "Log out of a registry: erase its stored credential.") { registry };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var name = parseResult.GetValue(registry)!;
            var removed = await RegistryLogin.LogoutAsync(name, session.CredentialOptions, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync(removed ? $"Removed login credentials for {name}" : $"Not logged in to {name}").ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
