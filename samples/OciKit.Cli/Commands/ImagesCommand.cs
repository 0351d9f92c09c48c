using System.CommandLine;
using System.Globalization;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit images</c>: lists the local store like <c>docker image ls</c>.</summary>
internal static class ImagesCommand
{
    public static Command Create()
    {
        var command = new Command("images", "List the images in the local store (repository, tag, image id, created, size).");
        command.Aliases.Add("ls");
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var inventory = await store.InventoryAsync(cancellationToken).ConfigureAwait(false);
            var images = inventory.Images;

            // A broken image is a warning on stderr, not a failure: the others are listed and the exit code stays 0.
            foreach (var broken in inventory.Broken)
            {
                await host.Err.WriteLineAsync($"warning: image {broken.Name} ({broken.Digest}) cannot be read: {CliRunner.OneLine(broken.Problem)}").ConfigureAwait(false);
            }

            if (session.Quiet)
            {
                foreach (var id in images.Select(i => i.ImageId.Encoded[..12]).Distinct())
                {
                    await session.Out.WriteLineAsync(id).ConfigureAwait(false);
                }

                return CliRunner.Success;
            }

            var rows = new List<string[]> { new[] { "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE" } };
            var now = DateTimeOffset.UtcNow;
            rows.AddRange(images.Select(i => new[] { i.Repository, i.Tag ?? "<none>", i.ImageId.Encoded[..12], Ago(i.Created, now), Sizes.Human(i.Size) }));
            var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var row in rows)
            {
                var line = string.Join("   ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c])));
                await session.Out.WriteLineAsync(line).ConfigureAwait(false);
            }

            return CliRunner.Success;
        });
        return command;
    }

    private static string Ago(DateTimeOffset? created, DateTimeOffset now)
    {
        if (created is not { } when || when.ToUnixTimeSeconds() <= 0)
        {
            return "N/A";
        }

        var age = now - when;
        return age.TotalSeconds < 60 ? "Less than a minute ago"
            : age.TotalMinutes < 60 ? Plural((int)age.TotalMinutes, "minute")
            : age.TotalHours < 48 ? Plural((int)age.TotalHours, "hour")
            : age.TotalDays < 14 ? Plural((int)age.TotalDays, "day")
            : age.TotalDays < 60 ? Plural((int)(age.TotalDays / 7), "week")
            : age.TotalDays < 730 ? Plural((int)(age.TotalDays / 30), "month")
            : Plural((int)(age.TotalDays / 365), "year");

        static string Plural(int n, string unit) => n.ToString(CultureInfo.InvariantCulture) + " " + unit + (n == 1 ? "" : "s") + " ago";
    }
}
