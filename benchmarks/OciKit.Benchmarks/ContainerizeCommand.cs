using System.Diagnostics;
using System.Globalization;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Benchmarks;

/// <summary>
/// <c>containerize PUBLISH-DIRECTORY BASE REGISTRY REPOSITORY STORE</c>: what <c>OciKitContainerize</c> does with a
/// publish output, without MSBuild: <see cref="Containerizer"/> pushes the directory's image onto BASE into
/// REGISTRY/REPOSITORY:1, with a store at STORE (an image only pushed, as the task makes it). Prints each progress line
/// with the time since the start and, at the end, the wall time, the process's CPU seconds and the CPU seconds per
/// thread name: where a cold self-contained publish spends its time beyond its deflate floor (<see cref="FloorCommand"/>).
/// </summary>
/// <remarks>
/// JIT-compiled, unlike the task's NativeAOT host: the JIT's own work shows as its own threads' CPU and in the first
/// steps' times; the compression, hashing and I/O cost the same.
/// </remarks>
public static class ContainerizeCommand
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">PUBLISH-DIRECTORY BASE REGISTRY REPOSITORY STORE.</param>
    /// <returns>The exit code: 0 on success, 2 on a usage error.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length != 5 || !Directory.Exists(args[0]))
        {
            await Console.Error.WriteLineAsync("usage: OciKit.Benchmarks containerize PUBLISH-DIRECTORY BASE REGISTRY REPOSITORY STORE").ConfigureAwait(false);
            return 2;
        }

        var (directory, baseImage, registry, repository, storePath) = (args[0], args[1], args[2], args[3], args[4]);
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var lines = new List<string>();
        void Mark(string step)
        {
            lock (lines)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalMilliseconds,6:F0} ms: {step}"));
            }
        }

        var origins = FloorCommand.RuntimePackFiles(directory).Select(file => new PublishedFileOrigin(file.Path, file.Package));
        var files = PublishLayers.Collect(directory, origins);
        var app = Path.GetFileNameWithoutExtension(Directory.EnumerateFiles(directory, "*.runtimeconfig.json").First());
        app = Path.GetFileNameWithoutExtension(app);
        var store = await OciLayout.OpenAsync(storePath).ConfigureAwait(false);
        using var client = new RegistryClient(new RegistryClientOptions { UserAgent = "ocikit-benchmarks" });
        var request = new ContainerizeRequest
        {
            Files = files,
            BaseImage = ImageReference.Parse(baseImage),
            Repository = repository,
            Tags = ["1"],
            Registry = registry,
            Platform = Platform.Parse("linux/amd64"),
            Entrypoint = new ContainerEntrypoint(ContainerEntrypoint.DefaultAppCommand("/app", app, File.Exists(Path.Combine(directory, app)))),
        };
        Mark("request made");
        var result = await new Containerizer(store, client).ContainerizeAsync(request, new Reporter(Mark)).ConfigureAwait(false);
        Mark("done");
        var wall = clock.Elapsed.TotalSeconds;
        var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        foreach (var line in lines)
        {
            Console.WriteLine(line);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"manifest={result.Manifest.Digest} uploaded={result.BlobsUploaded} wall_s={wall:F3} cpu_s={used:F3}"));
        LayerCommand.PrintThreadCpu();
        return 0;
    }

    /// <summary>Reports on the reporting thread, at once (Progress&lt;T&gt; would post to the thread pool, late).</summary>
    private sealed class Reporter(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
