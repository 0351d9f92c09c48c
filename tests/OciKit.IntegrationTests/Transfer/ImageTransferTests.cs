using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using OciKit.Auth;
using OciKit.Images;
using OciKit.IntegrationTests.Harness;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Transfer;

/// <summary>Pull, push and copy between the real registry and the local store, checked by skopeo and podman.</summary>
[Collection(RegistryCollection.Name)]
public class ImageTransferTests(RegistryFixture fixture)
{
    private ImageReference Base => ImageReference.Parse(fixture.BaseImage);

    private static async Task<OciLayout> NewStoreAsync(TempDir dir) => await OciLayout.OpenAsync(dir.Combine("store"));

    /// <summary>The base image plus one layer holding /hello.txt, stored under <paramref name="name"/>.</summary>
    private static async Task<Descriptor> StoreDerivedImageAsync(OciLayout store, string baseName, string name, string greeting)
    {
        var (baseImage, _) = await store.ReadImageAsync(baseName);
        var content = Encoding.UTF8.GetBytes(greeting + "\n");
        await using var temp = new MemoryStream();
        var layer = await LayerWriter.WriteAsync([LayerEntry.File("hello.txt", content.Length, () => new MemoryStream(content))], temp);
        temp.Position = 0;
        await store.WriteBlobAsync(temp, layer.Descriptor);
        var image = baseImage
            .AppendLayer(layer.Descriptor, layer.DiffId, new HistoryEntry { CreatedBy = "COPY hello.txt /" })
            .WithCmd(["cat", "/hello.txt"])
            .WithAnnotation(AnnotationKeys.BaseName, baseName);
        return await store.WriteImageAsync(image.Build(), name);
    }

    [Fact]
    public async Task Pull_stores_a_verified_image_once_and_skopeo_reads_the_store()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var client = new RegistryClient();
        var transfer = new ImageTransfer(client);

        var first = await transfer.PullAsync(Base, store);
        Assert.Equal(fixture.BaseDigest, first.Descriptor.Digest.ToString());
        Assert.Equal(2, first.BlobsDownloaded);
        Assert.Equal(Base.ToString(), first.LocalName);

        var second = await transfer.PullAsync(Base, store);
        Assert.Equal(0, second.BlobsDownloaded);
        Assert.Equal(2, second.BlobsPresent);

