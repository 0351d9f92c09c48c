using System.Diagnostics;
using System.Globalization;
using OciKit.Execution;
using OciKit.Layout;

namespace OciKit.Benchmarks;

/// <summary>
/// <c>rootfs LAYOUT TAG WORK</c>: prepares a writable root file system of an image of an OCI layout as RUN does
/// (<see cref="ContainerRootfs.PrepareAsync"/>, mode <see cref="RootfsMode.Auto"/>) twice, with a layer cache that is
/// empty the first time and filled the second, and prints both times. <c>benchmarks/compare.sh</c> uses it to say how
/// much of a cold RUN build is the extraction of the base alone.
/// </summary>
public static class RootfsCommand
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">LAYOUT TAG WORK (WORK: an empty or missing folder; deleted afterwards).</param>
    /// <returns>The exit code: 0 on success, 2 on a usage error.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length != 3)
        {
            await Console.Error.WriteLineAsync("usage: OciKit.Benchmarks rootfs LAYOUT TAG WORK").ConfigureAwait(false);
            return 2;
        }

        var layout = await OciLayout.OpenAsync(args[0]).ConfigureAwait(false);
        var image = (await layout.ReadImageAsync(args[1]).ConfigureAwait(false)).Image;
        var work = Directory.CreateDirectory(args[2]).FullName;
        try
        {
            var cache = Path.Combine(work, "cache");
            Directory.CreateDirectory(cache);
            var times = new List<string>();
            RootfsMode mode = RootfsMode.Auto;
            foreach (var state in new[] { "cold", "warm" })
            {
                var directory = Directory.CreateDirectory(Path.Combine(work, state)).FullName;
                var clock = Stopwatch.StartNew();
                var rootfs = await ContainerRootfs.PrepareAsync(
                    image.Layers, (layer, _) => Task.FromResult(layout.OpenBlob(layer.Digest)),
                    new RootfsOptions { WorkDirectory = directory, LayerCacheDirectory = cache }).ConfigureAwait(false);
                await using (rootfs.ConfigureAwait(false))
                {
                    times.Add(string.Create(CultureInfo.InvariantCulture, $"{state}={clock.Elapsed.TotalSeconds:0.000}"));
                    mode = rootfs.Mode;
                }
            }

            Console.WriteLine($"mode={mode} layers={image.Layers.Length} {string.Join(' ', times)}");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }

        return 0;
    }
}
