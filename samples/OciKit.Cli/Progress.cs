using System.Collections.Concurrent;
using OciKit.Primitives;
using OciKit.Registry;
using Spectre.Console;

namespace OciKit.Cli;

/// <summary>Plain progress for logs: one line when a blob starts and one when it is complete.</summary>
internal sealed class LineProgress(TextWriter writer) : IProgress<TransferProgress>
{
    private readonly ConcurrentDictionary<Digest, bool> _seen = new();
    private readonly Lock _lock = new();

    public void Report(TransferProgress value)
    {
        var done = value.Total is { } total && value.Transferred >= total;
        var known = _seen.TryGetValue(value.Digest, out var wasDone);
        if (known && (wasDone || !done))
        {
            return;
        }

        _seen[value.Digest] = done;
        var size = value.Total is { } t ? Sizes.Human(t) : "unknown size";
        lock (_lock)
        {
            if (!known && !done)
            {
                writer.WriteLine($"{Short(value.Digest)}: transferring ({size})");
            }

            if (done)
            {
                writer.WriteLine($"{Short(value.Digest)}: done ({size})");
            }
        }
    }

    private static string Short(Digest digest) => digest.Encoded[..12];
}

/// <summary>Live Spectre.Console bars per blob: bytes, rate, remaining time.</summary>
internal sealed class TerminalProgress : IProgress<TransferProgress>
{
    private readonly ProgressContext _context;
    private readonly ConcurrentDictionary<Digest, ProgressTask> _tasks = new();

    private TerminalProgress(ProgressContext context) => _context = context;

    public static async Task<T> RunAsync<T>(Func<IProgress<TransferProgress>?, Task<T>> work) =>
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
            .StartAsync(context => work(new TerminalProgress(context)))
            .ConfigureAwait(false);

    public void Report(TransferProgress value)
    {
        var task = _tasks.GetOrAdd(value.Digest, d => _context.AddTask(d.Encoded[..12], maxValue: Math.Max(1, value.Total ?? 1)));
        if (value.Total is { } total && task.MaxValue != total)
        {
            task.MaxValue = Math.Max(1, total);
        }

        task.Value = value.Transferred;
    }
}

/// <summary>Sizes as Docker prints them (decimal units).</summary>
internal static class Sizes
{
    public static string Human(long bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1000 && unit < units.Length - 1)
        {
            value /= 1000;
            unit++;
        }

        return unit == 0 ? $"{bytes}B" : value.ToString(value < 10 ? "0.##" : value < 100 ? "0.#" : "0", System.Globalization.CultureInfo.InvariantCulture) + units[unit];
    }
}
