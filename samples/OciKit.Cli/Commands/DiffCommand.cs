using System.CommandLine;
using OciKit.Layers;
using OciKit.Layout;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit diff LOWER UPPER -o FILE</c>: writes the layer that turns one directory into another.</summary>
internal static class DiffCommand
{
    public static Command Create()
    {
        var lower = new Argument<string>("lower") { Description = "The directory before the change." };
        var upper = new Argument<string>("upper") { Description = "The directory after the change." };
        var output = new Option<string>("--output", "-o") { Description = "The layer file to write (gzip-compressed tar).", Required = true };
        var command = new Command("diff", "Write the layer (added, changed, deleted files) that turns LOWER into UPPER.") { lower, upper, output };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var path = Path.GetFullPath(parseResult.GetValue(output)!);
            LayerInfo? layer = null;
            await AtomicFile.WriteAsync(
                path,
                async (stream, ct) => layer = await LayerWriter.WriteDiffAsync(parseResult.GetValue(lower)!, parseResult.GetValue(upper)!, stream, null, ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Wrote {path} ({Sizes.Human(layer!.Descriptor.Size)}, diff id {layer.DiffId})").ConfigureAwait(false);
            await host.Out.WriteLineAsync(layer.Descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
