using System.Formats.Tar;
using System.Text;
using OciKit.Layers;
using OciKit.Primitives;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Layers;

public class LayerReaderTests
{
    [Theory]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    [InlineData(LayerCompression.None)]
    public async Task Reads_back_what_was_written_including_whiteouts(LayerCompression compression)
    {
        var xattr = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal) { ["user.k"] = "v"u8.ToArray() };
        LayerEntry[] entries =
        [
            TextFile("a/file", "content") with { ExtendedAttributes = xattr },
            LayerEntry.Whiteout("a/gone"),
            LayerEntry.OpaqueDirectory("b"),
            LayerEntry.Symlink("c", "/a/file"),
        ];
        var (info, blob) = await BuildAsync(entries, new LayerOptions { Compression = compression });
        var read = await ReadAsync(blob, info.Descriptor.MediaType);

        Assert.Equal(
            ["a", "a/gone", "a/file", "b", "b", "c"],
            read.Select(r => r.Entry.Path));
        Assert.Equal(
            [LayerEntryType.Directory, LayerEntryType.Whiteout, LayerEntryType.File, LayerEntryType.Directory, LayerEntryType.OpaqueWhiteout, LayerEntryType.Symlink],
            read.Select(r => r.Entry.Type));
        Assert.Equal("content", Encoding.UTF8.GetString(read[2].Content));
        Assert.Equal("v", read[2].Entry.ExtendedAttributes["user.k"]);
        Assert.Equal("/a/file", read[5].Entry.LinkTarget);
    }

    [Fact]
    public async Task Corrupt_gzip_is_a_format_error()
    {
        var (info, blob) = await BuildAsync([TextFile("a", new string('x', 100_000))]);
        blob[20] ^= 0xff;
        blob[21] ^= 0xff;
        var error = await Assert.ThrowsAsync<OciFormatException>(() => ReadAsync(blob, info.Descriptor.MediaType));
        Assert.Equal("layer", error.Subject);
    }

    [Fact]
    public async Task Corruption_inside_file_content_is_a_format_error_while_reading_it()
    {
        var content = new byte[2_000_000];
        new Random(7).NextBytes(content);
        var (info, blob) = await BuildAsync([BytesFile("a", content)]);
        blob[blob.Length / 2] ^= 0x55;
        blob[(blob.Length / 2) + 1] ^= 0x55;
        var error = await Assert.ThrowsAsync<OciFormatException>(() => ReadAsync(blob, info.Descriptor.MediaType));
        Assert.Equal("layer", error.Subject);
    }

    [Fact]
    public async Task Garbage_is_a_format_error_for_every_compression()
    {
        var garbage = Encoding.ASCII.GetBytes(new string('g', 2000));
        await Assert.ThrowsAsync<OciFormatException>(() => ReadAsync(garbage, MediaTypes.OciLayerGzip));
        await Assert.ThrowsAsync<OciFormatException>(() => ReadAsync(garbage, MediaTypes.OciLayerZstd));
        await Assert.ThrowsAsync<OciFormatException>(() => ReadAsync(garbage, MediaTypes.OciLayer));
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("/../etc/passwd")]
    [InlineData("a/../../evil")]
    [InlineData("dir/.wh..")]
    [InlineData("dir/.wh...")]
    [InlineData(".wh.")]
    public async Task Entries_escaping_the_root_are_refused(string name)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name));
        }

        await Assert.ThrowsAsync<LayerPathException>(() => ReadAsync(tar.ToArray(), MediaTypes.OciLayer));
    }

    [Fact]
    public async Task Names_are_cleaned_as_containerd_cleans_them_and_the_root_entry_is_skipped()
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Gnu, leaveOpen: true))
        {
            writer.WriteEntry(new GnuTarEntry(TarEntryType.Directory, "./"));
            writer.WriteEntry(new GnuTarEntry(TarEntryType.Directory, "./etc/"));
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, "/etc//passwd"));
            writer.WriteEntry(new GnuTarEntry(TarEntryType.HardLink, "etc/./group") { LinkName = "./etc/passwd" });
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, "./etc/.wh.shadow"));
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, "./.wh..wh..opq"));
        }

        var entries = new List<(LayerEntryType, string, string?)>();
        tar.Position = 0;
        await foreach (var entry in LayerReader.ReadEntriesAsync(tar, MediaTypes.OciLayer))
        {
            entries.Add((entry.Type, entry.Path, entry.LinkTarget));
        }

        Assert.Equal(
            [
                (LayerEntryType.Directory, "etc", null),
                (LayerEntryType.File, "etc/passwd", null),
                (LayerEntryType.Hardlink, "etc/group", "etc/passwd"),
                (LayerEntryType.Whiteout, "etc/shadow", null),
                (LayerEntryType.OpaqueWhiteout, "", null),
            ],
            entries);
    }

    [Fact]
    public async Task Escaping_hardlink_targets_are_refused()
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.HardLink, "ok") { LinkName = "../../etc/shadow" });
        }

        await Assert.ThrowsAsync<LayerPathException>(() => ReadAsync(tar.ToArray(), MediaTypes.DockerLayer));
    }

    [Fact]
    public void Unknown_media_types_are_not_supported()
    {
        Assert.Throws<NotSupportedException>(() => LayerReader.OpenDecompressed(Stream.Null, MediaTypes.OciManifest));
    }

    [Fact]
    public void The_blob_is_left_open()
    {
        var blob = new MemoryStream();
        LayerReader.OpenDecompressed(blob, MediaTypes.OciLayer).Dispose();
        LayerReader.OpenDecompressed(blob, MediaTypes.OciLayerGzip).Dispose();
        LayerReader.OpenDecompressed(blob, MediaTypes.OciLayerZstd).Dispose();
        Assert.True(blob.CanRead);
    }
}
