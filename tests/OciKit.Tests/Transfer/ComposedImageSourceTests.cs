using System.Text;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

/// <summary>An image composed of blobs in memory and in a store, copied with the one copy (registry locations: the integration tests).</summary>
public sealed class ComposedImageSourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-composed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_image_of_a_config_in_memory_and_a_layer_in_a_store_copies_into_a_layout_with_its_digest()
    {
        var store = await OciLayout.OpenAsync(Path.Combine(_dir, "store"));
        var content = Encoding.UTF8.GetBytes("composed\n");
        var layer = await store.AddLayerAsync((file, ct) => LayerWriter.WriteAsync([LayerEntry.File("app/a.txt", content.Length, () => new MemoryStream(content))], file, null, ct));
        var built = Image.Scratch(Platform.LinuxAmd64).AppendLayer(layer.Descriptor, layer.DiffId).Build();
        using var client = new RegistryClient();
        var source = new ComposedImageSource(client, "composed", built.Manifest, [], new Dictionary<Digest, BlobLocation>
        {
            [built.Config.Digest] = new BlobLocation.InMemory(built.ConfigBytes),
            [layer.Descriptor.Digest] = new BlobLocation.InStore(store),
        });
        var copy = await OciLayout.OpenAsync(Path.Combine(_dir, "copy"));

        var result = await new ImageCopier(client).CopyAsync(source, new OciLayoutImageSink(copy, "app:1"));

        Assert.Equal(built.Manifest.Digest, result.Descriptor.Digest);
        Assert.Equal(2, result.BlobsUploaded);
        var stored = await copy.ReadImageAsync("app:1");
        await copy.VerifyImageAsync(stored.Image);
        Assert.Empty(await store.ListImagesAsync());
    }

    [Fact]
    public async Task A_blob_or_manifest_it_was_not_given_is_not_found_and_wrong_bytes_fail_the_read()
    {
        var built = Image.Scratch(Platform.LinuxAmd64).Build();
        using var client = new RegistryClient();
        var wrong = Encoding.UTF8.GetBytes("{}");
        var source = new ComposedImageSource(client, "composed", built.Manifest, [], new Dictionary<Digest, BlobLocation>
        {
            [built.Config.Digest] = new BlobLocation.InMemory(wrong),
        });
        var other = new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256("other"u8), 5);

        Assert.Same(built.Manifest, await source.ResolveAsync());
        Assert.Same(built.Manifest, await source.ReadManifestAsync(built.Manifest.Descriptor));
        Assert.Equal(other.Digest, (await Assert.ThrowsAsync<BlobNotFoundException>(() => source.OpenBlobAsync(other))).Digest);
        Assert.Equal(other.Digest, (await Assert.ThrowsAsync<BlobNotFoundException>(() => source.ReadManifestAsync(other))).Digest);
        await using var stream = await source.OpenBlobAsync(built.Config);
        await Assert.ThrowsAnyAsync<OciException>(() => stream.CopyToAsync(Stream.Null));
    }
}
