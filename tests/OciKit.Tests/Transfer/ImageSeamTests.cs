using System.Formats.Tar;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;
using OciKit.Tests.Layout;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

/// <summary>The OCI layout, oci-archive and docker-archive sources and sinks, through the one copy.</summary>
public sealed class ImageSeamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-seam-").FullName;
    private readonly RegistryClient _client = new();

    public void Dispose()
    {
        _client.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_image_round_trips_through_every_file_location_with_its_digest_and_the_archives_match_the_writers()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        var shared = await OciLayoutTests.WriteLayerAsync(layout, "base");
        var manifest = await OciLayoutTests.StoreImageAsync(layout, "app:1", "app", shared);
        var copier = new ImageCopier(_client);
        var ociTar = Path.Combine(_dir, "out", "image.oci.tar");
        var dockerTar = Path.Combine(_dir, "out", "image.docker.tar");

        var toOci = await copier.CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciArchiveImageSink(ociTar, "app:1"));
        await using (var fromOci = await OciArchiveImageSource.OpenAsync(ociTar))
        {
            Assert.Equal(manifest.Digest, (await copier.CopyAsync(fromOci, new DockerArchiveImageSink(dockerTar, "app:1"))).Descriptor.Digest);
        }

        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        await using (var fromDocker = await DockerArchiveImageSource.OpenAsync(dockerTar))
        {
            var back = await copier.CopyAsync(fromDocker, new OciLayoutImageSink(target, "again"));
            Assert.Equal(manifest.Digest, back.Descriptor.Digest);
            Assert.Equal(3, back.BlobsUploaded);
        }

        Assert.Equal(manifest.Digest, toOci.Descriptor.Digest);
        Assert.Equal(manifest.Digest, (await target.ResolveAsync("again"))!.Digest);
        await target.VerifyImageAsync((await target.ReadImageAsync("again")).Image);

        // Byte for byte what the archive writers make of the same layout image.
        var oci = new MemoryStream();
        await OciArchive.WriteAsync(layout, ["app:1"], oci);
        Assert.Equal(oci.ToArray(), await File.ReadAllBytesAsync(ociTar));
        var docker = new MemoryStream();
        await DockerArchive.WriteAsync(layout, "app:1", docker);
        Assert.Equal(docker.ToArray(), await File.ReadAllBytesAsync(dockerTar));
        Assert.Equal(["image.docker.tar", "image.oci.tar"], Directory.GetFiles(Path.Combine(_dir, "out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_second_copy_into_a_layout_finds_every_blob_present()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        await OciLayoutTests.StoreImageAsync(layout, "app:1", "app");
        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));
        var copier = new ImageCopier(_client);

        var first = await copier.CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciLayoutImageSink(target, "x"));
        var second = await copier.CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciLayoutImageSink(target, "y"));

        Assert.Equal((2, 0), (first.BlobsUploaded, first.BlobsPresent));
        Assert.Equal((0, 2), (second.BlobsUploaded, second.BlobsPresent));
        Assert.Equal(first.Descriptor.Digest, (await target.ResolveAsync("y"))!.Digest);
    }

    [Fact]
    public async Task A_corrupt_layout_blob_fails_the_copy_with_a_digest_mismatch_and_leaves_no_archive()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        await OciLayoutTests.StoreImageAsync(layout, "app:1", "app");
        var layer = (await layout.ReadImageAsync("app:1")).Image.Layers[0];
        var path = layout.BlobPath(layer.Digest);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^1] ^= 0xff;
        File.Delete(path);
        await File.WriteAllBytesAsync(path, bytes);
        var archive = Path.Combine(_dir, "out", "image.tar");

        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => new ImageCopier(_client).CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciArchiveImageSink(archive, "app:1")));

        Assert.Equal(layer.Digest, e.Expected);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")) && Directory.EnumerateFileSystemEntries(Path.Combine(_dir, "out")).Any());
    }

    [Fact]
    public async Task A_corrupt_oci_archive_blob_fails_while_read_and_nothing_is_named_in_the_target()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        await OciLayoutTests.StoreImageAsync(layout, "app:1", "app");
        var layer = (await layout.ReadImageAsync("app:1")).Image.Layers[0];
        var archive = Path.Combine(_dir, "image.tar");
        await new ImageCopier(_client).CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciArchiveImageSink(archive, "app:1"));
        await CorruptEntryAsync(archive, "blobs/sha256/" + layer.Digest.Encoded);
        var target = await OciLayout.OpenAsync(Path.Combine(_dir, "b"));

        await using var source = await OciArchiveImageSource.OpenAsync(archive, "app:1");
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => new ImageCopier(_client).CopyAsync(source, new OciLayoutImageSink(target, "app:1")));

        Assert.Equal(layer.Digest, e.Expected);
        Assert.Empty(await target.ListImagesAsync());
        Assert.False(target.ContainsBlob(layer.Digest));
    }

    [Fact]
    public async Task An_oci_archive_source_names_what_is_missing_or_ambiguous()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "a"));
        await OciLayoutTests.StoreImageAsync(layout, "one", "one");
        await OciLayoutTests.StoreImageAsync(layout, "two", "two");
        var archive = Path.Combine(_dir, "two.tar");
        await using (var stream = File.Create(archive))
        {
            await OciArchive.WriteAsync(layout, ["one", "two"], stream);
        }

        await Assert.ThrowsAsync<FileNotFoundException>(() => OciArchiveImageSource.OpenAsync(Path.Combine(_dir, "absent.tar")));
        var several = await Assert.ThrowsAsync<ImageNotFoundException>(() => OciArchiveImageSource.OpenAsync(archive));
        Assert.Contains("several images (one, two)", several.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ImageNotFoundException>(() => OciArchiveImageSource.OpenAsync(archive, "three"));
        Assert.Contains("one, two", missing.Message, StringComparison.Ordinal);
        await using var two = await OciArchiveImageSource.OpenAsync(archive, "two");
        Assert.Equal((await layout.ResolveAsync("two"))!.Digest, (await two.ResolveAsync()).Digest);
    }

    [Fact]
    public async Task A_docker_archive_sink_refuses_an_index()
    {
        var source = new GenericCopyTests.FakeSource();
        source.AddIndex(source.AddImage("amd64", 1) with { Platform = Platform.LinuxAmd64 });
        var archive = Path.Combine(_dir, "index.tar");

        await Assert.ThrowsAsync<OciFormatException>(() => new ImageCopier(_client).CopyAsync(source, new DockerArchiveImageSink(archive, "x:1")));

        Assert.Empty(Directory.GetFiles(_dir));
    }

    private static async Task CorruptEntryAsync(string archive, string name)
    {
        long offset = -1;
        await using (var stream = File.OpenRead(archive))
        {
            using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync() is { } entry)
            {
                if (entry.Name == name)
                {
                    offset = entry.DataOffset + entry.Length - 1;
                }
            }
        }

        Assert.True(offset > 0, $"{name} is not in {archive}");
        await using var file = new FileStream(archive, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        var b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0xff));
    }
}
