using System.CommandLine;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>ocikit commit NAME TARGET [--change …]</c>: a new image from a kept container's changes (<c>docker commit</c>);
/// <c>ocikit commit BASE TARGET --lower DIR --upper DIR</c>: an image from the difference of two directories.
/// </summary>
internal static class CommitCommand
{
    public static Command Create()
    {
        var baseImage = CommandOptions.Reference("source", "A container's name; or, with --lower and --upper, the image in the local store to extend.");
        var target = CommandOptions.Reference("target", "The new image's name.");
        var lower = new Option<string?>("--lower") { Description = "The directory before the change (usually the base's root filesystem)." };
        var upper = new Option<string?>("--upper") { Description = "The directory after the change." };
        var message = new Option<string?>("--message", "-m") { Description = "A comment for the new layer's history entry." };
        var author = new Option<string?>("--author", "-a") { Description = "The author." };
        var changes = new Option<string[]>("--change", "-c") { Description = "A Dockerfile instruction for the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR …), for a container; repeatable." };
        var command = new Command("commit", "Make a new image in the local store from a container's changes, or from the difference of two directories.")
        {
            baseImage, target, lower, upper, message, author, changes,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var name = ImageReference.Parse(parseResult.GetValue(target)!);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var lowerDirectory = parseResult.GetValue(lower);
            var upperDirectory = parseResult.GetValue(upper);
            OciKit.Primitives.Descriptor descriptor;
            if (lowerDirectory is null && upperDirectory is null)
            {
                var options = new ContainerCommitOptions { Changes = parseResult.GetValue(changes) ?? [], Comment = parseResult.GetValue(message), Author = parseResult.GetValue(author) };
                descriptor = await new LocalContainers(store.Store).CommitAsync(parseResult.GetValue(baseImage)!, name, options, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                if (lowerDirectory is null || upperDirectory is null)
                {
                    throw new ArgumentException("commit from directories needs both --lower and --upper.");
                }

                if (parseResult.GetValue(changes) is { Length: > 0 })
                {
                    throw new ArgumentException("--change applies to a container's commit, not to --lower/--upper.");
                }

                var options = new CommitOptions { Comment = parseResult.GetValue(message), Author = parseResult.GetValue(author) };
                descriptor = await store.CommitAsync(parseResult.GetValue(baseImage)!, lowerDirectory, upperDirectory, name, options, cancellationToken).ConfigureAwait(false);
            }

            await session.InfoAsync($"Committed {name.FamiliarString}").ConfigureAwait(false);
            await host.Out.WriteLineAsync(descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
