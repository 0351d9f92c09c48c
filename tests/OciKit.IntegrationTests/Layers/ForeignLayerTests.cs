using OciKit.Build;
using OciKit.IntegrationTests.Harness;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Layers;

/// <summary>
/// Layers written by GNU tar the ordinary ways (from <c>.</c>, from a list of files without directories, in every
/// header format, compressed by the real gzip and zstd) are read by OciKit as the files tar was given.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ForeignLayerTests : IDisposable
{
    private static readonly string LongDirectory = string.Join('/', Enumerable.Range(0, 6).Select(i => $"a-rather-long-directory-name-{i}"));

    private readonly TempDir _temp = new("ocikit-foreign-layers");

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var format in new[] { "gnu", "posix", "ustar" })
        {
            data.Add(format, "dot", "none");
            data.Add(format, "files", "none");
        }

        data.Add("gnu", "dot", "gzip");
        data.Add("posix", "files", "zstd");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_layer_tar_wrote_reads_back_as_the_tree_tar_was_given(string format, string how, string compression)
    {
        var root = await MakeRootAsync();
        var layer = _temp.Combine($"layer-{format}-{how}.tar");
        var arguments = new List<string> { $"--format={format}", "-C", root, "-cf", layer };
        if (compression != "none")
        {
            arguments.Add("--" + compression);
        }

        if (how == "dot")
        {
            arguments.Add(".");
        }
        else
        {
            // Only the files and links, no directory entries, names without "./": as `tar -cf l.tar bin/busybox etc/passwd`.
            arguments.Add("--no-recursion");
            arguments.AddRange(["bin/tool", "bin/tool-hard", "bin/sh", LongDirectory + "/deep.txt", "etc/passwd"]);
        }

        await Tool.RunCheckedAsync("tar", arguments);
        var listing = (await Tool.RunCheckedAsync("tar", ["-tf", layer])).StdOut;
        if (how == "dot")
        {
            Assert.StartsWith("./\n", listing, StringComparison.Ordinal);
        }
        else
        {
            Assert.DoesNotContain("/\n", listing, StringComparison.Ordinal);
        }

        var bytes = await File.ReadAllBytesAsync(layer);
        var mediaType = compression switch { "gzip" => MediaTypes.OciLayerGzip, "zstd" => MediaTypes.OciLayerZstd, _ => MediaTypes.OciLayer };
        var descriptor = new Descriptor(mediaType, Digest.ComputeSha256(bytes), bytes.Length);
        var fs = await ImageFs.LoadAsync([descriptor], _ => new MemoryStream(bytes, writable: false), CancellationToken.None);

        Assert.Equal((UnixFileMode)0x1ED, fs.RootNode.Mode);
        Assert.Equal(LayerEntryType.Symlink, fs.GetExact("bin/sh")!.Type);
        Assert.Equal("tool", fs.GetExact("bin/sh")!.LinkTarget);
        var tool = fs.GetExact("bin/tool")!;
        Assert.Equal((UnixFileMode)0x1ED, tool.Mode);
        Assert.NotNull(tool.HardLinkKey);
        Assert.Equal(tool.HardLinkKey, fs.GetExact("bin/tool-hard")!.HardLinkKey);
        Assert.True(fs.GetExact(LongDirectory)!.IsDirectory);

        var scratch = Directory.CreateDirectory(_temp.Combine("scratch-" + Guid.NewGuid().ToString("N"))).FullName;
        string[] files = ["bin/tool", "bin/tool-hard", LongDirectory + "/deep.txt", "etc/passwd"];
        await fs.MaterializeAsync(files, _ => new MemoryStream(bytes, writable: false), scratch, CancellationToken.None);
        foreach (var file in files)
        {
            using var stream = fs.GetExact(file)!.Open!();
            using var reader = new StreamReader(stream);
            Assert.Equal(await File.ReadAllTextAsync(Path.Combine(root, file)), await reader.ReadToEndAsync());
        }
    }

    private async Task<string> MakeRootAsync()
    {
        var root = _temp.Combine("root-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, LongDirectory));

        // A root directory as `mktemp -d` makes it: 0700. An image's "/" must not become that.
        File.SetUnixFileMode(root, (UnixFileMode)0x1C0);
        File.WriteAllText(Path.Combine(root, "bin/tool"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(root, "bin/tool"), (UnixFileMode)0x1ED);
        await Tool.RunCheckedAsync("ln", [Path.Combine(root, "bin/tool"), Path.Combine(root, "bin/tool-hard")]);
        File.CreateSymbolicLink(Path.Combine(root, "bin/sh"), "tool");
        File.WriteAllText(Path.Combine(root, LongDirectory, "deep.txt"), "deep");
        File.WriteAllText(Path.Combine(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        return root;
    }
}
