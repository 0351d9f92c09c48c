using System.CommandLine;
using OciKit.References;
using OciKit.Signing;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit sign --key PREFIX.key REF</c>: signs an image in its registry, cosign-style (a <c>sha256-HEX.sig</c> tag beside it).</summary>
internal static class SignCommand
{
    public static Command Create()
    {
        var reference = CommandOptions.Reference("reference", "The image in its registry, by tag or digest.");
        var key = new Option<string>("--key") { Description = "The private key file (PKCS#8 PEM, as 'ocikit key generate' writes, or cosign's encrypted cosign.key).", Required = true };
        var passphraseEnv = new Option<string?>("--passphrase-env") { Description = "The environment variable holding the key's passphrase, when it is encrypted." };
        var command = new Command("sign", "Sign an image in its registry (cosign simple-signing format).") { reference, key, passphraseEnv };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var session = CliSession.Of(parseResult);
            var image = ImageReference.Parse(parseResult.GetValue(reference)!);
            using var signingKey = await KeyFiles.ReadSigningKeyAsync(parseResult.GetValue(key)!, KeyCommand.Passphrase(parseResult.GetValue(passphraseEnv)), cancellationToken).ConfigureAwait(false);
            using var client = session.CreateClient();
            var (payload, manifest) = await CosignSignatures.SignAsync(client, image, signingKey, cancellationToken).ConfigureAwait(false);
            await session.Out.WriteLineAsync($"Signed {payload.DockerReference}@{payload.ManifestDigest} with key {signingKey.PublicKey.Fingerprint}: {CosignSignatures.SignatureReference(image, payload.ManifestDigest)} ({manifest})").ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
