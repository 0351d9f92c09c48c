using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Publish;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// The publish's registry cache (<c>ContainerCacheRepository</c>) with two stores ("agents") against one registry: the
/// second publishes the unchanged app without writing its large layer; small layers are left out of the cache.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PublishCacheTests(RegistryFixture registry)
{
    private static List<ProxiedRequest> BlobRequests(FaultProxy proxy, int from, string method, string path) =>
        [.. proxy.Requests.Skip(from).Where(r => r.Method == method && r.PathAndQuery.Contains(path, StringComparison.Ordinal))];

    [Fact]
    public async Task A_fresh_agent_publishing_an_unchanged_app_takes_its_large_layer_from_the_cache_writes_the_small_one_and_uploads_and_downloads_none()
    {
        using var dir = new TempDir("ocikit-publish-cache");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await ContainerizerTests.PushRequestAsync(dir, proxy, "cached/app");

        // The cache in the target repository itself: no permission beyond the push's.
        request = request with { CacheRepository = RegistryCache.ParseRepository($"{proxy.Host}/cached/app") };
        using var client = new RegistryClient();
        var firstStore = await OciLayout.OpenAsync(dir.Combine("agent-one"));
        var firstMessages = new List<string>();
        var first = await new Containerizer(firstStore, client).ContainerizeAsync(request, new Progress(firstMessages));
        Assert.All(first.Images[0].Layers, l => Assert.False(l.Reused));
        // The package layer (3 MiB) is recorded; the app's (a script) is small, and left out.
        Assert.Contains(firstMessages, m => m.Contains($"Cache {proxy.Host}/cached/app:{RegistryCache.DefaultTag}: 1 record(s) written", StringComparison.Ordinal));

        // A fresh agent: it hashes the files, finds the package layer's record and leaves its blob in the registry,
        // writes the small app layer itself (the same bytes), downloads no layer and uploads none (the target's
        // manifest names the app layer and the config, which are the same); only the manifest is put.
        var secondStore = await OciLayout.OpenAsync(dir.Combine("agent-two"));
        var before = proxy.Requests.Count;
        var second = await new Containerizer(secondStore, client).ContainerizeAsync(request);
        Assert.Equal(first.Manifest.Digest, second.Manifest.Digest);
        Assert.Equal([$"{proxy.Host}/cached/app:{RegistryCache.DefaultTag}", null], second.Images[0].Layers.Select(l => l.CacheSource));
        Assert.Equal(0, second.BlobsUploaded);
        Assert.Empty(BlobRequests(proxy, before, "PUT", "/blobs/uploads/"));
        Assert.Empty(BlobRequests(proxy, before, "PATCH", "/blobs/uploads/"));
        Assert.DoesNotContain(BlobRequests(proxy, before, "GET", "/blobs/sha256:"), r => second.Images[0].Layers.Any(l => r.PathAndQuery.EndsWith(l.Layer.Descriptor.Digest.ToString(), StringComparison.Ordinal)));
        Assert.Equal([false, true], second.Images[0].Layers.Select(l => secondStore.ContainsBlob(l.Layer.Descriptor.Digest)));

        // An agent that keeps the image downloads the layers, verified, into its store: the same image, stored whole.
        var thirdStore = await OciLayout.OpenAsync(dir.Combine("agent-three"));
        var third = await new Containerizer(thirdStore, client).ContainerizeAsync(request with { KeepInStore = true });
        Assert.Equal(first.Manifest.Digest, third.Manifest.Digest);
        Assert.Equal([true, false], third.Images[0].Layers.Select(l => l.Reused));
        await thirdStore.VerifyImageAsync((await thirdStore.ReadImageAsync(third.LocalName)).Image);

        // A changed file: that layer is written again, the other still comes from the cache.
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        var fourth = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("agent-four")), client).ContainerizeAsync(request);
        Assert.Equal([true, false], fourth.Images[0].Layers.Select(l => l.Reused));
        Assert.NotEqual(first.Manifest.Digest, fourth.Manifest.Digest);
    }

    [Fact]
    public async Task A_one_line_change_uploads_its_small_app_layer_and_pushes_while_the_cache_records_are_read_and_writes_no_record()
    {
        using var dir = new TempDir("ocikit-publish-cache");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await ContainerizerTests.PushRequestAsync(dir, proxy, "cached/slow");
        request = request with { CacheRepository = RegistryCache.ParseRepository($"{proxy.Host}/cached/slow") };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        await new Containerizer(store, client).ContainerizeAsync(request);

        // The same machine after a one-line change, against a registry slow to answer the cache's read.
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        proxy.Add("GET", $"/v2/cached/slow/manifests/{RegistryCache.DefaultTag}", new Fault.Delay(TimeSpan.FromSeconds(2)));
        var before = proxy.Requests.Count;
        var messages = new List<string>();
        var changed = await new Containerizer(store, client).ContainerizeAsync(request, new Progress(messages));

        // The app layer's upload started while the records were still on their way.
        var requests = proxy.Requests.Skip(before).ToList();
        var read = requests.First(r => r.Method == "GET" && r.PathAndQuery.EndsWith("/manifests/" + RegistryCache.DefaultTag, StringComparison.Ordinal));
        var upload = requests.First(r => r.Method == "POST" && r.PathAndQuery.Contains("/blobs/uploads/", StringComparison.Ordinal));
        Assert.InRange(upload.At - read.At, TimeSpan.FromSeconds(-5), TimeSpan.FromSeconds(1.5));

        // So did the new configuration's, and the image's manifest was put: only the cache's own write waited for them.
        var manifestPut = requests.First(r => r.Method == "PUT" && r.PathAndQuery == "/v2/cached/slow/manifests/1");
        Assert.InRange(manifestPut.At - read.At, TimeSpan.FromSeconds(-5), TimeSpan.FromSeconds(1.5));
        var config = OciKit.Images.ImageManifest.Parse((await client.GetManifestAsync(OciKit.References.ImageReference.Parse($"{proxy.Host}/cached/slow:1"))).Bytes).Config.Digest.ToString();
        var configPut = requests.First(r => r.Method == "PUT" && (r.PathAndQuery.Contains("digest=" + Uri.EscapeDataString(config), StringComparison.Ordinal) || r.PathAndQuery.Contains("digest=" + config, StringComparison.Ordinal)));
        Assert.InRange(configPut.At - read.At, TimeSpan.FromSeconds(-5), TimeSpan.FromSeconds(1.5));
        Assert.Equal([true, false], changed.Images[0].Layers.Select(l => l.Reused));
        // The small app layer is not recorded, and the package layer's record is there already: the cache is not written.
        Assert.Contains(messages, m => m.StartsWith($"Cache {proxy.Host}/cached/slow:{RegistryCache.DefaultTag}: all 1 record(s) held already, nothing written", StringComparison.Ordinal));
        Assert.DoesNotContain(requests, r => r.Method == "PUT" && r.PathAndQuery.EndsWith("/manifests/" + RegistryCache.DefaultTag, StringComparison.Ordinal));

        // Another agent takes the package layer from the cache and writes the same app layer: the same image.
        var other = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("other")), client).ContainerizeAsync(request);
        Assert.Equal(changed.Manifest.Digest, other.Manifest.Digest);
        Assert.Equal([true, false], other.Images[0].Layers.Select(l => l.Reused));
        Assert.Equal(0, other.BlobsUploaded);
    }

    private sealed class Progress(List<string> messages) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (messages)
            {
                messages.Add(value);
            }
        }
    }
}
