using System.CommandLine;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit prune</c>: deletes blobs no image in the local store uses, extracted layers no image needs, and with <c>--build-cache</c> the build cache.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var buildCache = new Option<bool>("--build-cache")
        {
            Description = "Also delete the build cache, as 'docker builder prune' does: RUN --mount=type=cache directories no build is using, and the build-cache records (the layers only they named go too).",
        };
        var command = new Command("prune", "Delete the blobs no image in the local store uses, extracted layers no image needs, and what interrupted builds and pulls left behind.");
        command.Options.Add(buildCache);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(buildCache))
            {
                // First, so that the blobs only the records named are collected below.
                var cache = await store.PruneBuildCacheAsync(cancellationToken).ConfigureAwait(false);
                await session.InfoAsync($"Deleted {cache.CacheMounts.Removed} cache mount(s), reclaimed {Sizes.Human(cache.CacheMounts.RemovedBytes)}; {cache.CacheMounts.InUse} in use kept; deleted {cache.Records} build-cache record(s)").ConfigureAwait(false);
            }

            var result = await store.PruneAsync(cancellationToken).ConfigureAwait(false);
            foreach (var broken in result.BrokenImages)
            {
                await host.Err.WriteLineAsync($"warning: image {broken.Name} ({broken.Digest}) cannot be read; kept only the blobs its manifest names: {CliRunner.OneLine(broken.Problem)}").ConfigureAwait(false);
            }

            await session.InfoAsync($"Deleted {result.RemovedBlobs} blob(s), reclaimed {Sizes.Human(result.RemovedBytes)}; kept {result.KeptBlobs}").ConfigureAwait(false);
            if (result.InterruptedWriters > 0)
            {
                // What builds, pulls and commits that were killed half-way left in the store's scratch space.
                await session.InfoAsync($"Reclaimed {Sizes.Human(result.InterruptedWriterBytes)} from {result.InterruptedWriters} interrupted writer(s)").ConfigureAwait(false);
            }

            var extracted = await store.PruneExtractedLayersAsync(cancellationToken).ConfigureAwait(false);
            if (extracted.Removed + extracted.Kept + extracted.InUse > 0)
            {
                await session.InfoAsync($"Deleted {extracted.Removed} extracted layer(s), reclaimed {Sizes.Human(extracted.RemovedBytes)}; kept {extracted.Kept} that images use, {extracted.InUse} in use").ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
