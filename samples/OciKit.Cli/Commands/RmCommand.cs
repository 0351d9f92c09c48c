using System.CommandLine;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit rm NAME…</c>: removes kept containers and their changes.</summary>
internal static class RmCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("name") { Description = "The containers to remove.", Arity = ArgumentArity.OneOrMore };
        var command = new Command("rm", "Remove containers kept in the local store (and their changes).") { names };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var containers = new LocalContainers(store.Store);
            foreach (var name in parseResult.GetValue(names)!)
            {
                await containers.RemoveAsync(name, cancellationToken).ConfigureAwait(false);
                await session.InfoAsync(name).ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
