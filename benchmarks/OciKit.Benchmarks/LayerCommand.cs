using System.Diagnostics;
using System.Globalization;
using OciKit.Layers;

namespace OciKit.Benchmarks;

/// <summary>
/// <c>layer DIRECTORY OUTPUT</c>: builds one layer blob from a directory with <see cref="LayerWriter"/> into a file and
/// prints its digest, diffID and sizes, so <c>benchmarks/compare.sh</c> can time the whole process (startup included)
/// against <c>tar | gzip</c> and <c>tar | pigz</c> and read its peak memory.
/// </summary>
public static class LayerCommand
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">DIRECTORY OUTPUT [--compression gzip|zstd|none] [--level fastest|default|smallest].</param>
    /// <returns>The exit code: 0 on success, 2 on a usage error.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = LayerOptions.Default;
        var threads = false;
        var positional = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--compression" when i + 1 < args.Length:
                    options = options with { Compression = Enum.Parse<LayerCompression>(args[++i], ignoreCase: true) };
                    break;
                case "--level" when i + 1 < args.Length:
                    options = options with { CompressionLevel = Enum.Parse<LayerCompressionLevel>(args[++i], ignoreCase: true) };
                    break;
                case "--threads":
                    threads = true;
                    break;
                default:
                    positional.Add(args[i]);
                    break;
            }
        }

        if (positional.Count != 2)
        {
            await Console.Error.WriteLineAsync("usage: OciKit.Benchmarks layer DIRECTORY OUTPUT [--compression gzip|zstd|none] [--level fastest|default|smallest]").ConfigureAwait(false);
            return 2;
        }

        var (directory, output) = (positional[0], positional[1]);
        var temp = output + ".partial";
        var stopwatch = Stopwatch.StartNew();
        LayerInfo layer;
        var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        await using (file.ConfigureAwait(false))
        {
            layer = await LayerWriter.WriteDirectoryAsync(directory, file, options).ConfigureAwait(false);
        }

        File.Move(temp, output, overwrite: true);
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"digest={layer.Descriptor.Digest} size={layer.Descriptor.Size} diffid={layer.DiffId} uncompressed={layer.UncompressedSize} seconds={stopwatch.Elapsed.TotalSeconds:F3}"));
        if (threads)
        {
            PrintThreadCpu();
        }

        return 0;
    }

    // CPU seconds per thread name from /proc/self/task (Linux): where the CPU went, whatever else the machine runs.
    internal static void PrintThreadCpu()
    {
        var byName = new SortedDictionary<string, (int Count, double Seconds)>(StringComparer.Ordinal);
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var seconds = CpuSeconds(Path.Combine(task, "stat"));
                var (count, total) = byName.GetValueOrDefault(name);
                byName[name] = (count + 1, total + seconds);
            }
            catch (IOException)
            {
                // The thread ended while it was read.
            }
        }

        byName["(ended threads: gzip workers, retired pool threads)"] = (0, CpuSeconds("/proc/self/stat") - byName.Values.Sum(v => v.Seconds));
        foreach (var (name, (count, seconds)) in byName)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"thread {name} x{count}: {seconds:F2} CPU-s"));
        }
    }

    // utime + stime (fields 14 and 15 of a proc stat file, in clock ticks of 1/100 s on Linux).
    private static double CpuSeconds(string statFile)
    {
        var stat = File.ReadAllText(statFile);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}
