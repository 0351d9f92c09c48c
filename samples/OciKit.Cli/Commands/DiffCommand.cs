using System.CommandLine;
using OciKit.Execution;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>ocikit diff NAME</c>: what a kept container changed, as <c>docker container diff</c> (A, C, D lines);
/// <c>ocikit diff LOWER UPPER -o FILE</c>: writes the layer that turns one directory into another.
/// </summary>
internal static class DiffCommand
{
    public static Command Create()
    {
        var lower = new Argument<string>("lower") { Description = "A container's name; or the directory before the change (with UPPER and -o)." };
        var upper = new Argument<string?>("upper") { Description = "The directory after the change.", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string?>("--output", "-o") { Description = "The layer file to write (gzip-compressed tar); with LOWER UPPER." };
        var command = new Command("diff", "List what a container changed (A/C/D), or write the layer (added, changed, deleted files) that turns LOWER into UPPER.") { lower, upper, output };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            if (parseResult.GetValue(upper) is not { } upperDirectory)
            {
                if (parseResult.GetValue(output) is not null)
                {
                    throw new ArgumentException("diff NAME lists a container's changes; -o writes a layer from LOWER UPPER directories.");
                }

                var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
                foreach (var change in await new LocalContainers(store.Store).DiffAsync(parseResult.GetValue(lower)!, cancellationToken).ConfigureAwait(false))
                {
                    var letter = change.Kind switch { FileChangeKind.Added => 'A', FileChangeKind.Deleted => 'D', _ => 'C' };
                    await host.Out.WriteLineAsync($"{letter} {change.Path}").ConfigureAwait(false);
                }

                return CliRunner.Success;
            }

            var path = Path.GetFullPath(parseResult.GetValue(output) ?? throw new ArgumentException("diff LOWER UPPER needs --output FILE."));
            LayerInfo? layer = null;
            await AtomicFile.WriteAsync(
                path,
                async (stream, ct) => layer = await LayerWriter.WriteDiffAsync(parseResult.GetValue(lower)!, upperDirectory, stream, null, ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Wrote {path} ({Sizes.Human(layer!.Descriptor.Size)}, diff id {layer.DiffId})").ConfigureAwait(false);
            await host.Out.WriteLineAsync(layer.Descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
