using System.Text;
using OciKit.Layers;
using OciKit.Primitives;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Layers;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LayerDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("ocikit-layers-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string MakeTree(string name)
    {
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(Path.Combine(dir, "app", "sub"));
        Directory.CreateDirectory(Path.Combine(dir, "empty"));
        File.WriteAllText(Path.Combine(dir, "app", "main.dll"), "main");
        File.WriteAllText(Path.Combine(dir, "app", "sub", "data.json"), "{}");
        File.WriteAllText(Path.Combine(dir, "run.sh"), "#!/bin/sh");
        File.SetUnixFileMode(Path.Combine(dir, "run.sh"), (UnixFileMode)0x1ED);
        File.SetUnixFileMode(Path.Combine(dir, "empty"), (UnixFileMode)0x1C0);
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "app/main.dll");
        File.CreateSymbolicLink(Path.Combine(dir, "dangling"), "/nowhere");
        return dir;
    }

    [Fact]
    public async Task A_directory_layer_matches_the_directory_entry_for_entry()
    {
        var dir = MakeTree("tree");
        var (info, blob) = await BuildAsync(LayerDirectory.ReadEntries(dir), new LayerOptions { Compression = LayerCompression.Zstd });
        var read = await ReadAsync(blob, info.Descriptor.MediaType);

        var expected = Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(dir, p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(expected, read.Select(r => r.Entry.Path));
        foreach (var (entry, content) in read)
        {
            var full = Path.Combine(dir, entry.Path);
            FileSystemInfo fsInfo = (Directory.Exists(full) && new DirectoryInfo(full).LinkTarget is null ? new DirectoryInfo(full) : new FileInfo(full));
            Assert.Equal(0, entry.Uid);
            Assert.Equal(0, entry.Gid);
            Assert.Null(entry.UserName);
            Assert.Equal(DateTimeOffset.UnixEpoch, entry.ModificationTime);
            switch (entry.Type)
            {
                case LayerEntryType.Symlink:
                    Assert.Equal(fsInfo.LinkTarget, entry.LinkTarget);
                    break;
                case LayerEntryType.Directory:
                    Assert.Equal(fsInfo.UnixFileMode, entry.Mode);
                    break;
                default:
                    Assert.Equal(LayerEntryType.File, entry.Type);
                    Assert.Equal(fsInfo.UnixFileMode, entry.Mode);
                    Assert.Equal(File.ReadAllBytes(full), content);
                    Assert.Equal(content.Length, entry.Size);
                    break;
            }
        }
    }

    [Fact]
    public async Task Directory_layers_are_deterministic_and_owned_as_asked()
    {
        var dir = MakeTree("tree");
        using var first = new MemoryStream();
        using var second = new MemoryStream();
        var a = await LayerWriter.WriteDirectoryAsync(dir, first);
        var b = await LayerWriter.WriteDirectoryAsync(dir, second, new LayerOptions { MaxDegreeOfParallelism = 1 });
        Assert.Equal(a, b);
        Assert.Equal(first.ToArray(), second.ToArray());

        var owned = LayerDirectory.ReadEntries(dir, new LayerOptions { Uid = 1000, Gid = 100 });
        Assert.All(owned, e => Assert.Equal((1000, 100), (e.Uid, e.Gid)));
    }

    [Fact]
    public async Task A_diff_holds_additions_changes_and_whiteouts()
    {
        var lower = MakeTree("lower");
        var upper = MakeTree("upper");
        File.WriteAllText(Path.Combine(upper, "app", "main.dll"), "main v2");       // changed content
        File.SetUnixFileMode(Path.Combine(upper, "run.sh"), (UnixFileMode)0x1A4);   // changed mode only
        File.WriteAllText(Path.Combine(upper, "app", "sub", "new.txt"), "new");     // added
        File.Delete(Path.Combine(upper, "app", "sub", "data.json"));               // deleted file
        Directory.Delete(Path.Combine(upper, "empty"));                             // deleted directory
        Directory.CreateDirectory(Path.Combine(upper, "fresh", "deep"));           // added tree

        using var blob = new MemoryStream();
        var info = await LayerWriter.WriteDiffAsync(lower, upper, blob, new LayerOptions { Compression = LayerCompression.None });
        var read = await ReadAsync(blob.ToArray(), info.Descriptor.MediaType);
        var summary = read.Select(r => $"{r.Entry.Type}:{r.Entry.Path}").ToList();
        Assert.Equal(
            [
                "Whiteout:empty", "Directory:app", "File:app/main.dll", "Directory:app/sub", "Whiteout:app/sub/data.json",
                "File:app/sub/new.txt", "Directory:fresh", "Directory:fresh/deep", "File:run.sh",
            ],
            summary);
        Assert.Equal("main v2", Encoding.UTF8.GetString(read[2].Content));
    }

    [Fact]
    public async Task Identical_trees_give_an_empty_diff()
    {
        var entries = await LayerDirectory.DiffAsync(MakeTree("one"), MakeTree("two"));
        Assert.Empty(entries);
    }

    [Fact]
    public void A_missing_directory_is_reported()
    {
        Assert.Throws<DirectoryNotFoundException>(() => LayerDirectory.ReadEntries(Path.Combine(_root, "missing")));
    }

    [Fact]
    public async Task Files_from_disk_are_read_once_when_written()
    {
        var file = Path.Combine(_root, "f.bin");
        await File.WriteAllBytesAsync(file, new byte[300_000]);
        var (info, _) = await BuildAsync([LayerEntry.FileFromDisk("opt/f.bin", file)], new LayerOptions { Compression = LayerCompression.None });
        Assert.Equal(MediaTypes.OciLayer, info.Descriptor.MediaType);
        Assert.True(info.UncompressedSize > 300_000);
    }
}
