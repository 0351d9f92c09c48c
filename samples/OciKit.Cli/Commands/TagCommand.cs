using System.CommandLine;
using OciKit.References;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit tag SRC DST</c>: gives an image in the local store another name.</summary>
internal static class TagCommand
{
    public static Command Create()
    {
        var source = CommandOptions.Reference("source", "The image in the local store.");
        var target = CommandOptions.Reference("target", "The new name, repository[:tag].");
        var command = new Command("tag", "Give an image in the local store another name.") { source, target };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var name = ImageReference.Parse(parseResult.GetValue(target)!);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var descriptor = await store.TagAsync(parseResult.GetValue(source)!, name, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Tagged {name.FamiliarString} {descriptor.Digest}").ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
