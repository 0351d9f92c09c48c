using System.Text;
using System.Text.RegularExpressions;
using OciKit.IntegrationTests.Harness;
using OciKit.Layers;

namespace OciKit.IntegrationTests.Layers;

/// <summary>Layers checked by the real tools: GNU tar, gzip, zstd.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LayerPeerTests : IDisposable
{
    private readonly TempDir _temp = new("ocikit-layers");

    public void Dispose() => _temp.Dispose();

    private static LayerEntry Text(string path, string content, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        return LayerEntry.File(path, bytes.Length, () => new MemoryStream(bytes, writable: false), mode);
    }

    private static List<LayerEntry> Sample() =>
    [
        Text("app/run.sh", "#!/bin/sh\n", (UnixFileMode)0x1ED) with { Uid = 1000, Gid = 1001 },
        Text("app/" + new string('n', 130), "long"),
        Text("app/ünï.txt", "u"),
        LayerEntry.Symlink("app/link", "run.sh"),
        LayerEntry.Hardlink("app/hard", "app/run.sh", (UnixFileMode)0x1ED) with { Uid = 1000, Gid = 1001 },
        LayerEntry.Whiteout("etc/gone"),
        Text("big", new string('z', 3_000_000)),
    ];

    private async Task<(LayerInfo Info, string Path)> WriteAsync(IEnumerable<LayerEntry> entries, LayerOptions options, string name)
    {
        var path = _temp.Combine(name);
        await using var file = File.Create(path);
        var info = await LayerWriter.WriteAsync(entries, file, options);
        return (info, path);
    }

    [Fact]
    public async Task Gnu_tar_lists_the_entries_with_fixed_owners_and_times()
    {
        var (_, path) = await WriteAsync(Sample(), new LayerOptions { Compression = LayerCompression.None }, "layer.tar");
        var names = (await Tool.RunCheckedAsync("tar", ["-tf", path])).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            ["app/", "app/hard", "app/link", "app/" + new string('n', 130), "app/run.sh", "app/ünï.txt", "big", "etc/", "etc/.wh.gone"],
            names);

        var verbose = (await Tool.RunCheckedAsync("tar", ["--numeric-owner", "-tvf", path], new Dictionary<string, string?> { ["TZ"] = "UTC" })).StdOut;
        var lines = verbose.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("drwxr-xr-x 0/0 ", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("hrwxr-xr-x 1000/1001 ", StringComparison.Ordinal) && l.EndsWith("app/hard link to app/run.sh", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("lrwxrwxrwx 0/0 ", StringComparison.Ordinal) && l.EndsWith("app/link -> run.sh", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("-rwxr-xr-x 1000/1001 ", StringComparison.Ordinal) && l.EndsWith("app/run.sh", StringComparison.Ordinal));
        Assert.Contains(lines, l => Regex.IsMatch(l, "^-rw-r--r-- 0/0 +3000000 1970-01-01 00:00 big$"));
        Assert.All(lines, l => Assert.Contains(" 1970-01-01 00:00 ", l, StringComparison.Ordinal));

        // Without --numeric-owner GNU tar shows names only where the layer has them: here none, so ids.
        var named = (await Tool.RunCheckedAsync("tar", ["-tvf", path])).StdOut;
        Assert.DoesNotContain("root", named, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LayerCompressionLevel.Fastest)]
    [InlineData(LayerCompressionLevel.Default)]
    [InlineData(LayerCompressionLevel.Smallest)]
    public async Task Gzip_layers_pass_gzip_t_and_decompress_to_the_diff_id(LayerCompressionLevel level)
    {
        var options = new LayerOptions { CompressionLevel = level, GzipBlockSize = LayerOptions.MinGzipBlockSize };
        var (info, path) = await WriteAsync(Sample(), options, "layer.tar.gz");
        await Tool.RunCheckedAsync("gzip", ["-t", path]);
        await Tool.RunCheckedAsync("tar", ["-tzf", path]);

        var tarPath = _temp.Combine("out.tar");
        await Tool.RunCheckedAsync("sh", ["-c", $"gzip -dc '{path}' > '{tarPath}'"]);
        await using var tar = File.OpenRead(tarPath);
        Assert.Equal(info.DiffId, await Primitives.Digest.ComputeSha256Async(tar));
        Assert.Equal(info.UncompressedSize, tar.Length);
    }

    [Fact]
    public async Task Zstd_layers_pass_zstd_t()
    {
        var (info, path) = await WriteAsync(Sample(), new LayerOptions { Compression = LayerCompression.Zstd }, "layer.tar.zst");
        await Tool.RunCheckedAsync("zstd", ["-q", "-t", path]);
        var tarPath = _temp.Combine("out.tar");
        await Tool.RunCheckedAsync("zstd", ["-q", "-d", path, "-o", tarPath]);
        await using var tar = File.OpenRead(tarPath);
        Assert.Equal(info.DiffId, await Primitives.Digest.ComputeSha256Async(tar));
    }

    [Fact]
    public async Task A_directory_layer_extracted_by_gnu_tar_reproduces_the_directory()
    {
        var source = _temp.Combine("src");
        Directory.CreateDirectory(Path.Combine(source, "bin"));
        Directory.CreateDirectory(Path.Combine(source, "data", "nested"));
        await File.WriteAllTextAsync(Path.Combine(source, "bin", "tool"), "tool");
        File.SetUnixFileMode(Path.Combine(source, "bin", "tool"), (UnixFileMode)0x1E4);
        await File.WriteAllBytesAsync(Path.Combine(source, "data", "nested", "blob"), new byte[200_000]);
        File.CreateSymbolicLink(Path.Combine(source, "current"), "bin/tool");
        await Tool.RunCheckedAsync("ln", [Path.Combine(source, "bin", "tool"), Path.Combine(source, "data", "tool-again")]);

        var entries = LayerDirectory.ReadEntries(source);
        var hard = Assert.Single(entries, e => e.Type == LayerEntryType.Hardlink);
        Assert.Equal(("data/tool-again", "bin/tool"), (hard.Path, hard.LinkTarget));

        var (_, path) = await WriteAsync(entries, LayerOptions.Default, "dir.tar.gz");
        var extracted = _temp.Combine("extracted");
        Directory.CreateDirectory(extracted);
        await Tool.RunCheckedAsync("tar", ["-xzf", path, "-C", extracted]);

        // GNU tar's own listing of both trees (type, mode, size, link) must agree entry for entry.
        var expected = await ListAsync(source);
        var actual = await ListAsync(extracted);
        Assert.Equal(expected, actual);
        var links = (await Tool.RunCheckedAsync("stat", ["-c", "%h", Path.Combine(extracted, "bin", "tool")])).StdOut.Trim();
        Assert.Equal("2", links);
    }

    [Fact]
    public async Task Same_input_gives_byte_identical_blobs_across_runs()
    {
        var (a, first) = await WriteAsync(Sample(), new LayerOptions { MaxDegreeOfParallelism = 4 }, "a.tar.gz");
        var (b, second) = await WriteAsync(Sample(), new LayerOptions { MaxDegreeOfParallelism = 1 }, "b.tar.gz");
        Assert.Equal(a, b);
        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));
        await Tool.RunCheckedAsync("cmp", [first, second]);
    }

    private static async Task<string> ListAsync(string root)
    {
        var result = await Tool.RunCheckedAsync("sh", ["-c", $"cd '{root}' && find . -mindepth 1 -printf '%P %y %m %s %l\\n' | LC_ALL=C sort"]);
        return result.StdOut;
    }
}
