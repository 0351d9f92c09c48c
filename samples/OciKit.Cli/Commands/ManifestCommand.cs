using System.CommandLine;
using System.Text;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit manifest REF</c>: prints the image's top-level manifest or index, byte for byte.</summary>
internal static class ManifestCommand
{
    public static Command Create()
    {
        var name = CommandOptions.Reference("reference", "An image in the local store, else in its registry.");
        var remote = InspectCommand.Remote();
        var command = new Command("manifest", "Print an image's manifest (or index) exactly as stored.") { name, remote };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var top = await InspectCommand.ReadTopAsync(CliSession.Of(parseResult, host), parseResult.GetValue(name)!, parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
            await host.Out.WriteLineAsync(Encoding.UTF8.GetString(top.Bytes.Span)).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
