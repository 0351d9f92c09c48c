using System.CommandLine;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit rmi REF...</c>: removes names from the local store (blobs go with <c>prune</c>).</summary>
internal static class RmiCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("reference") { Description = "The images to remove.", Arity = ArgumentArity.OneOrMore };
        var command = new Command("rmi", "Remove images from the local store (their blobs are deleted by 'prune').") { names };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            foreach (var name in parseResult.GetValue(names)!)
            {
                var removed = await store.RemoveAsync(name, cancellationToken).ConfigureAwait(false);
                await session.InfoAsync($"Untagged: {removed}").ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
