using System.CommandLine;
using OciKit.Signing;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit key generate [--type ed25519|ecdsa-p256] --out PREFIX [--passphrase-env VAR]</c>: writes a signing key pair.</summary>
internal static class KeyCommand
{
    public static Command Create()
    {
        var type = new Option<string>("--type") { Description = "The key type: ed25519 or ecdsa-p256.", DefaultValueFactory = _ => "ecdsa-p256" };
        type.AcceptOnlyFromAmong("ed25519", "ecdsa-p256");
        var output = new Option<string>("--out") { Description = "The path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.", Required = true };
        var passphraseEnv = new Option<string?>("--passphrase-env") { Description = "Encrypts the private key with the passphrase in this environment variable." };
        var generate = new Command("generate", "Generate a signing key pair (PKCS#8 and SubjectPublicKeyInfo PEM).") { type, output, passphraseEnv };
        generate.SetAction(async (parseResult, cancellationToken) =>
        {
            var session = CliSession.Of(parseResult);
            var passphrase = Passphrase(parseResult.GetValue(passphraseEnv));
            using var key = SigningKey.Generate(ParseType(parseResult.GetValue(type)!));
            var (privatePath, publicPath) = await KeyFiles.WriteAsync(key, parseResult.GetValue(output)!, passphrase, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Wrote {privatePath} and {publicPath} ({key.Type}, {key.PublicKey.Fingerprint}).").ConfigureAwait(false);
            return CliRunner.Success;
        });
        return new Command("key", "Manage signing keys.") { generate };
    }

    internal static SigningKeyType ParseType(string value) => value switch
    {
        "ed25519" => SigningKeyType.Ed25519,
        _ => SigningKeyType.EcdsaP256,
    };

    /// <summary>The passphrase in the named environment variable; null without a name; an error naming the variable (never its value) when unset.</summary>
    internal static string? Passphrase(string? variable)
    {
        if (string.IsNullOrEmpty(variable))
        {
            return null;
        }

        return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new ArgumentException($"The passphrase variable {variable} is not set or empty.");
    }
}
