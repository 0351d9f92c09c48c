using System.Formats.Tar;
using OciKit.Build.Sources;
using OciKit.Layers;
using static OciKit.Tests.Build.Sources.ArchiveTestData;

namespace OciKit.Tests.Build.Sources;

public sealed class ArchiveExtractorTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ocikit-add-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_dir.FullName, name);
        System.IO.File.WriteAllBytes(path, content);
        return path;
    }

    private Task<IReadOnlyList<LayerEntry>> ExtractAsync(byte[] archive, string destination = "/dest")
        => ArchiveExtractor.ExtractAsync(Write("a-" + Guid.NewGuid().ToString("N"), archive), destination, Directory.CreateDirectory(Path.Combine(_dir.FullName, "scratch")).FullName);

    [Theory]
    [InlineData("none")]
    [InlineData("gzip")]
    [InlineData("bzip2")]
    [InlineData("zstd")]
    public async Task Every_compression_is_recognised_by_magic_bytes_and_extracted(string compression)
    {
        // The name says nothing: Docker decides by content, not extension.
        var path = Write("archive.txt", Compress(Tar(File("a/b.txt", "hi", mode: 0x1E4, uid: 5, gid: 6)), compression));

        Assert.True(await ArchiveExtractor.IsArchiveAsync(path));
        var entries = ByPath(await ArchiveExtractor.ExtractAsync(path, "/srv", _dir.FullName));
        Assert.Equal(["srv/a", "srv/a/b.txt"], entries.Keys.Order(StringComparer.Ordinal));
        var file = entries["srv/a/b.txt"];
        Assert.Equal((UnixFileMode)0x1E4, file.Mode);
        Assert.Equal((5, 6), (file.Uid, file.Gid));
        Assert.Equal("hi", Content(file));
    }

    [Fact]
    public async Task Xz_archives_are_extracted()
    {
        var path = Write("x.bin", Convert.FromBase64String(XzArchiveBase64));

        Assert.True(await ArchiveExtractor.IsArchiveAsync(path));
        var entries = ByPath(await ArchiveExtractor.ExtractAsync(path, "/", _dir.FullName));
        var file = entries["d/f.txt"];
        Assert.Equal("hello xz\n", Content(file));
        Assert.Equal((UnixFileMode)0x1A0, file.Mode);
        Assert.Equal((7, 8), (file.Uid, file.Gid));
        Assert.Equal(LayerEntryType.Directory, entries["d"].Type);
    }

    [Fact]
    public async Task Files_that_are_not_tar_archives_are_not_extracted()
    {
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("text.tar.gz", "just some text, long enough to fill a tar block? no."u8.ToArray())));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("empty.tar", [])));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("gzipped-text.gz", Compress(new byte[2048], "gzip"))));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("garbage.tar", Enumerable.Range(0, 2048).Select(i => (byte)(i * 7)).ToArray())));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("broken.gz", [0x1F, 0x8B, 0x08, 0, 1, 2, 3])));

        // An archive of nothing (only end-of-archive blocks) is copied as is, as Docker does.
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("nothing.tar", Tar())));
    }

    [Fact]
    public async Task A_corrupted_header_checksum_is_not_a_tar_archive()
    {
        var tar = Tar(File("a", "x"));
        Assert.True(await ArchiveExtractor.IsArchiveAsync(Write("good.tar", tar)));
        tar[0] ^= 0x01;
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Write("bad.tar", tar)));
    }

    [Fact]
    public async Task Symlinks_and_directories_are_not_archives()
    {
        var target = Write("real.tar", Tar(File("a", "x")));
        var link = Path.Combine(_dir.FullName, "link.tar");
        System.IO.File.CreateSymbolicLink(link, target);

        Assert.False(await ArchiveExtractor.IsArchiveAsync(link));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(_dir.FullName));
        Assert.False(await ArchiveExtractor.IsArchiveAsync(Path.Combine(_dir.FullName, "missing")));
    }

    [Fact]
    public async Task Symlinks_hardlinks_and_implicit_parents_are_kept()
    {
        var entries = await ExtractAsync(Tar(
            File("x/y/file", "data", mode: 0x1C0, uid: 1000, gid: 1000),
            Symlink("x/rel", "y/file"),
            Symlink("x/abs", "/etc/passwd"),
            Hardlink("x/hard", "x/y/file", mode: 0x1C0, uid: 1000, gid: 1000)));
        var byPath = ByPath(entries);

        Assert.Equal(["dest/x", "dest/x/abs", "dest/x/hard", "dest/x/rel", "dest/x/y", "dest/x/y/file"], entries.Select(e => e.Path));
        Assert.Equal((UnixFileMode)0x1ED, byPath["dest/x"].Mode);
        Assert.Equal((0, 0), (byPath["dest/x/y"].Uid, byPath["dest/x/y"].Gid));
        Assert.Equal("y/file", byPath["dest/x/rel"].LinkTarget);
        Assert.Equal("/etc/passwd", byPath["dest/x/abs"].LinkTarget);

        // The first path in ordinal order carries the content; the other links to it.
        Assert.Equal(LayerEntryType.Hardlink, byPath["dest/x/y/file"].Type);
        Assert.Equal("dest/x/hard", byPath["dest/x/y/file"].LinkTarget);
        Assert.Equal("data", Content(byPath["dest/x/hard"]));
        Assert.Equal(1000, byPath["dest/x/hard"].Uid);
    }

    [Fact]
    public async Task A_hard_link_header_changes_the_shared_inode_as_Docker_chown_and_chmod_do()
    {
        var entries = ByPath(await ExtractAsync(Tar(File("f", "data", mode: 0x1ED, uid: 5, gid: 5), Hardlink("g", "f", mode: 0x180, uid: 9, gid: 9))));

        Assert.Equal(((UnixFileMode)0x180, 9, 9), (entries["dest/f"].Mode, entries["dest/f"].Uid, entries["dest/f"].Gid));
        Assert.Equal(LayerEntryType.Hardlink, entries["dest/g"].Type);
    }

    [Fact]
    public async Task Absolute_names_are_neutralised_under_the_destination()
    {
        var entries = ByPath(await ExtractAsync(Tar(File("/etc/passwd", "evil"), File("/../../x", "y"), Hardlink("h", "/etc/passwd"))));

        Assert.Equal(["dest/etc", "dest/etc/passwd", "dest/h", "dest/x"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("evil", Content(entries["dest/etc/passwd"]));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("./..")]
    public async Task Names_climbing_out_of_the_destination_are_refused(string name)
    {
        var ex = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(File(name, "x"))));
        Assert.Equal(name, ex.EntryName);
        Assert.Contains("..", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("link", "..")]
    [InlineData("a/link", "../../etc")]
    [InlineData("a/b/link", "../x/../../../y")]
    public async Task Symlinks_pointing_out_of_the_destination_are_refused(string name, string target)
    {
        var ex = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Symlink(name, target))));
        Assert.Equal(name, ex.EntryName);
        Assert.Contains(target, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hard_links_pointing_out_or_to_nothing_are_refused()
    {
        var outside = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Hardlink("h", "../../etc/shadow"))));
        Assert.Equal("h", outside.EntryName);
        var missing = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Hardlink("h", "nothing"))));
        Assert.Contains("nothing", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Dir("d/"), Hardlink("h", "d"))));
    }

    [Fact]
    public async Task Writing_through_a_symlink_stays_inside_the_destination_as_in_a_chroot()
    {
        // "esc -> /" then "esc/etc/passwd": in Docker's chroot the link resolves to the destination's root.
        var entries = ByPath(await ExtractAsync(Tar(Symlink("esc", "/"), File("esc/etc/passwd", "x"), Symlink("up", "sub/.."), Dir("sub/"), File("up/z", "z"))));

        Assert.Equal(["dest/esc", "dest/etc", "dest/etc/passwd", "dest/sub", "dest/up", "dest/z"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(LayerEntryType.Symlink, entries["dest/esc"].Type);
    }

    [Fact]
    public async Task Dangling_symlink_parents_and_loops_are_refused()
    {
        var dangling = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Symlink("l", "missing"), File("l/f", "x"))));
        Assert.Equal("l/f", dangling.EntryName);
        await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(Symlink("a", "b"), Symlink("b", "a"), File("a/f", "x"))));
        await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(File("f", "x"), File("f/g", "y"))));
    }

    [Fact]
    public async Task Later_entries_replace_earlier_ones_and_directories_merge()
    {
        var entries = ByPath(await ExtractAsync(Tar(
            File("d/old", "1"),
            Dir("d/", mode: 0x1C0, uid: 3, gid: 4),
            File("f", "first"),
            File("f", "second"),
            File("g/inner", "x"),
            File("g", "now a file"),
            Dir("./", mode: 0x1FF))));

        Assert.Equal(["dest/d", "dest/d/old", "dest/f", "dest/g"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(((UnixFileMode)0x1C0, 3, 4), (entries["dest/d"].Mode, entries["dest/d"].Uid, entries["dest/d"].Gid));
        Assert.Equal("second", Content(entries["dest/f"]));
        Assert.Equal("now a file", Content(entries["dest/g"]));
    }

    [Fact]
    public async Task Whiteout_names_devices_and_corrupt_streams_are_refused()
    {
        var whiteout = await Assert.ThrowsAsync<ArchiveEntryException>(() => ExtractAsync(Tar(File("a/.wh.b", ""))));
        Assert.Equal("a/.wh.b", whiteout.EntryName);
        await Assert.ThrowsAsync<NotSupportedException>(() => ExtractAsync(Tar(new PaxTarEntry(TarEntryType.Fifo, "pipe"))));

        var truncated = Compress(Tar(File("big", new string('x', 100_000))), "gzip")[..200];
        await Assert.ThrowsAsync<OciFormatException>(() => ExtractAsync(truncated));
    }

    [Fact]
    public async Task A_relative_destination_is_a_misuse()
        => await Assert.ThrowsAsync<ArgumentException>(() => ExtractAsync(Tar(File("a", "b")), "relative/dir"));

    [Theory]
    [InlineData("none")]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task Content_that_is_not_a_file_on_disk_is_recognised_and_extracted_from_streams(string compression)
    {
        // A source from another stage or image is opened by a callback, with non-seekable streams.
        var bytes = Compress(Tar(File("s/f", "stream")), compression);
        var opened = 0;
        Stream Open()
        {
            opened++;
            return new NonSeekable(bytes);
        }

        Assert.True(await ArchiveExtractor.IsArchiveAsync(Open));
        var entries = ByPath(await ArchiveExtractor.ExtractAsync(Open, "from-stage.tar", "/x", _dir.FullName));
        Assert.Equal("stream", Content(entries["x/s/f"]));
        Assert.Equal(4, opened);
        Assert.False(await ArchiveExtractor.IsArchiveAsync(() => new NonSeekable("not a tar"u8.ToArray())));
    }

    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;

        public override long Position { get => base.Position; set => throw new NotSupportedException(); }

        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }
}
