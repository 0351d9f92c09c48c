using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using OciKit.Layers;
using OciKit.Primitives;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Layers;

public class LayerWriterTests
{
    private static readonly LayerOptions Uncompressed = new() { Compression = LayerCompression.None };

    private static List<LayerEntry> Sample() =>
    [
        TextFile("usr/bin/tool", "#!/bin/sh\necho hi\n", (UnixFileMode)0x1ED),
        LayerEntry.Directory("etc", (UnixFileMode)0x1C0),
        TextFile("etc/hosts", "127.0.0.1 localhost\n"),
        LayerEntry.Symlink("bin", "usr/bin"),
        LayerEntry.Hardlink("usr/bin/tool2", "usr/bin/tool", (UnixFileMode)0x1ED),
        LayerEntry.Whiteout("var/cache/old"),
        LayerEntry.OpaqueDirectory("opt"),
        TextFile("home/app/data.txt", "x") with { Uid = 1000, Gid = 1001, UserName = "app", GroupName = "app" },
    ];

    [Fact]
    public async Task Writes_canonical_order_with_parents_and_fixed_metadata()
    {
        var (info, tar) = await BuildAsync(Sample(), Uncompressed);
        var entries = ReadTar(tar);
        string[] expected =
        [
            "bin", "etc/", "etc/hosts", "home/", "home/app/", "home/app/data.txt", "opt/", "opt/.wh..wh..opq",
            "usr/", "usr/bin/", "usr/bin/tool", "usr/bin/tool2", "var/", "var/cache/", "var/cache/.wh.old",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), entries.Select(e => e.Entry.Name));
        Assert.All(entries, e => Assert.Equal(DateTimeOffset.UnixEpoch, e.Entry.ModificationTime));
        Assert.All(entries, e => Assert.Equal(TarEntryFormat.Ustar, e.Entry.Format));

        var byName = entries.ToDictionary(e => e.Entry.Name);
        Assert.Equal((UnixFileMode)0x1ED, byName["home/"].Entry.Mode);
        Assert.Equal((UnixFileMode)0x1C0, byName["etc/"].Entry.Mode);
        Assert.Equal(0, byName["home/"].Entry.Uid);
        var data = (PosixTarEntry)byName["home/app/data.txt"].Entry;
        Assert.Equal((1000, 1001, "app", "app"), (data.Uid, data.Gid, data.UserName, data.GroupName));
        Assert.Equal(string.Empty, ((PosixTarEntry)byName["etc/hosts"].Entry).UserName);
        Assert.Equal("usr/bin", byName["bin"].Entry.LinkName);
        Assert.Equal(TarEntryType.HardLink, byName["usr/bin/tool2"].Entry.EntryType);
        Assert.Equal("usr/bin/tool", byName["usr/bin/tool2"].Entry.LinkName);
        Assert.Equal("127.0.0.1 localhost\n", Encoding.UTF8.GetString(byName["etc/hosts"].Content));

