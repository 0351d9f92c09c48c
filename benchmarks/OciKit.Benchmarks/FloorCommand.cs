using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using OciKit.Layers;
using OciKit.Publish;

namespace OciKit.Benchmarks;

/// <summary>
/// <c>floor PUBLISH-DIRECTORY</c>: the deflate floor of a self-contained publish's Runtime layer (issue 20): the CPU
/// seconds zlib-ng needs to compress that layer's tar once, on one thread, at the level OciKit's layer writer uses,
/// divided by the cores. No containerizing of the directory can take less wall time than that with this compressor.
/// </summary>
/// <remarks>
/// The layer is the one <c>OciKitContainerize</c> writes: the files are classified by <see cref="PublishLayers"/> as the
/// task classifies them, the runtime pack's files known from the application's <c>*.deps.json</c> (the
/// <c>runtimepack.Microsoft.*.App.Runtime.*</c> library lists them, as the task's items carry the pack's package id), and
/// the tar is <see cref="LayerWriter"/>'s with the options of <see cref="Containerizer"/> (epoch mtimes, working
/// directory <c>/app</c>). The tar is built in memory first, so only the compression is timed: the process's CPU time
/// (user + system) around one <see cref="GZipStream"/> over the whole tar, median of three. For comparison it also
/// times the layer writer's own block format (<see cref="ParallelGzipStream"/>) with one worker.
/// </remarks>
public static class FloorCommand
{
    private const int Repetitions = 3;

    /// <summary>Runs the command.</summary>
    /// <param name="args">PUBLISH-DIRECTORY [--working-directory PATH] [--level fastest|default|smallest].</param>
    /// <returns>The exit code: 0 on success, 2 on a usage error.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var workingDirectory = "/app";
        var options = new LayerOptions { Timestamp = DateTimeOffset.UnixEpoch, Compression = LayerCompression.None };
        var positional = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--working-directory" when i + 1 < args.Length:
                    workingDirectory = args[++i];
                    break;
                case "--level" when i + 1 < args.Length:
                    options = options with { CompressionLevel = Enum.Parse<LayerCompressionLevel>(args[++i], ignoreCase: true) };
                    break;
                default:
                    positional.Add(args[i]);
                    break;
            }
        }

        if (positional.Count != 1 || !Directory.Exists(positional[0]))
        {
            await Console.Error.WriteLineAsync("usage: OciKit.Benchmarks floor PUBLISH-DIRECTORY [--working-directory PATH] [--level fastest|default|smallest]").ConfigureAwait(false);
            return 2;
        }

        var directory = positional[0];
        var origins = RuntimePackFiles(directory).Select(file => new PublishedFileOrigin(file.Path, file.Package)).ToList();
        var runtime = PublishLayers.Split(PublishLayers.Collect(directory, origins)).FirstOrDefault(layer => layer.Kind == PublishLayerKind.Runtime);
        if (runtime is null)
        {
            await Console.Error.WriteLineAsync($"floor: no runtime pack files in '{directory}' (not a self-contained publish, or no *.deps.json)").ConfigureAwait(false);
            return 1;
        }

        // The uncompressed layer exactly as the task tars it (the same entries and options, no compression).
        using var tar = new MemoryStream();
        var layer = await LayerWriter.WriteAsync(runtime.ToEntries(workingDirectory), tar, options).ConfigureAwait(false);
        var bytes = tar.GetBuffer().AsMemory(0, (int)tar.Length);

        // The level the layer writer gives zlib for these options (1, 6 or 9; 6 for the task's default).
        var level = options.ZlibLevel;

        Compress(bytes.Span[..Math.Min(bytes.Length, 1024 * 1024)], level); // warm-up: JIT, zlib-ng's tables, the native heap
        long compressed = 0;
        var seconds = Median(() => compressed = Compress(bytes.Span, level));

        // For comparison, not the floor: the layer writer's own format (ParallelGzipStream: blocks of GzipBlockSize,
        // each deflated on its own and sync-flushed) with one worker, i.e. what the blocks cost over one plain stream.
        var blockSize = LayerOptions.Default.GzipBlockSize;
        long blocked = 0;
        CompressBlocks(bytes[..Math.Min(bytes.Length, 1024 * 1024)], level, blockSize);
        var blockedSeconds = Median(() => blocked = CompressBlocks(bytes, level, blockSize));

        var median = seconds[Repetitions / 2];
        var cores = Environment.ProcessorCount;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"files={runtime.Files.Length} tar_bytes={layer.UncompressedSize} gzip_bytes={compressed} level={level} cpu_s={median:F3} runs={Runs(seconds)} cores={cores} floor_s={median / cores:F3} blocks_of={blockSize} blocks_gzip_bytes={blocked} blocks_cpu_s={blockedSeconds[Repetitions / 2]:F3} blocks_runs={Runs(blockedSeconds)}"));
        return 0;
    }

    // The process's CPU seconds (user + system, every thread) of each of the repetitions of an action, sorted.
    private static List<double> Median(Action action)
    {
        var seconds = new List<double>(Repetitions);
        for (var i = 0; i < Repetitions; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = Process.GetCurrentProcess().TotalProcessorTime;
            action();
            seconds.Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds);
        }

        seconds.Sort();
        return seconds;
    }

    private static string Runs(List<double> seconds) => string.Join(',', seconds.Select(s => s.ToString("F3", CultureInfo.InvariantCulture)));

    // The layer writer's gzip (ParallelGzipStream) with one worker; returns the compressed size.
    private static long CompressBlocks(ReadOnlyMemory<byte> input, int level, int blockSize)
    {
        var counter = new CountingStream();
        using (var gzip = new ParallelGzipStream(counter, level, blockSize, maxDegreeOfParallelism: 1))
        {
            gzip.Write(input.Span);
        }

        return counter.Count;
    }

    // One gzip member over the whole input on this thread, into a stream that only counts; returns the compressed size.
    private static long Compress(ReadOnlySpan<byte> input, int level)
    {
        var counter = new CountingStream();
        using (var gzip = new GZipStream(counter, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
        {
            gzip.Write(input);
        }

        return counter.Count;
    }

    // The runtime pack's files of a self-contained publish, from its deps.json: the runtime and native assets of the
    // runtimepack.* libraries, with the pack's package id (runtimepack.Microsoft.NETCore.App.Runtime.linux-x64 names
    // the package Microsoft.NETCore.App.Runtime.linux-x64).
    internal static IEnumerable<(string Path, string Package)> RuntimePackFiles(string directory)
    {
        foreach (var depsFile in Directory.EnumerateFiles(directory, "*.deps.json"))
        {
            using var deps = JsonDocument.Parse(File.ReadAllBytes(depsFile));
            if (!deps.RootElement.TryGetProperty("targets", out var targets))
            {
                continue;
            }

            foreach (var target in targets.EnumerateObject())
            {
                foreach (var library in target.Value.EnumerateObject())
                {
                    const string Prefix = "runtimepack.";
                    if (!library.Name.StartsWith(Prefix, StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var package = library.Name[Prefix.Length..].Split('/')[0];
                    foreach (var kind in new[] { "runtime", "native" })
                    {
                        if (library.Value.TryGetProperty(kind, out var assets))
                        {
                            foreach (var asset in assets.EnumerateObject())
                            {
                                yield return (asset.Name, package);
                            }
                        }
                    }
                }
            }
        }
    }
}