        var (image, _) = await store.ReadImageAsync(Base.ToString());
        Assert.Equal(["sh"], image.Config.Config!.Cmd!.Value.ToArray());
        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", $"oci:{store.Root}:{Base}"]);
        Assert.Equal(fixture.BaseDigest, JsonDocument.Parse(inspect.StdOut).RootElement.GetProperty("Digest").GetString());
    }

    [Fact]
    public async Task Push_of_a_derived_image_mounts_the_base_layer_and_podman_runs_it()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var client = new RegistryClient();
        var transfer = new ImageTransfer(client);
        await transfer.PullAsync(Base, store);
        var built = await StoreDerivedImageAsync(store, Base.ToString(), "derived:1", "hello from a pushed image");

        var target = ImageReference.Parse($"{fixture.Registry.Host}/transfer/derived:1");
        var pushed = await transfer.PushAsync(store, "derived:1", target);
        Assert.Equal(built.Digest, pushed.Descriptor.Digest);
        Assert.Equal(1, pushed.BlobsMounted);
        Assert.Equal(2, pushed.BlobsUploaded);

        var again = await transfer.PushAsync(store, "derived:1", target);
        Assert.Equal(3, again.BlobsPresent);
        Assert.Equal(0, again.BlobsUploaded + again.BlobsMounted);

        using var tools = new ContainerTools();
        Assert.Equal("hello from a pushed image\n", await tools.RunFromRegistryAsync(target.ToString(), []));
    }

    [Fact]
    public async Task Copy_preserves_the_digest_within_and_across_registries()
    {
        using var client = new RegistryClient(new RegistryClientOptions
        {
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)),
        });
        var transfer = new ImageTransfer(client);

        var within = await transfer.CopyAsync(Base, ImageReference.Parse($"{fixture.Registry.Host}/copies/within:v1"));
        Assert.Equal(fixture.BaseDigest, within.Descriptor.Digest.ToString());
        Assert.Equal(2, within.BlobsMounted);

        await using var other = await RegistryServer.StartTokenAsync();
        var across = await transfer.CopyAsync(Base, ImageReference.Parse($"{other.Host}/copies/across:v1"));
        Assert.Equal(fixture.BaseDigest, across.Descriptor.Digest.ToString());
        Assert.Equal(2, across.BlobsUploaded);
        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"--creds={RegistryServer.User}:{RegistryServer.Password}", $"docker://{other.Host}/copies/across:v1"]);
        Assert.Equal(fixture.BaseDigest, JsonDocument.Parse(inspect.StdOut).RootElement.GetProperty("Digest").GetString());
    }

    [Fact]
    public async Task Pull_chooses_the_platform_from_an_index_and_lists_the_offer_when_none_fits()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var client = new RegistryClient();
        var transfer = new ImageTransfer(client);
        await transfer.PullAsync(Base, store);

        // An index of the real image for this machine and a second manifest claiming linux/riscv64.
        var (baseImage, baseManifest) = await store.ReadImageAsync(Base.ToString());
        var other = baseImage.WithConfig(c => c with { Architecture = "riscv64" }).Build();
        var otherDescriptor = await store.WriteImageAsync(other);
        var index = new ImageIndex([
            baseManifest.Descriptor with { Platform = new Platform("linux", Platform.Current.Architecture) },
            otherDescriptor with { Platform = new Platform("linux", "riscv64") },
        ]);
        var indexDocument = ManifestDocument.FromIndex(index);
        await store.WriteManifestAsync(indexDocument);
        await store.TagAsync("multi:1", indexDocument.Descriptor);
        var target = ImageReference.Parse($"{fixture.Registry.Host}/transfer/multi:1");
        var pushed = await transfer.PushAsync(store, "multi:1", target);
        Assert.Equal(indexDocument.Digest, pushed.Descriptor.Digest);

        using var dir2 = new TempDir();
        var fresh = await NewStoreAsync(dir2);
        var native = await transfer.PullAsync(target, fresh);
        Assert.Equal(baseManifest.Digest, native.Descriptor.Digest);
        var riscv = await transfer.PullAsync(target, fresh, new PullOptions { Platform = Platform.Parse("linux/riscv64"), LocalName = "multi:riscv" });
        Assert.Equal(otherDescriptor.Digest, riscv.Descriptor.Digest);
        var all = await transfer.PullAsync(target, fresh, new PullOptions { AllPlatforms = true, LocalName = "multi:all" });
        Assert.Equal(indexDocument.Digest, all.Descriptor.Digest);

        var error = await Assert.ThrowsAsync<ImageNotFoundException>(() => transfer.PullAsync(target, fresh, new PullOptions { Platform = Platform.Parse("linux/s390x") }));
        Assert.Contains("linux/riscv64", error.Message, StringComparison.Ordinal);
        Assert.Contains("linux/s390x", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pull_that_keeps_failing_leaves_no_partial_blob_in_the_store()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10) });
        var source = ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest");
        proxy.Add("GET", "/blobs/sha256:", new Fault.DropAfter(500), times: 100);

        await Assert.ThrowsAnyAsync<OciException>(() => new ImageTransfer(client).PullAsync(source, store));

        // Whatever is in the store verifies (the tiny config may arrive whole before the drop point); the layer,
        // which never arrived whole, is not there.
        foreach (var blob in Directory.GetFiles(Path.Combine(store.Root, "blobs", "sha256")))
        {
            Assert.Equal("sha256:" + Path.GetFileName(blob), Digest.ComputeSha256(await File.ReadAllBytesAsync(blob)).ToString());
        }

        using var direct = new RegistryClient();
        var manifest = ManifestDocument.Parse((await direct.GetManifestAsync(Base)).Bytes);
        Assert.False(store.ContainsBlob(manifest.Manifest!.Layers[0].Digest));
        Assert.Null(await store.ResolveAsync(source.ToString()));
        var leftovers = Directory.EnumerateFiles(store.Root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("oci-layout", StringComparison.Ordinal) && !f.EndsWith("index.json", StringComparison.Ordinal)
                && !f.Contains("/.ocikit/", StringComparison.Ordinal) && !f.Contains("/blobs/sha256/", StringComparison.Ordinal))
            .ToList();
        Assert.True(leftovers.Count == 0, "left in the store: " + string.Join(", ", leftovers));
    }

    [Fact]
    public async Task The_first_failing_blob_of_a_concurrent_push_cancels_the_others_and_is_reported_typed()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10) });
        var transfer = new ImageTransfer(client);
        await transfer.PullAsync(Base, store);
        await StoreDerivedImageAsync(store, Base.ToString(), "derived:1", "concurrent");
        var manifest = (await store.ReadImageAsync("derived:1")).Manifest.Manifest!;
        Assert.True(manifest.Layers.Length >= 2, "the image needs two layers to move at once");

        // The base layer's lookup hangs for a minute; the new layer's is refused at once (400 is not transient).
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        proxy.Add("HEAD", $"/blobs/{manifest.Layers[0].Digest}", new Fault.Delay(TimeSpan.FromMinutes(1)));
        proxy.Add("HEAD", $"/blobs/{manifest.Layers[^1].Digest}", new Fault.Status(400));
        var target = ImageReference.Parse($"{proxy.Host}/concurrent/push:1");

        var started = DateTimeOffset.UtcNow;
        var error = await Assert.ThrowsAsync<RegistryException>(() => transfer.PushAsync(store, "derived:1", target));

        // The refusal itself, not an AggregateException or the cancellation it caused, and without waiting for the hung lookup.
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains(manifest.Layers[^1].Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(45), "the push waited for the hung blob instead of cancelling it");
        Assert.DoesNotContain(proxy.Requests, r => r.Method == "PUT" && r.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal));
        Assert.Null(await client.HeadManifestAsync(ImageReference.Parse($"{fixture.Registry.Host}/concurrent/push:1")));
    }

    [Fact]
    public async Task Pushing_a_name_the_store_lacks_is_a_typed_error()
    {
        using var dir = new TempDir();
        var store = await NewStoreAsync(dir);
        using var client = new RegistryClient();
        var error = await Assert.ThrowsAsync<ImageNotFoundException>(() => new ImageTransfer(client).PushAsync(store, "nope:1", ImageReference.Parse($"{fixture.Registry.Host}/x/y:1")));
        Assert.Contains("nope:1", error.Message, StringComparison.Ordinal);
    }
}
