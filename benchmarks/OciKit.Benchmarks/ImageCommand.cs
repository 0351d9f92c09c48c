using System.Globalization;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Benchmarks;

/// <summary>
/// <c>image LAYOUT TAG DIRECTORY...</c>: writes an image of one default gzip layer per directory (on top of scratch,
/// for the current platform) into an OCI layout, tagged <c>TAG</c>. <c>benchmarks/compare.sh</c> uses it to make the
/// multi-layer image that <c>ocikit copy</c> and <c>skopeo copy</c> push, and the busybox base of the MSBuild comparison.
/// </summary>
public static class ImageCommand
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">LAYOUT TAG DIRECTORY... [--entrypoint PATH].</param>
    /// <returns>The exit code: 0 on success, 2 on a usage error.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string? entrypoint = null;
        var positional = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--entrypoint" && i + 1 < args.Length)
            {
                entrypoint = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }

        if (positional.Count < 3)
        {
            await Console.Error.WriteLineAsync("usage: OciKit.Benchmarks image LAYOUT TAG DIRECTORY... [--entrypoint PATH]").ConfigureAwait(false);
            return 2;
        }

        var layout = await OciLayout.OpenAsync(positional[0]).ConfigureAwait(false);
        var image = Image.Scratch(Platform.Current).WithCreated(DateTimeOffset.UnixEpoch);
        if (entrypoint is not null)
        {
            image = image.WithEntrypoint([entrypoint]);
        }

        foreach (var directory in positional.Skip(2))
        {
            var temp = Path.Combine(positional[0], $"layer-{Guid.NewGuid():N}.partial");
            try
            {
                LayerInfo layer;
                var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
                await using (file.ConfigureAwait(false))
                {
                    layer = await LayerWriter.WriteDirectoryAsync(directory, file).ConfigureAwait(false);
                }

                await layout.WriteBlobFromFileAsync(temp, layer.Descriptor).ConfigureAwait(false);
                image = image.AppendLayer(layer.Descriptor, layer.DiffId, new HistoryEntry { Created = DateTimeOffset.UnixEpoch, CreatedBy = "ocikit benchmarks: " + Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)) });
            }
            finally
            {
                File.Delete(temp);
            }
        }

        var manifest = await layout.WriteImageAsync(image.Build(), positional[1]).ConfigureAwait(false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"manifest={manifest.Digest} layers={image.Layers.Length} bytes={image.Layers.Sum(l => l.Size)}"));
        return 0;
    }
}
