using System.Text;
using System.Text.Json.Nodes;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Transfer;

namespace OciKit.Tests.Layout;

/// <summary>
/// One bad image must not break the store: what does not read back as an image is refused on the way in, and what is
/// already there (another tool's, an older version's, a file damaged on disk) is reported while the rest works.
/// </summary>
public sealed class BrokenImageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-broken-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_configuration_that_is_not_json_is_refused_and_nothing_is_written()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var bytes = "this is not json"u8.ToArray();

        var e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteBlobAsync(bytes, MediaTypes.OciConfig));
        Assert.Equal($"image configuration {Digest.ComputeSha256(bytes)}", e.Subject);
        Assert.False(layout.ContainsBlob(Digest.ComputeSha256(bytes)));

        // Valid JSON that is not an image configuration is refused too, by descriptor as a pull writes it.
        var notConfig = "{\"a\":1}"u8.ToArray();
        var descriptor = new Descriptor(MediaTypes.DockerConfig, Digest.ComputeSha256(notConfig), notConfig.Length);
        e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteBlobAsync(new MemoryStream(notConfig), descriptor));
        Assert.Contains("rootfs", e.Message, StringComparison.Ordinal);
        Assert.False(layout.ContainsBlob(descriptor.Digest));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_dir, ".ocikit", "tmp")));
    }

    [Fact]
    public async Task A_manifest_is_refused_when_it_is_not_json_of_a_known_type_or_its_configuration_is_unusable()
    {
        var layout = await OciLayout.OpenAsync(_dir);

        var garbage = "<html>not a manifest</html>"u8.ToArray();
        await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteBlobAsync(garbage, MediaTypes.OciManifest));
        Assert.False(layout.ContainsBlob(Digest.ComputeSha256(garbage)));

        var unknown = ManifestDocument.Parse("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.thing+json\"}"u8.ToArray());
        var e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteManifestAsync(unknown));
        Assert.Equal($"image {unknown.Digest}", e.Subject);
        Assert.Contains("application/vnd.example.thing+json", e.Message, StringComparison.Ordinal);
        Assert.False(layout.ContainsBlob(unknown.Digest));

        // The configuration got in as an opaque blob (as an oci-archive's blobs do); the manifest naming it as an
        // image configuration is refused, by WriteManifestAsync and when an archive's entry is tagged.
        var config = await layout.WriteBlobAsync("not json either"u8.ToArray(), MediaTypes.OctetStream);
        var manifest = ManifestDocument.FromManifest(new ImageManifest(config with { MediaType = MediaTypes.OciConfig }, []));
        e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteManifestAsync(manifest));
        Assert.Equal($"image {manifest.Digest}", e.Subject);
        Assert.Contains($"configuration {config.Digest}", e.Message, StringComparison.Ordinal);
        Assert.False(layout.ContainsBlob(manifest.Digest));

        var opaque = await layout.WriteBlobAsync(manifest.Bytes, MediaTypes.OctetStream);
        e = await Assert.ThrowsAsync<OciFormatException>(() => layout.TagAsync("bad:1", opaque with { MediaType = MediaTypes.OciManifest }));
        Assert.Equal("image bad:1", e.Subject);
        Assert.Empty(await layout.ListImagesAsync());

        // Layers and DiffIDs that do not pair would fail every read: refused as well.
        var layer = await layout.WriteBlobAsync("layer"u8.ToArray(), MediaTypes.OciLayer);
        var valid = Image.Scratch(Platform.Current).Build();
        await layout.WriteBlobAsync(valid.ConfigBytes, MediaTypes.OciConfig);
        var unpaired = ManifestDocument.FromManifest(valid.Manifest.Manifest! with { Layers = [layer] });
        e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteManifestAsync(unpaired));
        Assert.Equal($"image {unpaired.Digest}", e.Subject);
    }

    [Fact]
    public async Task Broken_images_already_in_the_store_are_reported_while_the_others_list_read_and_prune()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var images = new LocalImages(layout);
        var layer = await layout.WriteBlobAsync("good layer"u8.ToArray(), MediaTypes.OciLayer);
        var good = Image.Scratch(Platform.Current).AppendLayer(layer, Digest.ComputeSha256("good tar"u8)).WithLabel("which", "good").Build();
        var goodDescriptor = await layout.WriteImageAsync(good, "good:1");

        // As another tool writes them, past every check: a config that is not JSON, a manifest that is not JSON, and
        // a manifest damaged on disk after it was stored.
        var badConfig = WriteForeignBlob("{not json"u8.ToArray());
        var badConfigLayer = await layout.WriteBlobAsync("kept by the bad-config image"u8.ToArray(), MediaTypes.OciLayer);
        var badConfigManifest = WriteForeignBlob(Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{badConfig.Digest}}","size":{{badConfig.Size}}},"layers":[{"mediaType":"{{MediaTypes.OciLayer}}","digest":"{{badConfigLayer.Digest}}","size":{{badConfigLayer.Size}}}]}"""));
        AddToIndexJson(badConfigManifest with { MediaType = MediaTypes.OciManifest }, "bad-config:1");
        var notJson = WriteForeignBlob("\u0001\u0002 binary junk"u8.ToArray());
        AddToIndexJson(notJson with { MediaType = MediaTypes.OciManifest }, "not-json:1");
        var damaged = await layout.WriteImageAsync(Image.Scratch(Platform.Current).WithLabel("which", "damaged").Build(), "damaged:1");
        await File.WriteAllTextAsync(layout.BlobPath(damaged.Digest), "{\"schemaVersion\":2,\"damaged\":true}");
        var orphan = await layout.WriteBlobAsync("orphan"u8.ToArray(), MediaTypes.OciLayer);

        var inventory = await images.InventoryAsync();
        Assert.Equal(["good"], inventory.Images.Select(i => i.Repository));
        Assert.Equal(goodDescriptor.Digest, inventory.Images[0].Digest);
        Assert.Equal(["bad-config:1", "damaged:1", "not-json:1"], inventory.Broken.Select(b => b.Name));
        Assert.Contains("configuration", inventory.Broken[0].Problem, StringComparison.Ordinal);
        Assert.Equal(badConfigManifest.Digest, inventory.Broken[0].Digest);
        Assert.Equal<ImageSummary>(inventory.Images, await images.ListAsync());

        // The good image reads and its layer checks out as it did.
        var (read, _) = await layout.ReadImageAsync("good:1");
        Assert.Equal("good", read.Config.Config!.Labels!["which"]);

        // Prune goes on: the orphan goes and the good image stays whole. Prune reads manifests, not configurations, so
        // the bad-config image keeps its blobs as any image does; the images whose manifest cannot be read are reported
        // and keep what their bytes name as descriptors (here nothing but the manifest itself).
        var result = await images.PruneAsync();
        Assert.Equal(["damaged:1", "not-json:1"], result.BrokenImages.Select(b => b.Name).Order());
        Assert.False(layout.ContainsBlob(orphan.Digest));
        Assert.True(layout.ContainsBlob(layer.Digest));
        Assert.True(layout.ContainsBlob(badConfigLayer.Digest));
        Assert.True(layout.ContainsBlob(badConfig.Digest));
        Assert.True(layout.ContainsBlob(notJson.Digest));
        await layout.ReadImageAsync("good:1");

        // rmi of a broken image works, and a prune after it collects what it kept.
        Assert.Equal("bad-config:1", await images.RemoveAsync("bad-config:1"));
        var after = await images.PruneAsync();
        Assert.False(layout.ContainsBlob(badConfigLayer.Digest));
        Assert.Equal(["damaged:1", "not-json:1"], after.BrokenImages.Select(b => b.Name).Order());
        Assert.Equal(["good"], (await images.InventoryAsync()).Images.Select(i => i.Repository));
    }

    private Descriptor WriteForeignBlob(byte[] bytes)
    {
        var digest = Digest.ComputeSha256(bytes);
        File.WriteAllBytes(Path.Combine(_dir, "blobs", "sha256", digest.Encoded), bytes);
        return new Descriptor(MediaTypes.OctetStream, digest, bytes.Length);
    }

    private void AddToIndexJson(Descriptor manifest, string name)
    {
        var path = Path.Combine(_dir, "index.json");
        var index = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        index["manifests"]!.AsArray().Add(new JsonObject
        {
            ["mediaType"] = manifest.MediaType,
            ["digest"] = manifest.Digest.ToString(),
            ["size"] = manifest.Size,
            ["annotations"] = new JsonObject { [AnnotationKeys.RefName] = name },
        });
        File.WriteAllText(path, index.ToJsonString());
    }
}
