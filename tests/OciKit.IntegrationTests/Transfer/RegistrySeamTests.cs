using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Transfer;

/// <summary>A registry repository as an image source and sink, through the one copy, against the real registry.</summary>
[Collection(RegistryCollection.Name)]
public class RegistrySeamTests(RegistryFixture fixture)
{
    [Fact]
    public async Task A_registry_source_and_sink_round_trip_uploading_once_mounting_within_the_registry()
    {
        using var dir = new TempDir();
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);
        var baseImage = ImageReference.Parse(fixture.BaseImage);
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        // Registry → layout: every blob downloaded, verified, the manifest's digest kept.
        var pulled = await copier.CopyAsync(new RegistryImageSource(client, baseImage), new OciLayoutImageSink(store, "base"));
        Assert.Equal(fixture.BaseDigest, pulled.Descriptor.Digest.ToString());
        Assert.Equal(2, pulled.BlobsUploaded);

        // Layout → a new repository: uploaded; again under another tag: all present.
        var repository = $"{fixture.Registry.Host}/seam/{Guid.NewGuid():N}";
        var pushed = await copier.CopyAsync(new OciLayoutImageSource(store, "base"), new RegistryImageSink(client, ImageReference.Parse(repository + ":1")));
        Assert.Equal((2, 0, 0), (pushed.BlobsUploaded, pushed.BlobsMounted, pushed.BlobsPresent));
        var again = await copier.CopyAsync(new OciLayoutImageSource(store, "base"), new RegistryImageSink(client, ImageReference.Parse(repository + ":2")));
        Assert.Equal((0, 0, 2), (again.BlobsUploaded, again.BlobsMounted, again.BlobsPresent));

        // Registry → another repository of the same registry: mounted, not sent.
        var sibling = ImageReference.Parse($"{fixture.Registry.Host}/seam/{Guid.NewGuid():N}:1");
        var mounted = await copier.CopyAsync(new RegistryImageSource(client, ImageReference.Parse(repository + ":1")), new RegistryImageSink(client, sibling));
        Assert.Equal((0, 2, 0), (mounted.BlobsUploaded, mounted.BlobsMounted, mounted.BlobsPresent));
        Assert.Equal(fixture.BaseDigest, (await client.HeadManifestAsync(sibling))!.Digest.ToString());
    }

    [Fact]
    public async Task A_corrupt_layout_blob_fails_the_push_typed_and_the_registry_gets_neither_it_nor_the_tag()
    {
        using var dir = new TempDir();
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        await copier.CopyAsync(new RegistryImageSource(client, ImageReference.Parse(fixture.BaseImage)), new OciLayoutImageSink(store, "base"));
        var layer = (await store.ReadImageAsync("base")).Image.Layers[0];
        var path = store.BlobPath(layer.Digest);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^1] ^= 0xff;
        File.Delete(path);
        await File.WriteAllBytesAsync(path, bytes);
        var target = ImageReference.Parse($"{fixture.Registry.Host}/seam/{Guid.NewGuid():N}:1");

        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => copier.CopyAsync(new OciLayoutImageSource(store, "base"), new RegistryImageSink(client, target)));

        Assert.Equal(layer.Digest, e.Expected);
        Assert.Null(await client.HeadBlobAsync(target, layer.Digest));
        Assert.Null(await client.HeadManifestAsync(target));
    }
}
