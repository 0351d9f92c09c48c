using System.CommandLine;
using System.Text;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit config REF</c>: prints the image's configuration, byte for byte.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var name = CommandOptions.Reference("reference", "An image in the local store, else in its registry.");
        var platform = CommandOptions.Platform();
        var remote = InspectCommand.Remote();
        var command = new Command("config", "Print an image's configuration exactly as stored.") { name, platform, remote };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var inspection = await InspectCommand.InspectAsync(CliSession.Of(parseResult, host), parseResult.GetValue(name)!, parseResult.GetValue(platform), parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
            await host.Out.WriteLineAsync(Encoding.UTF8.GetString(inspection.ConfigBytes.Span)).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
