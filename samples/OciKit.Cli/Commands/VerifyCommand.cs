using System.CommandLine;
using OciKit.References;
using OciKit.Signing;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit verify --key PUB REF</c>: checks an image's cosign signatures against a public key; fails when none is valid.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var reference = CommandOptions.Reference("reference", "The image in its registry, by tag or digest.");
        var key = new Option<string>("--key") { Description = "The public key file (SubjectPublicKeyInfo PEM).", Required = true };
        var signedRepository = new Option<string?>("--signed-repository")
        {
            Description = "The repository the signatures must name (default: the image's own); for an image copied with its signatures (copy --attachments), the repository it was signed in.",
        };
        var command = new Command("verify", "Verify an image's signatures (cosign simple-signing format) against a public key.") { reference, key, signedRepository };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var session = CliSession.Of(parseResult);
            var image = ImageReference.Parse(parseResult.GetValue(reference)!);
            var publicKey = await KeyFiles.ReadVerificationKeyAsync(parseResult.GetValue(key)!, cancellationToken).ConfigureAwait(false);
            using var client = session.CreateClient();
            var signed = parseResult.GetValue(signedRepository) is { } repository ? ImageReference.Parse(repository) : image;
            foreach (var signature in await CosignSignatures.VerifyAsync(client, image, publicKey, signed, cancellationToken).ConfigureAwait(false))
            {
                await session.Out.WriteLineAsync($"Verified: {signature.DockerReference}@{signature.ManifestDigest} signed by key {signature.KeyFingerprint} ({publicKey.Type})").ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
