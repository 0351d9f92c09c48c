using System.Security.Cryptography;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// The library facade behind OciPublish, without MSBuild: the base comes from the test registry, the image stays in
/// the local store and goes to archives that skopeo and podman read.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerizerTests(RegistryFixture registry)
{
    [Theory]
    [InlineData(ContainerImageFormat.Oci, "oci-archive")]
    [InlineData(ContainerImageFormat.Docker, "docker-archive")]
    public async Task Image_kept_in_the_local_store_is_deterministic_and_its_archive_runs(ContainerImageFormat format, string transport)
    {
        using var dir = new TempDir("ocikit-containerize");
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "run.sh"), "#!/bin/sh\necho \"hi from $(cat /app/lib/data.txt) as $(id -u) in $PWD: $*\"\n");
        File.SetUnixFileMode(Path.Combine(publish, "run.sh"), (UnixFileMode)0x1ED);
        Directory.CreateDirectory(Path.Combine(publish, "lib"));
        await File.WriteAllTextAsync(Path.Combine(publish, "lib", "data.txt"), "a package");
        var files = PublishLayers.Collect(publish, [new PublishedFileOrigin("lib/data.txt", "Some.Package")]);
        var request = new ContainerizeRequest
        {
            Files = files,
            BaseImage = ImageReference.Parse(registry.BaseImage),
            Repository = "facade/app",
            Tags = ["1", "2"],
            User = "1654",
            Entrypoint = new ContainerEntrypoint(["/app/run.sh"], DefaultArgs: ["default"]),
            Format = format,
            ArchiveOutputPath = dir.Path + "/out/",
        };

        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var messages = new List<string>();
        var first = await new Containerizer(store, client).ContainerizeAsync(request, new Progress(messages));
        var second = await new Containerizer(store, client).ContainerizeAsync(request);

        Assert.Equal(first.Manifest.Digest, second.Manifest.Digest);
        Assert.All(first.Images[0].Layers, l => Assert.False(l.Reused));
        Assert.All(second.Images[0].Layers, l => Assert.True(l.Reused));
        Assert.Equal(["facade/app:1", "facade/app:2"], first.References.ToArray());
        Assert.Equal(0, first.BlobsUploaded);
        Assert.Equal([PublishLayerKind.Packages, PublishLayerKind.App], first.Images[0].Layers.Select(l => l.Kind));
        // Written while the base is read, the layers still carry the image's flavor of media type.
        var layerType = format == ContainerImageFormat.Docker ? OciKit.Primitives.MediaTypes.DockerLayerGzip : OciKit.Primitives.MediaTypes.OciLayerGzip;
        Assert.All(first.Images[0].Layers, l => Assert.Equal(layerType, l.Layer.Descriptor.MediaType));
        Assert.Equal(first.Manifest.Digest, (await store.ResolveAsync("facade/app:2"))!.Digest);
        Assert.Equal(registry.BaseDigest, first.Images[0].BaseManifest.Digest.ToString());
        Assert.Contains(messages, m => m.StartsWith("Layer App: 1 file(s)", StringComparison.Ordinal));
        Assert.Equal(dir.Combine("out", "facade-app.tar"), first.ArchivePath);

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", $"{transport}:{first.ArchivePath}"]);
        Assert.Contains(format == ContainerImageFormat.Docker ? "vnd.docker.distribution.manifest.v2+json" : "vnd.oci.image.manifest.v1+json", inspect.StdOut, StringComparison.Ordinal);

        using var containers = new ContainerTools();
        var run = await containers.PodmanAsync(["run", "--rm", "--network=none", $"{transport}:{first.ArchivePath}"]);
        Assert.Equal("hi from a package as 1654 in /app: default", run.EnsureSuccess().StdOut.Trim());

        // A change to the app's own file rewrites only the app layer; the package layer is taken from the store.
        await File.AppendAllTextAsync(Path.Combine(publish, "run.sh"), "# changed\n");
        var changed = await new Containerizer(store, client).ContainerizeAsync(request with { ArchiveOutputPath = null });
        Assert.NotEqual(first.Manifest.Digest, changed.Manifest.Digest);
        Assert.Equal([true, false], changed.Images[0].Layers.Select(l => l.Reused));
        Assert.Equal(first.Images[0].Layers[0].Layer, changed.Images[0].Layers[0].Layer);
    }

    /// <summary>A base built by a Dockerfile with RUN (as <c>ocikit build --push</c> makes it) serves as ContainerBaseImage.</summary>
    [Fact]
    public async Task A_base_built_with_RUN_is_a_base_for_publishing()
    {
        using var dir = new TempDir("ocikit-containerize");
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        var baseTag = $"{registry.Registry.Host}/facade/run-base:1";
        using var client = new RegistryClient();
        var built = await OciKit.Build.ImageBuilder.BuildAsync(new OciKit.Build.BuildOptions(context)
        {
            DockerfileText = $"FROM {registry.BaseImage}\nRUN echo 'from RUN' > /etc/base-note\n",
            StorePath = dir.Combine("build-store"),
            Tags = [baseTag],
            BaseImages = new OciKit.Transfer.RegistryBaseImages(client),
        });
        await new OciKit.Transfer.ImageDelivery(await OciLayout.OpenAsync(dir.Combine("build-store"))).PushAsync(client, built.Tags);

        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "run.sh"), "#!/bin/sh\ncat /etc/base-note\n");
        File.SetUnixFileMode(Path.Combine(publish, "run.sh"), (UnixFileMode)0x1ED);
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, []),
            BaseImage = ImageReference.Parse(baseTag),
            Repository = "facade/on-run-base",
            Tags = ["1"],
            Entrypoint = new ContainerEntrypoint(["/app/run.sh"]),
            ArchiveOutputPath = dir.Path + "/out/",
        };
        var result = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("store")), client).ContainerizeAsync(request);
        Assert.Equal(built.Digest, result.Images[0].BaseManifest.Digest);

        using var containers = new ContainerTools();
        var run = await containers.PodmanAsync(["run", "--rm", "--network=none", $"oci-archive:{result.ArchivePath}"]);
        Assert.Equal("from RUN", run.EnsureSuccess().StdOut.Trim());
    }

    [Fact]
    public async Task A_missing_base_image_is_reported_as_not_found()
    {
        using var dir = new TempDir("ocikit-containerize");
        await File.WriteAllTextAsync(dir.Combine("app.dll"), "x");
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(dir.Path, []),
            BaseImage = ImageReference.Parse($"{registry.Registry.Host}/base/absent:1"),
            Repository = "facade/absent",
            Entrypoint = new ContainerEntrypoint(["/app/app"]),
        };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        var e = await Assert.ThrowsAsync<ImageNotFoundException>(() => new Containerizer(store, client).ContainerizeAsync(request));
        Assert.Equal($"{registry.Registry.Host}/base/absent:1", e.Name);
    }

    [Fact]
    public async Task A_pushed_image_has_its_new_layers_uploaded_while_they_are_built_and_the_same_digest_as_a_local_build()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await PushRequestAsync(dir, proxy, "facade/early");
        using var client = new RegistryClient();
        var messages = new List<string>();

        var pushed = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("store")), client).ContainerizeAsync(request, new Progress(messages));
        var local = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("local")), client).ContainerizeAsync(request with { Registry = null });

        Assert.Equal(local.Manifest.Digest, pushed.Manifest.Digest);
        Assert.Equal(pushed.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/early:1")))!.Digest);
        Assert.Equal(3, pushed.BlobsUploaded); // the packages and app layers and the config
        Assert.Equal(1, pushed.BlobsReused); // busybox's layer, mounted from its repository
        Assert.DoesNotContain(messages, m => m.StartsWith("Retrying", StringComparison.Ordinal));

        // Each new layer went up while being built, in one streamed upload finished before the manifest was put, and
        // the push did not ask for it again (the early upload had confirmed it).
        var requests = proxy.Requests.ToList();
        var manifestPut = requests.FindIndex(r => r.Method == "PUT" && r.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal));
        foreach (var layer in pushed.Images[0].Layers)
        {
            var digest = layer.Layer.Descriptor.Digest.ToString();
            var finished = requests.FindIndex(r => r.Method == "PUT"
                && (r.PathAndQuery.Contains("digest=" + Uri.EscapeDataString(digest), StringComparison.Ordinal) || r.PathAndQuery.Contains("digest=" + digest, StringComparison.Ordinal)));
            Assert.InRange(finished, 0, manifestPut - 1);
            Assert.DoesNotContain(requests, r => r.Method == "HEAD" && r.PathAndQuery.EndsWith("/blobs/" + digest, StringComparison.Ordinal));
        }

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{registry.Registry.Host}/facade/early:1"]);
        Assert.Contains(pushed.Images[0].Layers[^1].Layer.Descriptor.Digest.ToString(), inspect.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_streamed_layer_upload_that_fails_is_retried_by_the_push()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        // A layer large enough to be still being written when its upload starts (so it streams, in a PATCH that cannot
        // be replayed), whose PATCH and PUT fail: the push sends that blob again.
        proxy.Add("PATCH", "/v2/facade/retried/blobs/uploads/", new Fault.ResetBeforeForwarding());
        proxy.Add("PUT", "/v2/facade/retried/blobs/uploads/", new Fault.ResetBeforeForwarding());
        var request = await PushRequestAsync(dir, proxy, "facade/retried");
        await File.WriteAllBytesAsync(dir.Combine("publish", "lib", "data.bin"), RandomNumberGenerator.GetBytes(24 * 1024 * 1024));
        using var client = new RegistryClient();
        var messages = new List<string>();

        var result = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("store")), client).ContainerizeAsync(request, new Progress(messages));

        Assert.Contains(messages, m => m.StartsWith("Retrying in the push: streamed upload of a layer", StringComparison.Ordinal));
        Assert.Equal(3, result.BlobsUploaded);
        Assert.Equal(result.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/retried:1")))!.Digest);
        await Tool.RunCheckedAsync("skopeo", ["copy", "--src-tls-verify=false", $"docker://{registry.Registry.Host}/facade/retried:1", $"oci:{dir.Combine("copy")}:x"]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_registry_refusing_uploads_fails_with_a_registry_error_and_no_manifest_while_the_store_keeps_the_whole_image_or_none(bool keepInStore)
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        proxy.Add("PATCH", "/v2/facade/refused/blobs/uploads/", new Fault.Status(400), times: 100);
        proxy.Add("PUT", "/v2/facade/refused/blobs/uploads/", new Fault.Status(400), times: 100);
        var request = await PushRequestAsync(dir, proxy, "facade/refused") with { KeepInStore = keepInStore };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        await Assert.ThrowsAsync<RegistryException>(() => new Containerizer(store, client).ContainerizeAsync(request));

        Assert.Null(await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/refused:1")));
        Assert.DoesNotContain(proxy.Requests, r => r.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal) && r.Method == "PUT");
        var stored = await store.ResolveAsync($"{proxy.Host}/facade/refused:1");
        if (keepInStore)
        {
            Assert.NotNull(stored);
            var image = await store.ReadManifestAsync(stored);
            Assert.All(image.Manifest!.Layers, l => Assert.True(store.ContainsBlob(l.Digest)));
        }
        else
        {
            // Only pushed: nothing recorded in the store (its base layers were never pulled).
            Assert.Null(stored);
            Assert.Empty(await store.ListImagesAsync());
        }

        Assert.Empty(Directory.EnumerateFiles(dir.Combine("store"), "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_pushed_only_image_is_not_stored_downloads_no_base_layer_runs_and_a_change_uploads_only_the_app_layer_and_config()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await PushRequestAsync(dir, proxy, "facade/pushed-only");
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var messages = new List<string>();

        var pushed = await new Containerizer(store, client).ContainerizeAsync(request, new Progress(messages));
        var blobGets = proxy.Requests.Where(r => r.Method == "GET" && r.PathAndQuery.Contains("/blobs/sha256:", StringComparison.Ordinal)).ToList();
        var kept = await new Containerizer(await OciLayout.OpenAsync(dir.Combine("kept")), client).ContainerizeAsync(request with { KeepInStore = true, Repository = "facade/pushed-kept" });

        // The same image as when it is stored, but the store lists none; its new layers are blobs of the store.
        Assert.False(pushed.Stored);
        Assert.True(kept.Stored);
        Assert.Equal(kept.Manifest.Digest, pushed.Manifest.Digest);
        Assert.Empty(await store.ListImagesAsync());
        Assert.All(pushed.Images[0].Layers, l => Assert.True(store.ContainsBlob(l.Layer.Descriptor.Digest)));
        Assert.Contains(messages, m => m.Contains("not stored", StringComparison.Ordinal));

        // Of the base only the manifest and the configuration were downloaded: its layer was mounted.
        var baseManifest = OciKit.Images.ImageManifest.Parse((await client.GetManifestAsync(ImageReference.Parse(registry.BaseImage))).Bytes);
        Assert.Equal([$"/v2/{RegistryFixture.BaseRepository}/blobs/{baseManifest.Config.Digest}"], blobGets.Select(r => r.PathAndQuery));
        Assert.Equal(3, pushed.BlobsUploaded);
        Assert.Equal(1, pushed.BlobsReused);

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{registry.Registry.Host}/facade/pushed-only:1"]);
        Assert.Contains(pushed.Manifest.Digest.ToString(), inspect.StdOut, StringComparison.Ordinal);
        using (var containers = new ContainerTools())
        {
            Assert.Equal("hi", (await containers.RunFromRegistryAsync($"{registry.Registry.Host}/facade/pushed-only:1", [])).Trim());
        }

        // A one-line change: the package layer is reused from the store's blobs, only the app layer and the config go up.
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        var before = proxy.Requests.Count;
        var changed = await new Containerizer(store, client).ContainerizeAsync(request);
        Assert.NotEqual(pushed.Manifest.Digest, changed.Manifest.Digest);
        Assert.Equal([true, false], changed.Images[0].Layers.Select(l => l.Reused));
        Assert.Equal(2, changed.BlobsUploaded);
        var uploads = proxy.Requests.Skip(before).Where(r => r.Method == "PUT" && r.PathAndQuery.Contains("/blobs/uploads/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, uploads.Count);
        Assert.Empty(await store.ListImagesAsync());

        // The manifest under the target's tag named the base's layer and the package layer: neither was asked for (no
        // HEAD), and the new config went up without asking either.
        Assert.Single(proxy.Requests.Skip(before), r => r.Method == "GET" && r.PathAndQuery == "/v2/facade/pushed-only/manifests/1");
        Assert.DoesNotContain(proxy.Requests.Skip(before), r => r.Method == "HEAD" && r.PathAndQuery.Contains("/blobs/", StringComparison.Ordinal));
        Assert.Equal(changed.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/pushed-only:1")))!.Digest);
        await Tool.RunCheckedAsync("skopeo", ["copy", "--src-tls-verify=false", $"docker://{registry.Registry.Host}/facade/pushed-only:1", $"oci:{dir.Combine("copy")}:x"]);
    }

    [Fact]
    public async Task Reads_started_ahead_are_taken_by_the_publish_they_were_made_for_and_read_afresh_by_another()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await PushRequestAsync(dir, proxy, "facade/prefetched");
        request = request with { CacheRepository = RegistryCache.ParseRepository($"{proxy.Host}/facade/prefetched") };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var first = await new Containerizer(store, client).ContainerizeAsync(request);
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        int Gets(string path) => proxy.Requests.Count(r => r.Method == "GET" && r.PathAndQuery == path);
        var target = "/v2/facade/prefetched/manifests/1";
        var cache = $"/v2/facade/prefetched/manifests/{RegistryCache.DefaultTag}";
        var baseTag = $"/v2/{RegistryFixture.BaseRepository}/manifests/latest";

        // Started ahead (as the MSBuild task's host does while the project compiles), then taken: each read once.
        var (targets, caches, bases) = (Gets(target), Gets(cache), Gets(baseTag));
        var prefetch = ContainerizePrefetch.Start(client, store, ImageReference.Parse($"{proxy.Host}/facade/prefetched:1"), request.CacheRepository, request.BaseImage);
        await using (prefetch)
        {
            var messages = new List<string>();
            var changed = await new Containerizer(store, client).ContainerizeAsync([request], prefetch, new Progress(messages));
            Assert.Equal((targets + 1, caches + 1, bases + 1), (Gets(target), Gets(cache), Gets(baseTag)));
            Assert.NotEqual(first.Manifest.Digest, changed.Manifest.Digest);
            Assert.Equal(changed.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/prefetched:1")))!.Digest);
            Assert.Contains(messages, m => m.Contains("record(s) read", StringComparison.Ordinal));
        }

        // Made for another target, cache and base: nothing taken, everything read afresh; a prefetch opens no upload session.
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed again\n");
        (targets, caches, bases) = (Gets(target), Gets(cache), Gets(baseTag));
        var elsewhere = ContainerizePrefetch.Start(client, store, ImageReference.Parse($"{proxy.Host}/facade/other:1"), RegistryCache.ParseRepository($"{proxy.Host}/facade/other"), ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:other"));
        await using (elsewhere)
        {
            var again = await new Containerizer(store, client).ContainerizeAsync([request], elsewhere);
            Assert.Equal((targets + 1, caches + 1, bases + 1), (Gets(target), Gets(cache), Gets(baseTag)));
            Assert.Equal(again.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/prefetched:1")))!.Digest);
        }

        Assert.DoesNotContain(proxy.Requests, r => r.PathAndQuery.StartsWith("/v2/facade/other/blobs/", StringComparison.Ordinal));
        await Tool.RunCheckedAsync("skopeo", ["copy", "--src-tls-verify=false", $"docker://{registry.Registry.Host}/facade/prefetched:1", $"oci:{dir.Combine("copy")}:x"]);
    }

    [Fact]
    public async Task Upload_sessions_a_prefetch_opens_once_a_publish_is_sure_are_taken_by_it_and_cancelled_when_none_follows()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await PushRequestAsync(dir, proxy, "facade/sessions");
        request = request with { CacheRepository = RegistryCache.ParseRepository($"{proxy.Host}/facade/sessions") };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        await new Containerizer(store, client).ContainerizeAsync(request);
        var target = ImageReference.Parse($"{proxy.Host}/facade/sessions:1");
        int Count(string method) => proxy.Requests.Count(r => r.Method == method && r.PathAndQuery.StartsWith("/v2/facade/sessions/blobs/uploads/", StringComparison.Ordinal));
        async Task WaitForAsync(string method, int count)
        {
            for (var waited = 0; Count(method) < count && waited < 200; waited++)
            {
                await Task.Delay(50);
            }

            Assert.Equal(count, Count(method));
        }

        // A prefetch opens none by itself; told a publish follows, one per upload sure to come: the new layer and the
        // configuration.
        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        var posts = Count("POST");
        var prefetch = ContainerizePrefetch.Start(client, store, target, request.CacheRepository, request.BaseImage);
        await using (prefetch)
        {
            await Task.Delay(300);
            Assert.Equal(posts, Count("POST"));
            prefetch.PrepareUploads();
            await WaitForAsync("POST", posts + 2);

            // The publish takes them: it opens none of its own, and none is left to cancel.
            var changed = await new Containerizer(store, client).ContainerizeAsync([request], prefetch);
            Assert.Equal((posts + 2, 0), (Count("POST"), Count("DELETE")));
            Assert.Equal(2, changed.BlobsUploaded);
            Assert.Equal(changed.Manifest.Digest, (await client.HeadManifestAsync(target))!.Digest);
        }

        // No publish follows (the build stopped): disposing the prefetch cancels every session it opened.
        var followed = ContainerizePrefetch.Start(client, store, target, request.CacheRepository, request.BaseImage);
        await using (followed)
        {
            followed.PrepareUploads();
            await WaitForAsync("POST", posts + 4);
        }

        Assert.Equal(2, Count("DELETE"));
        await Tool.RunCheckedAsync("skopeo", ["copy", "--src-tls-verify=false", $"docker://{registry.Registry.Host}/facade/sessions:1", $"oci:{dir.Combine("copy")}:x"]);
    }

    [Fact]
    public async Task A_blob_the_targets_manifest_names_but_the_registry_lost_is_asked_for_and_uploaded_again()
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        var request = await PushRequestAsync(dir, proxy, "facade/lost-blob");
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var pushed = await new Containerizer(store, client).ContainerizeAsync(request);

        // The registry loses the package layer's link in the repository while the tag's manifest still names it.
        var packages = pushed.Images[0].Layers[0].Layer.Descriptor.Digest;
        var target = ImageReference.Parse($"{proxy.Host}/facade/lost-blob:1");
        await client.DeleteBlobAsync(target, packages);
        Assert.Null(await client.HeadBlobAsync(target, packages));

        await File.AppendAllTextAsync(dir.Combine("publish", "run.sh"), "# changed\n");
        var messages = new List<string>();
        var changed = await new Containerizer(store, client).ContainerizeAsync(request, new Progress(messages));

        Assert.Contains(messages, m => m.StartsWith("The registry lacks a blob its manifest under", StringComparison.Ordinal));
        Assert.Equal(changed.Manifest.Digest, (await client.HeadManifestAsync(target))!.Digest);
        Assert.NotNull(await client.HeadBlobAsync(target, packages));
        await Tool.RunCheckedAsync("skopeo", ["copy", "--src-tls-verify=false", $"docker://{registry.Registry.Host}/facade/lost-blob:1", $"oci:{dir.Combine("copy")}:x"]);
    }

    [Fact]
    public async Task A_pushed_only_image_on_a_base_in_another_registry_has_the_base_layers_streamed_between_the_registries()
    {
        using var dir = new TempDir("ocikit-containerize");
        await using var target = await RegistryServer.StartAnonymousAsync();
        using var proxy = new FaultProxy(registry.Registry.BaseUri); // the base's registry, watched
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "run.sh"), "#!/bin/sh\necho streamed\n");
        File.SetUnixFileMode(Path.Combine(publish, "run.sh"), (UnixFileMode)0x1ED);
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, []),
            BaseImage = ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest"),
            Repository = "facade/streamed",
            Tags = ["1"],
            Registry = target.Host,
            Entrypoint = new ContainerEntrypoint(["/app/run.sh"]),
        };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        var result = await new Containerizer(store, client).ContainerizeAsync(request);

        Assert.False(result.Stored);
        Assert.Empty(await store.ListImagesAsync());
        // The base's layer was read from its registry once (to the target), and never written into the store.
        var baseManifest = OciKit.Images.ImageManifest.Parse((await client.GetManifestAsync(ImageReference.Parse(registry.BaseImage))).Bytes);
        var baseLayer = Assert.Single(baseManifest.Layers);
        Assert.Single(proxy.Requests, r => r.Method == "GET" && r.PathAndQuery.EndsWith("/blobs/" + baseLayer.Digest, StringComparison.Ordinal));
        Assert.False(store.ContainsBlob(baseLayer.Digest));
        Assert.Equal(3, result.BlobsUploaded); // the base's layer, the app layer and the config

        using var containers = new ContainerTools();
        Assert.Equal("streamed", (await containers.RunFromRegistryAsync($"{target.Host}/facade/streamed:1", [])).Trim());
    }

    [Theory]
    [InlineData("keep")]
    [InlineData("archive")]
    [InlineData("sbom")]
    [InlineData("signing")]
    public async Task A_pushed_image_stays_in_the_store_when_asked_or_when_a_later_step_reads_it(string why)
    {
        using var dir = new TempDir("ocikit-containerize");
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        using var key = OciKit.Signing.SigningKey.Generate(OciKit.Signing.SigningKeyType.EcdsaP256);
        var request = await PushRequestAsync(dir, proxy, "facade/kept-" + why);
        request = why switch
        {
            "keep" => request with { KeepInStore = true },
            "archive" => request with { ArchiveOutputPath = dir.Path + "/out/" },
            "sbom" => request with { GenerateSbom = true },
            _ => request with { SigningKey = key },
        };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        var result = await new Containerizer(store, client).ContainerizeAsync(request);

        Assert.True(result.Stored);
        Assert.Equal(result.Manifest.Digest, (await store.ResolveAsync(result.LocalName))!.Digest);
        var image = await store.ReadImageAsync(result.LocalName);
        await store.VerifyImageAsync(image.Image);
        Assert.Equal(result.Manifest.Digest, (await client.HeadManifestAsync(ImageReference.Parse($"{proxy.Host}/facade/kept-{why}:1")))!.Digest);
    }

    /// <summary>A publish directory with a package file and the app's script, pushed through the proxy onto busybox.</summary>
    internal static async Task<ContainerizeRequest> PushRequestAsync(TempDir dir, FaultProxy proxy, string repository)
    {
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "run.sh"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(publish, "run.sh"), (UnixFileMode)0x1ED);
        Directory.CreateDirectory(Path.Combine(publish, "lib"));
        // Incompressible and over a megabyte, so the streamed upload spans many compressed blocks.
        await File.WriteAllBytesAsync(Path.Combine(publish, "lib", "data.bin"), RandomNumberGenerator.GetBytes(3 * 1024 * 1024));
        return new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, [new PublishedFileOrigin("lib/data.bin", "Some.Package")]),
            BaseImage = ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest"),
            Repository = repository,
            Tags = ["1"],
            Registry = proxy.Host,
            Entrypoint = new ContainerEntrypoint(["/app/run.sh"]),
            Created = DateTimeOffset.FromUnixTimeSeconds(1700000000),
        };
    }

    [Fact]
    public async Task A_store_only_sbom_is_kept_beside_the_image_and_a_signing_key_without_a_registry_is_refused_first()
    {
        using var dir = new TempDir("ocikit-containerize-sbom");
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "app.deps.json"), """{ "libraries": { "app/1.0.0": { "type": "project" }, "Serilog/3.1.1": { "type": "package" } } }""");
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, []),
            BaseImage = ImageReference.Parse(registry.BaseImage),
            Repository = "facade/sbom",
            Tags = ["1"],
            Entrypoint = new ContainerEntrypoint(["/app/app"]),
            GenerateSbom = true,
        };

        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        using (var key = OciKit.Signing.SigningKey.Generate(OciKit.Signing.SigningKeyType.EcdsaP256))
        {
            var error = await Assert.ThrowsAsync<ArgumentException>(() => new Containerizer(store, client).ContainerizeAsync(request with { SigningKey = key }));
            Assert.Contains("needs a registry", error.Message, StringComparison.Ordinal);
            Assert.Empty(await store.ListImagesAsync());
        }

        var result = await new Containerizer(store, client).ContainerizeAsync(request);
        var sbom = Assert.Single(result.Sboms);
        Assert.Equal(result.Manifest.Digest, sbom.Subject);
        Assert.Null(result.Signature);
        var json = System.Text.Encoding.UTF8.GetString((await OciKit.Sbom.SbomStore.ReadAttachedAsync(store, "facade/sbom:1")).Span);
        Assert.Contains("pkg:nuget/Serilog@3.1.1", json, StringComparison.Ordinal);
    }

    private sealed class Progress(List<string> messages) : IProgress<string>
    {
        public void Report(string value) => messages.Add(value);
    }
}
