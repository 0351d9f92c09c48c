using System.CommandLine;
using OciKit.References;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit tags REPO</c>: lists a repository's tags in its registry.</summary>
internal static class TagsCommand
{
    public static Command Create()
    {
        var repository = CommandOptions.Reference("repository", "The repository, for example ghcr.io/org/app (a tag, if given, is ignored).");
        var command = new Command("tags", "List the tags of a repository in its registry.") { repository };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var reference = ImageReference.Parse(parseResult.GetValue(repository)!);
            using var client = session.CreateClient();
            await foreach (var tag in client.ListTagsAsync(reference, null, cancellationToken).ConfigureAwait(false))
            {
                await host.Out.WriteLineAsync(tag).ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
