using System.CommandLine;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit digest REF</c>: prints the image's digest (its top-level manifest's or index's).</summary>
internal static class DigestCommand
{
    public static Command Create()
    {
        var name = CommandOptions.Reference("reference", "An image in the local store, else in its registry.");
        var remote = InspectCommand.Remote();
        var command = new Command("digest", "Print an image's digest.") { name, remote };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var top = await InspectCommand.ReadTopAsync(CliSession.Of(parseResult, host), parseResult.GetValue(name)!, parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
            await host.Out.WriteLineAsync(top.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
