using System.CommandLine;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit search [REGISTRY/]TERM</c>: finds repositories (Docker Hub's search API, or a registry's catalog).</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var query = new Argument<string>("term") { Description = "What to look for; prefix a registry (registry.example:5000/term) to search its catalog instead of Docker Hub." };
        var limit = new Option<int>("--limit") { Description = "The most results to print.", DefaultValueFactory = _ => 25 };
        var command = new Command("search", "Search Docker Hub, or a registry's catalog, for repositories.") { query, limit };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var (registry, term) = RegistrySearch.ParseQuery(parseResult.GetValue(query)!);
            using var client = session.CreateClient();
            var results = await new RegistrySearch(client).SearchAsync(registry, term, parseResult.GetValue(limit), cancellationToken).ConfigureAwait(false);
            var hub = results.Any(r => r.Description is not null || r.Stars is not null);
            if (!session.Quiet && hub)
            {
                await host.Out.WriteLineAsync("NAME\tSTARS\tOFFICIAL\tDESCRIPTION").ConfigureAwait(false);
            }

            foreach (var result in results)
            {
                var line = session.Quiet || !hub
                    ? result.Name
                    : $"{result.Name}\t{result.Stars}\t{(result.IsOfficial == true ? "[OK]" : "")}\t{CliRunner.OneLine(result.Description ?? "")}";
                await host.Out.WriteLineAsync(line).ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }
}
