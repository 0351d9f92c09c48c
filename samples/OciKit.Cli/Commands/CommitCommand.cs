using System.CommandLine;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit commit BASE TARGET --lower DIR --upper DIR</c>: the daemonless <c>docker commit</c>.</summary>
internal static class CommitCommand
{
    public static Command Create()
    {
        var baseImage = CommandOptions.Reference("base", "The image in the local store to extend.");
        var target = CommandOptions.Reference("target", "The new image's name.");
        var lower = new Option<string>("--lower") { Description = "The directory before the change (usually the base's root filesystem).", Required = true };
        var upper = new Option<string>("--upper") { Description = "The directory after the change.", Required = true };
        var message = new Option<string?>("--message", "-m") { Description = "A comment for the new layer's history entry." };
        var author = new Option<string?>("--author", "-a") { Description = "The author." };
        var command = new Command("commit", "Append a layer holding the difference of two directories to an image, as a new image in the local store.")
        {
            baseImage, target, lower, upper, message, author,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var name = ImageReference.Parse(parseResult.GetValue(target)!);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var options = new CommitOptions { Comment = parseResult.GetValue(message), Author = parseResult.GetValue(author) };
            var descriptor = await store.CommitAsync(parseResult.GetValue(baseImage)!, parseResult.GetValue(lower)!, parseResult.GetValue(upper)!, name, options, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Committed {name.FamiliarString}").ConfigureAwait(false);
            await host.Out.WriteLineAsync(descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
