using System.CommandLine;
using System.Globalization;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit ps [-a]</c>: the containers kept in the store (running ones; with -a the exited ones too).</summary>
internal static class PsCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Show exited containers too." };
        var command = new Command("ps", "List the containers kept in the local store (those run with --name).") { all };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var containers = await new LocalContainers(store.Store).ListAsync(parseResult.GetValue(all), cancellationToken).ConfigureAwait(false);
            await host.Out.WriteLineAsync($"{"NAME",-20} {"IMAGE",-30} {"COMMAND",-30} {"CREATED",-20} STATUS").ConfigureAwait(false);
            foreach (var c in containers)
            {
                var commandText = string.Join(' ', c.Command);
                if (commandText.Length > 28)
                {
                    commandText = commandText[..27] + "…";
                }

                var status = c.State == ContainerState.Running ? "Running"
                    : c.ExitCode is { } code ? "Exited (" + code.ToString(CultureInfo.InvariantCulture) + ")" : "Exited (interrupted)";
                await host.Out.WriteLineAsync($"{c.Name,-20} {c.Image,-30} {"\"" + commandText + "\"",-30} {c.Created.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-20} {status}").ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
