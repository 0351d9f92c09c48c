using System.Collections.Immutable;
using OciKit.Build;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;

namespace OciKit.Tests.Build;

/// <summary>A temporary context and store per test, and helpers to build and read back the result.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BuildFixture : IDisposable
{
    public BuildFixture()
    {
        Root = Directory.CreateTempSubdirectory("ocikit-build-").FullName;
        Context = Path.Combine(Root, "context");
        Store = Path.Combine(Root, "store");
        Directory.CreateDirectory(Context);
    }

    public string Root { get; }

    public string Context { get; }

    public string Store { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    /// <summary>Writes a file into the context (creating parents), optionally with a mode.</summary>
    public string Write(string relative, string content, UnixFileMode? mode = null)
    {
        var path = Path.Combine(Context, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        if (mode is { } m)
        {
            File.SetUnixFileMode(path, m);
        }

        return path;
    }

    public BuildOptions Options(string dockerfile) => new(Context) { DockerfileText = dockerfile, StorePath = Store, Tags = ["test:latest"] };

    public Task<BuildResult> BuildAsync(string dockerfile, Func<BuildOptions, BuildOptions>? change = null, IProgress<BuildProgress>? progress = null)
    {
        var options = Options(dockerfile);
        return ImageBuilder.BuildAsync(change is null ? options : change(options), progress);
    }

    /// <summary>Reads the stored image and its merged file system.</summary>
    public async Task<(Image Image, Dictionary<string, Node> Files)> ReadAsync(string name = "test:latest")
    {
        var store = await OciLayout.OpenAsync(Store);
        var image = (await store.ReadImageAsync(name)).Image;
        var files = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var layer in image.Layers)
        {
            using var blob = store.OpenBlob(layer.Digest);
            await foreach (var entry in LayerReader.ReadEntriesAsync(blob, layer.MediaType))
            {
                if (entry.Type == LayerEntryType.Whiteout)
                {
                    foreach (var key in files.Keys.Where(k => k == entry.Path || k.StartsWith(entry.Path + "/", StringComparison.Ordinal)).ToList())
                    {
                        files.Remove(key);
                    }

                    continue;
                }

                string? content = null;
                if (entry.Content is { } stream)
                {
                    using var reader = new StreamReader(stream, leaveOpen: true);
                    content = await reader.ReadToEndAsync();
                }

                files[entry.Path] = new Node(entry.Type, entry.Mode, entry.Uid, entry.Gid, content, entry.LinkTarget);
            }
        }

        return (image, files);
    }

    /// <summary>Every blob and the index, to prove a failed build wrote nothing.</summary>
    public ImmutableArray<string> StoreSnapshot()
    {
        if (!Directory.Exists(Store))
        {
            return [];
        }

        var files = Directory.EnumerateFiles(Store, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        return [.. files, File.Exists(Path.Combine(Store, "index.json")) ? File.ReadAllText(Path.Combine(Store, "index.json")) : ""];
    }

    public sealed record Node(LayerEntryType Type, UnixFileMode Mode, int Uid, int Gid, string? Content, string? LinkTarget);
}
