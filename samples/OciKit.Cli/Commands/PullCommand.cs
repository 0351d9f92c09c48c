using System.CommandLine;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit pull REF</c>: pulls an image from a registry into the local store.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var reference = CommandOptions.Reference("reference", "The image, for example alpine:3.20 or ghcr.io/org/app@sha256:….");
        var platform = CommandOptions.Platform();
        var allPlatforms = new Option<bool>("--all-platforms") { Description = "Keep the whole multi-platform index (every platform's image)." };
        var command = new Command("pull", "Pull an image from a registry into the local store.") { reference, platform, allPlatforms };
        var policy = PolicyOption.AddTo(command);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var source = ImageReference.Parse(parseResult.GetValue(reference)!);
            using var client = session.CreateClient();
            var trustPolicy = await policy.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false);
            var admitted = await PolicyOption.AdmitAsync(trustPolicy, client, source, cancellationToken).ConfigureAwait(false);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var options = new PullOptions { Platform = CommandOptions.ParsePlatform(parseResult.GetValue(platform)), AllPlatforms = parseResult.GetValue(allPlatforms), LocalName = source.ToString() };
            var result = await session.WithProgressAsync(p => new ImageTransfer(client).PullAsync(admitted, store.Store, options, p, cancellationToken)).ConfigureAwait(false);
            await session.InfoAsync($"Pulled {result.LocalName} ({result.BlobsDownloaded} blob(s) downloaded, {result.BlobsPresent} already present)").ConfigureAwait(false);
            await session.Out.WriteLineAsync(result.Descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
