using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Tests.Layout;

public sealed class ArchiveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-archive-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Docker_archive_round_trips_through_a_layout_and_is_deterministic()
    {
        var source = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        var shared = await OciLayoutTests.WriteLayerAsync(source, "base");
        var manifest = await OciLayoutTests.StoreImageAsync(source, "hello:1.0", "app", shared);

        var first = new MemoryStream();
        await DockerArchive.WriteAsync(source, [new DockerArchiveImage("hello:1.0", ["example.com/hello:1.0", "hello:latest"])], first);
        var second = new MemoryStream();
        await DockerArchive.WriteAsync(source, [new DockerArchiveImage("hello:1.0", ["example.com/hello:1.0", "hello:latest"])], second);
        Assert.Equal(first.ToArray(), second.ToArray());

        var entries = ReadTar(first.ToArray());
        Assert.Equal(entries.Keys.Order(StringComparer.Ordinal), entries.Keys);
        using var manifestJson = JsonDocument.Parse(entries["manifest.json"]);
        var item = Assert.Single(manifestJson.RootElement.EnumerateArray());
        Assert.StartsWith("blobs/sha256/", item.GetProperty("Config").GetString(), StringComparison.Ordinal);
        Assert.Equal(["example.com/hello:1.0", "hello:latest"], item.GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(2, item.GetProperty("Layers").GetArrayLength());
        Assert.All(item.GetProperty("Layers").EnumerateArray(), l => Assert.True(entries.ContainsKey(l.GetString()!)));
        Assert.Contains("repositories", entries.Keys);
        Assert.Equal(manifest.Digest.ToString(), ImageIndex.Parse(entries["index.json"]).Manifests[0].Digest.ToString());

        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        first.Position = 0;
        var imported = await DockerArchive.ImportAsync(first, target);
        Assert.Equal(["example.com/hello:1.0", "hello:latest"], imported.Select(i => i.Name));
        // Same config bytes and layers, OCI media types: the very same manifest digest.
        Assert.All(imported, i => Assert.Equal(manifest.Digest, i.Descriptor.Digest));
        var (image, _) = await target.ReadImageAsync("hello:latest");
        Assert.Equal(MediaTypes.OciLayerGzip, image.Layers[0].MediaType);
    }

    [Fact]
    public async Task Docker_archive_import_keeps_the_original_manifest_when_the_archive_carries_it()
    {
        var source = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        var layer = await OciLayoutTests.WriteLayerAsync(source, "docker");
        var built = Image.Scratch(Platform.LinuxAmd64, MediaTypes.DockerManifest).AppendLayer(layer.Layer, layer.DiffId).Build();
        var manifest = await source.WriteImageAsync(built, "dockerish:1");
        var archive = new MemoryStream();
        await DockerArchive.WriteAsync(source, "dockerish:1", archive);

        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        archive.Position = 0;
        var imported = Assert.Single(await DockerArchive.ImportAsync(archive, target));
        Assert.Equal(manifest.Digest, imported.Descriptor.Digest);
        Assert.Equal(MediaTypes.DockerManifest, imported.Descriptor.MediaType);
        var (image, _) = await target.ReadImageAsync("dockerish:1");
        Assert.Equal(MediaTypes.DockerLayerGzip, image.Layers[0].MediaType);
    }

    [Fact]
    public async Task Archives_stream_to_and_from_non_seekable_streams()
    {
        var source = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        var manifest = await OciLayoutTests.StoreImageAsync(source, "pipe:1", "pipe");
        var buffer = new MemoryStream();
        await DockerArchive.WriteAsync(source, "pipe:1", new ForwardOnlyStream(buffer));
        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        var imported = await DockerArchive.ImportAsync(new ForwardOnlyStream(new MemoryStream(buffer.ToArray())), target);
        Assert.Equal(manifest.Digest, Assert.Single(imported).Descriptor.Digest);
    }

    [Fact]
    public async Task Tar_entries_are_normalized()
    {
        var source = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        await OciLayoutTests.StoreImageAsync(source, "x:1", "x");
        var archive = new MemoryStream();
        await OciArchive.WriteAsync(source, ["x:1"], archive);
        archive.Position = 0;
        using var reader = new TarReader(archive);
        var count = 0;
        while (reader.GetNextEntry() is { } entry)
        {
            Assert.Equal(DateTimeOffset.UnixEpoch, entry.ModificationTime);
            Assert.Equal(0, entry.Uid);
            Assert.Equal(0, entry.Gid);
            Assert.Equal(TarEntryFormat.Ustar, entry.Format);
            count++;
        }

        Assert.Equal(7, count); // blobs/, blobs/sha256/, manifest, config, layer, index.json, oci-layout
    }

    [Fact]
    public async Task Oci_archive_round_trips_and_keeps_names()
    {
        var source = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        var manifest = await OciLayoutTests.StoreImageAsync(source, "app:2", "two");
        await OciLayoutTests.StoreImageAsync(source, "other:1", "other");
        var archive = new MemoryStream();
        await OciArchive.WriteAsync(source, ["app:2"], archive);

        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        archive.Position = 0;
        var imported = await OciArchive.ImportAsync(archive, target);
        Assert.Equal("app:2", Assert.Single(imported).Name);
        Assert.Equal(manifest.Digest, (await target.ResolveAsync("app:2"))!.Digest);
        Assert.Null(await target.ResolveAsync("other:1"));
        Assert.Equal(0, (await target.CollectGarbageAsync()).RemovedBlobs);
    }

    [Fact]
    public async Task Oci_archive_with_a_corrupt_blob_is_rejected()
    {
        var digest = Digest.ComputeSha256("right"u8);
        var tar = MakeTar(new()
        {
            ["oci-layout"] = OciLayoutHeader.ToJson(),
            [$"blobs/sha256/{digest.Encoded}"] = "wrong"u8.ToArray(),
            ["index.json"] = new ImageIndex([]).ToJson(),
        });
        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        await Assert.ThrowsAsync<DigestMismatchException>(() => OciArchive.ImportAsync(new MemoryStream(tar), target));
        Assert.False(target.ContainsBlob(digest));
    }

    [Fact]
    public async Task Legacy_docker_archive_with_uncompressed_layers_and_symlinks_is_imported()
    {
        var layerTar = Encoding.UTF8.GetBytes(new string('x', 2048)); // content is opaque here; only digests matter
        var diffId = Digest.ComputeSha256(layerTar);
        var config = (ImageConfig.Empty(Platform.LinuxAmd64) with { DiffIds = [diffId, diffId] }).WithCmdForTest();
        var configBytes = config.ToJson();
        var configName = Digest.ComputeSha256(configBytes).Encoded + ".json";
        var manifestJson = Encoding.UTF8.GetBytes($$"""[{"Config":"{{configName}}","RepoTags":["legacy:1"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}]""");
        var tar = MakeTar(
            new()
            {
                ["aaa/layer.tar"] = layerTar,
                ["aaa/VERSION"] = "1.0"u8.ToArray(),
                [configName] = configBytes,
                ["manifest.json"] = manifestJson,
            },
            new() { ["bbb/layer.tar"] = "../aaa/layer.tar" });

        var target = await OciLayout.OpenAsync(_dir);
        var imported = await DockerArchive.ImportAsync(new MemoryStream(tar), target);
        Assert.Equal("legacy:1", Assert.Single(imported).Name);
        var (image, _) = await target.ReadImageAsync("legacy:1");
        Assert.Equal([diffId, diffId], image.Layers.Select(l => l.Digest));
        Assert.All(image.Layers, l => Assert.Equal(MediaTypes.OciLayer, l.MediaType));
        Assert.Equal(Digest.ComputeSha256(configBytes), image.Build().Config.Digest);
    }

    [Fact]
    public async Task Docker_archive_without_manifest_json_is_a_format_error()
    {
        var target = await OciLayout.OpenAsync(_dir);
        var e = await Assert.ThrowsAsync<OciFormatException>(() => DockerArchive.ImportAsync(new MemoryStream(MakeTar(new() { ["x"] = [1] })), target));
        Assert.Contains("manifest.json", e.Message, StringComparison.Ordinal);
    }

    internal static Dictionary<string, byte[]> ReadTar(byte[] tar)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry() is { } entry)
        {
            var data = new MemoryStream();
            entry.DataStream?.CopyTo(data);
            result[entry.Name] = data.ToArray();
        }

        return result;
    }

    private static byte[] MakeTar(Dictionary<string, byte[]> files, Dictionary<string, string>? symlinks = null)
    {
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (name, content) in files)
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
            }

            foreach (var (name, target) in symlinks ?? [])
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target });
            }
        }

        return output.ToArray();
    }
}

/// <summary>A pipe-like stream: no seeking, no length, no position.</summary>
internal sealed class ForwardOnlyStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

internal static class TestConfigExtensions
{
    public static ImageConfig WithCmdForTest(this ImageConfig config) => config with { Config = new ContainerConfig { Cmd = ["sh"] } };
}
