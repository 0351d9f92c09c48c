using System.CommandLine;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit prune</c>: deletes blobs no image in the local store uses.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var command = new Command("prune", "Delete the blobs no image in the local store uses, and what interrupted builds and pulls left behind.");
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
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
            return CliRunner.Success;
        });
        return command;
    }
}