        Assert.Equal(info.DiffId, info.Descriptor.Digest);
        Assert.Equal(MediaTypes.OciLayer, info.Descriptor.MediaType);
        Assert.Equal(tar.Length, info.UncompressedSize);
        Assert.Equal(Digest.ComputeSha256(tar), info.DiffId);
    }

    [Fact]
    public async Task Gzip_layer_reports_digest_of_blob_and_diff_id_of_tar()
    {
        var (info, blob) = await BuildAsync(Sample());
        Assert.Equal(MediaTypes.OciLayerGzip, info.Descriptor.MediaType);
        Assert.Equal(Digest.ComputeSha256(blob), info.Descriptor.Digest);
        Assert.Equal(blob.Length, info.Descriptor.Size);

        using var gunzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
        var tar = new MemoryStream();
        await gunzip.CopyToAsync(tar);
        Assert.Equal(Digest.ComputeSha256(tar.ToArray()), info.DiffId);
        Assert.Equal(tar.Length, info.UncompressedSize);
    }

    [Theory]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    [InlineData(LayerCompression.None)]
    public async Task Same_input_twice_gives_byte_identical_blobs(LayerCompression compression)
    {
        var options = new LayerOptions { Compression = compression, MediaTypeFlavor = LayerMediaTypeFlavor.Docker };
        var (first, blob1) = await BuildAsync(Sample(), options);
        var (second, blob2) = await BuildAsync(Sample(), options with { MaxDegreeOfParallelism = 1 });
        Assert.Equal(blob1, blob2);
        Assert.Equal(first, second);

        var read = await ReadAsync(blob1, first.Descriptor.MediaType);
        Assert.Equal(15, read.Count);
    }

    [Fact]
    public async Task Pax_records_only_where_needed_with_deterministic_header_names()
    {
        var longName = "deep/" + new string('n', 120) + ".txt";
        var xattr = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal) { ["user.note"] = "hello"u8.ToArray() };
        List<LayerEntry> entries =
        [
            TextFile(longName, "long"),
            TextFile("ünïcödé.txt", "u"),
            TextFile("plain.txt", "p") with { ExtendedAttributes = xattr },
            LayerEntry.Symlink("link", "target/" + new string('t', 150)),
            TextFile("big-owner", "b") with { Uid = 5_000_000, Gid = 6_000_000, UserName = new string('u', 40) },
        ];
        var (_, tar) = await BuildAsync(entries, Uncompressed);

        var text = Encoding.Latin1.GetString(tar);
        Assert.DoesNotContain("PaxHeaders." + Environment.ProcessId, text, StringComparison.Ordinal);
        Assert.Contains("deep/PaxHeaders/nnnn", text, StringComparison.Ordinal);
        Assert.Contains("PaxHeaders/plain.txt", text, StringComparison.Ordinal);

        var read = ReadTar(tar).ToDictionary(e => e.Entry.Name);
        Assert.Equal("long", Encoding.UTF8.GetString(read[longName].Content));
        Assert.True(read.ContainsKey("ünïcödé.txt"));
        Assert.Equal("hello", ((PaxTarEntry)read["plain.txt"].Entry).ExtendedAttributes["SCHILY.xattr.user.note"]);
        Assert.Equal("target/" + new string('t', 150), read["link"].Entry.LinkName);
        var owner = (PosixTarEntry)read["big-owner"].Entry;
        Assert.Equal((5_000_000, 6_000_000, new string('u', 40)), (owner.Uid, owner.Gid, owner.UserName));

        // Entries that fit ustar carry no PAX header.
        Assert.Equal(TarEntryFormat.Ustar, read["deep/"].Entry.Format);
        Assert.Equal(5, text.Split("PaxHeaders/").Length - 1);
    }

    [Fact]
    public async Task Pax_header_blocks_are_identical_whatever_the_process_id()
    {
        // The header name depends only on the entry path; the BCL's own PAX writer would embed Environment.ProcessId.
        Assert.Equal("a/b/PaxHeaders/c", TarLayerWriter.PaxHeaderName("a/b/c"));
        Assert.Equal("PaxHeaders/top", TarLayerWriter.PaxHeaderName("top/"));
        Assert.Equal(100, TarLayerWriter.PaxHeaderName(new string('x', 300)).Length);

        var (_, tar) = await BuildAsync([TextFile("x/" + new string('y', 200), "z")], Uncompressed);
        Assert.Equal("x/PaxHeaders/" + new string('y', 87), Encoding.ASCII.GetString(tar, 512, 100).TrimEnd('\0'));
    }

    [Fact]
    public async Task Refuses_duplicates_and_children_of_non_directories()
    {
        await Assert.ThrowsAsync<LayerPathException>(() => BuildAsync([LayerEntry.Directory("a"), TextFile("a", "x")]));
        await Assert.ThrowsAsync<LayerPathException>(() => BuildAsync([TextFile("a", "x"), TextFile("a/b", "y")]));
    }

    [Fact]
    public async Task Content_of_another_length_than_declared_fails()
    {
        var liar = LayerEntry.File("f", 10, () => new MemoryStream(new byte[4]));
        await Assert.ThrowsAsync<IOException>(() => BuildAsync([liar], Uncompressed));
        var longer = LayerEntry.File("f", 2, () => new MemoryStream(new byte[4]));
        await Assert.ThrowsAsync<IOException>(() => BuildAsync([longer]));
    }

    [Fact]
    public async Task The_destination_is_left_open()
    {
        var destination = new MemoryStream();
        await LayerWriter.WriteAsync([TextFile("a", "b")], destination);
        Assert.True(destination.CanWrite);
    }

    [Fact]
    public async Task Devices_fifos_and_per_entry_modification_times_round_trip_and_stay_deterministic()
    {
        var time = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000);
        LayerEntry[] entries =
        [
            LayerEntry.Device("dev/null", LayerEntryType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6),
            LayerEntry.Device("dev/loop0", LayerEntryType.BlockDevice, 7, 0, (UnixFileMode)0x1B0),
            LayerEntry.Fifo("run/pipe") with { ModificationTime = time },
        ];
        var (first, blob) = await LayerTestHelpers.BuildAsync(entries);
        var (second, _) = await LayerTestHelpers.BuildAsync(entries);
        Assert.Equal(first.Descriptor.Digest, second.Descriptor.Digest);

        var read = new List<LayerReadEntry>();
        await foreach (var entry in LayerReader.ReadEntriesAsync(new MemoryStream(blob), first.Descriptor.MediaType, includeSpecial: true))
        {
            read.Add(entry);
        }

        var byPath = read.ToDictionary(e => e.Path);
        Assert.Equal((LayerEntryType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6), (byPath["dev/null"].Type, byPath["dev/null"].DeviceMajor, byPath["dev/null"].DeviceMinor, byPath["dev/null"].Mode));
        Assert.Equal((LayerEntryType.BlockDevice, 7, 0), (byPath["dev/loop0"].Type, byPath["dev/loop0"].DeviceMajor, byPath["dev/loop0"].DeviceMinor));
        Assert.Equal(LayerEntryType.Fifo, byPath["run/pipe"].Type);
        Assert.Equal(time, byPath["run/pipe"].ModificationTime);
        Assert.Equal(DateTimeOffset.UnixEpoch, byPath["dev/null"].ModificationTime);

        // The public reader keeps reporting only what every caller models.
        var plain = new List<string>();
        await foreach (var entry in LayerReader.ReadEntriesAsync(new MemoryStream(blob), first.Descriptor.MediaType))
        {
            plain.Add(entry.Path);
        }

        Assert.Equal(["dev", "run"], plain);
    }
}
