using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Tests.Images;

namespace OciKit.Tests.Layout;

public sealed class OciLayoutTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-layout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Opening_an_empty_directory_creates_a_valid_layout()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        Assert.Empty(ConformanceTests.Schemas.Check("image-layout-schema.json", File.ReadAllBytes(Path.Combine(_dir, "oci-layout"))));
        Assert.Empty(ConformanceTests.Schemas.Check("image-index-schema.json", File.ReadAllBytes(Path.Combine(_dir, "index.json"))));
        Assert.True(Directory.Exists(Path.Combine(_dir, "blobs", "sha256")));
        Assert.Empty(await layout.ListImagesAsync());
    }

    [Fact]
    public async Task Opening_without_create_fails_when_there_is_no_layout()
    {
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => OciLayout.OpenAsync(_dir, new OciLayoutOptions { CreateIfMissing = false }));
    }

    [Fact]
    public async Task A_written_blob_is_at_its_digest_path_and_no_temporary_file_remains()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var content = RandomNumberGenerator.GetBytes(300_000);
        var descriptor = await layout.WriteBlobAsync(new MemoryStream(content), MediaTypes.OciLayer);
        Assert.Equal(Digest.ComputeSha256(content), descriptor.Digest);
        Assert.Equal(content.Length, descriptor.Size);
        Assert.Equal(content, File.ReadAllBytes(layout.BlobPath(descriptor.Digest)));
        Assert.Empty(TempFiles());
        await using var stream = layout.OpenBlob(descriptor.Digest);
        Assert.Equal(descriptor.Digest, await Digest.ComputeSha256Async(stream));
    }

    [Fact]
    public async Task A_blob_with_the_wrong_digest_is_rejected_and_nothing_becomes_visible()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var content = "hello"u8.ToArray();
        var wrong = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256("other"u8), content.Length);
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => layout.WriteBlobAsync(new MemoryStream(content), wrong));
        Assert.Equal(wrong.Digest, e.Expected);
        Assert.Equal(Digest.ComputeSha256(content), e.Actual);
        Assert.False(layout.ContainsBlob(wrong.Digest));
        Assert.False(layout.ContainsBlob(e.Actual));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task A_truncated_blob_is_rejected_and_nothing_becomes_visible()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var content = RandomNumberGenerator.GetBytes(1000);
        var expected = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        var e = await Assert.ThrowsAsync<OciFormatException>(() => layout.WriteBlobAsync(new MemoryStream(content[..600]), expected));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.False(layout.ContainsBlob(expected.Digest));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task A_cancelled_write_leaves_nothing_behind()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var content = RandomNumberGenerator.GetBytes(1_000_000);
        using var cts = new CancellationTokenSource();
        var stream = new CancellingStream(new MemoryStream(content), cts, cancelAfter: 300_000);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => layout.WriteBlobAsync(stream, MediaTypes.OciLayer, cts.Token));
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "blobs", "sha256")));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task A_stored_blob_that_was_corrupted_is_detected_on_read()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var descriptor = await layout.WriteBlobAsync("{\"a\":1}"u8.ToArray(), "application/vnd.example+json");
        await File.WriteAllBytesAsync(layout.BlobPath(descriptor.Digest), "{\"a\":2}"u8.ToArray());
        await Assert.ThrowsAsync<DigestMismatchException>(() => layout.ReadBlobAsync(descriptor));
    }

    [Fact]
    public async Task Malformed_index_json_is_a_typed_error_naming_the_file()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        await File.WriteAllTextAsync(Path.Combine(_dir, "index.json"), "{\"schemaVersion\":2,\"manifests\":[{]}");
        var e = await Assert.ThrowsAsync<OciFormatException>(() => layout.ListImagesAsync());
        Assert.Contains("index.json", e.Subject, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(_dir, "index.json"), "{\"schemaVersion\":2}");
        e = await Assert.ThrowsAsync<OciFormatException>(() => layout.ResolveAsync("x"));
        Assert.Contains("manifests", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_writers_of_the_same_blob_end_with_one_valid_blob()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var content = RandomNumberGenerator.GetBytes(2_000_000);
        var expected = new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256(content), content.Length);
        var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            // Half know the digest (and may skip the write), half compute it.
            return i % 2 == 0
                ? await layout.WriteBlobAsync(new MemoryStream(content), expected)
                : await layout.WriteBlobAsync(new MemoryStream(content), MediaTypes.OciLayerGzip);
        }));
        var results = await Task.WhenAll(writers);
        Assert.All(results, r => Assert.Equal(expected.Digest, r.Digest));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "blobs", "sha256")));
        Assert.Equal(content, File.ReadAllBytes(layout.BlobPath(expected.Digest)));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task Concurrent_taggers_all_land_in_index_json()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var image = await StoreImageAsync(layout, "base", "one");
        // Each tagger opens the layout itself, as separate processes would; the lock file serializes their updates.
        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            var own = await OciLayout.OpenAsync(_dir);
            await own.TagAsync($"app:{i}", image);
        })));
        var names = (await layout.ListImagesAsync()).Select(i => i.Name).ToHashSet();
        Assert.All(Enumerable.Range(0, 12), i => Assert.Contains($"app:{i}", names));
    }

    [Fact]
    public async Task Tag_resolve_retag_and_remove()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var first = await StoreImageAsync(layout, "hello:latest", "one");
        Assert.Equal(first.Digest, (await layout.ResolveAsync("hello"))!.Digest);
        Assert.Equal(first.Digest, (await layout.ResolveAsync("hello:latest"))!.Digest);
        Assert.Null(await layout.ResolveAsync("hello:other"));

        var second = await StoreImageAsync(layout, "hello:latest", "two");
        Assert.Equal(second.Digest, (await layout.ResolveAsync("hello"))!.Digest);
        Assert.Single(await layout.ListImagesAsync());

        var (image, manifest) = await layout.ReadImageAsync("hello:latest", Platform.LinuxAmd64);
        Assert.Equal(second.Digest, manifest.Digest);
        Assert.Single(image.Layers);

        Assert.True(await layout.RemoveAsync("hello:latest"));
        Assert.False(await layout.RemoveAsync("hello:latest"));
        Assert.Empty(await layout.ListImagesAsync());
        Assert.Throws<ArgumentException>(() => { _ = layout.TagAsync("bad name", second); });
    }

    [Fact]
    public async Task Garbage_collection_keeps_what_additional_roots_reach()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var shared = await WriteLayerAsync(layout, "shared");
        var a = await StoreImageAsync(layout, "a:1", "only-a", shared);
        var (imageA, _) = await layout.ReadImageAsync("a:1");
        Assert.True(await layout.RemoveAsync("a:1"));

        var kept = await layout.CollectGarbageAsync([a]);
        Assert.Equal(0, kept.RemovedBlobs);
        Assert.True(layout.ContainsBlob(imageA.Layers[1].Digest));

        var collected = await layout.CollectGarbageAsync();
        Assert.Equal(4, collected.RemovedBlobs); // a's manifest, config and both layers
    }

    [Fact]
    public async Task Garbage_collection_removes_only_unreferenced_blobs()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var shared = await WriteLayerAsync(layout, "shared");
        var a = await StoreImageAsync(layout, "a:1", "only-a", shared);
        var b = await StoreImageAsync(layout, "b:1", "only-b", shared);
        var orphan = await layout.WriteBlobAsync("orphan"u8.ToArray(), MediaTypes.OciLayer);
        var (imageA, _) = await layout.ReadImageAsync("a:1");
        var (imageB, _) = await layout.ReadImageAsync("b:1");

        var first = await layout.CollectGarbageAsync();
        Assert.Equal(1, first.RemovedBlobs);
        Assert.False(layout.ContainsBlob(orphan.Digest));

        Assert.True(await layout.RemoveAsync("a:1"));
        var second = await layout.CollectGarbageAsync();
        Assert.Equal(3, second.RemovedBlobs); // a's manifest, config and own layer
        Assert.False(layout.ContainsBlob(a.Digest));
        Assert.False(layout.ContainsBlob(imageA.Layers[1].Digest));
        Assert.True(layout.ContainsBlob(shared.Layer.Digest));
        Assert.True(layout.ContainsBlob(b.Digest));
        Assert.All(imageB.Layers, l => Assert.True(layout.ContainsBlob(l.Digest)));
        Assert.Equal(4, second.KeptBlobs);
    }

    [Fact]
    public async Task A_hashed_scratch_file_becomes_a_blob_by_a_rename_and_a_wrong_size_is_refused()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        using var directory = layout.CreateScratchDirectory();
        var scratch = directory.Path;
        var content = "layer bytes"u8.ToArray();
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);

        var wrong = Path.Combine(scratch, "wrong");
        await File.WriteAllBytesAsync(wrong, content[..4]);
        Assert.Throws<OciFormatException>(() => layout.MoveBlobFromFile(wrong, blob));
        Assert.False(layout.ContainsBlob(blob.Digest));

        var right = Path.Combine(scratch, "right");
        await File.WriteAllBytesAsync(right, content);
        layout.MoveBlobFromFile(right, blob);
        Assert.False(File.Exists(right));
        Assert.Equal(content, await layout.ReadBlobAsync(blob with { MediaType = MediaTypes.OciConfig }));

        var again = Path.Combine(scratch, "again");
        await File.WriteAllBytesAsync(again, content);
        layout.MoveBlobFromFile(again, blob);
        Assert.False(File.Exists(again));
        Assert.True(layout.ContainsBlob(blob.Digest));
    }

    [Fact]
    public async Task A_scratch_directory_is_locked_while_its_owner_holds_it_and_deleted_when_disposed()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var live = layout.CreateScratchDirectory();
        using var other = layout.CreateScratchDirectory();
        Assert.NotEqual(live.Path, other.Path);
        Assert.StartsWith(Path.Combine(layout.Root, ".ocikit", "tmp"), live.Path, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(live.Path, "layer"), "being written");

        // The owner's lock is exclusive: nobody else (here: another handle in this process) can take it.
        Assert.Throws<IOException>(() => new FileStream(Path.Combine(live.Path, ScratchDirectory.LockFileName), FileMode.Open, FileAccess.ReadWrite, FileShare.None));
        var result = await layout.CollectGarbageAsync();
        Assert.Equal(0, result.InterruptedWriters);
        Assert.Equal("being written", await File.ReadAllTextAsync(Path.Combine(live.Path, "layer")));

        live.Dispose();
        Assert.False(Directory.Exists(live.Path));
        live.Dispose();
        Assert.True(Directory.Exists(other.Path));
    }

    [Fact]
    public async Task Garbage_collection_reclaims_a_scratch_directory_once_its_lock_is_released_and_counts_its_bytes()
    {
        var layout = await OciLayout.OpenAsync(_dir);

        // Another writer's scratch directory, as a process leaves it: files, and the lock file it holds.
        var directory = Directory.CreateDirectory(Path.Combine(_dir, ".ocikit", "tmp", "scratch-other")).FullName;
        Directory.CreateDirectory(Path.Combine(directory, "nested"));
        await File.WriteAllBytesAsync(Path.Combine(directory, "layer"), new byte[70_000]);
        await File.WriteAllBytesAsync(Path.Combine(directory, "nested", "part"), new byte[5_000]);
        var handle = new FileStream(Path.Combine(directory, ScratchDirectory.LockFileName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);

        var whileHeld = await layout.CollectGarbageAsync();
        Assert.Equal(0, whileHeld.InterruptedWriters);
        Assert.Equal(0, whileHeld.InterruptedWriterBytes);
        Assert.True(File.Exists(Path.Combine(directory, "layer")));

        // The writer dies: the kernel releases its lock, which is all a collection looks at.
        handle.Dispose();
        var afterwards = await layout.CollectGarbageAsync();
        Assert.Equal(1, afterwards.InterruptedWriters);
        Assert.Equal(75_000, afterwards.InterruptedWriterBytes);
        Assert.False(Directory.Exists(directory));
        Assert.Equal(0, (await layout.CollectGarbageAsync()).InterruptedWriters);
    }

    [Fact]
    public async Task Garbage_collection_detaches_a_killed_containers_mounts_before_deleting_and_never_reaches_through_them()
    {
        var layout = await OciLayout.OpenAsync(_dir);

        // A lower layer and a host folder outside the scratch directory, mounted inside it as a killed container leaves them.
        var lower = Directory.CreateDirectory(Path.Combine(_dir, "lower-layer")).FullName;
        await File.WriteAllTextAsync(Path.Combine(lower, "kept"), "lower\n");
        var host = Directory.CreateDirectory(Path.Combine(_dir, "host-folder")).FullName;
        await File.WriteAllTextAsync(Path.Combine(host, "kept"), "host\n");
        var scratch = Directory.CreateDirectory(Path.Combine(_dir, ".ocikit", "tmp", "scratch-killed")).FullName;
        foreach (var part in new[] { "upper", "work", "merged" })
        {
            Directory.CreateDirectory(Path.Combine(scratch, part));
        }

        var merged = Path.Combine(scratch, "merged");
        Mount("-t", "overlay", "overlay", "-o", $"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work", merged);
        var bind = Directory.CreateDirectory(Path.Combine(merged, "bound")).FullName;
        Mount("--bind", host, bind);
        Assert.Equal(2, MountTable.Below(scratch).Count);

        var result = await layout.CollectGarbageAsync();
        Assert.Equal(1, result.InterruptedWriters);
        Assert.False(Directory.Exists(scratch));
        Assert.Empty(MountTable.Below(scratch));
        Assert.Equal("lower\n", await File.ReadAllTextAsync(Path.Combine(lower, "kept")));
        Assert.Equal("host\n", await File.ReadAllTextAsync(Path.Combine(host, "kept")));
    }

    private static void Mount(params string[] arguments)
    {
        using var process = System.Diagnostics.Process.Start("mount", arguments);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task Garbage_collection_reclaims_a_scratch_directory_without_a_lock_file_and_loose_temporary_files_nobody_holds()
    {
        var layout = await OciLayout.OpenAsync(_dir);

        // A writer that died between creating its directory and its lock file.
        var unlocked = Directory.CreateDirectory(Path.Combine(_dir, ".ocikit", "tmp", "scratch-unlocked")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(unlocked, "x"), new byte[10]);

        // Temporary files as older versions wrote them: one its writer still has open (locked), two abandoned.
        var tmp = Path.Combine(_dir, ".ocikit", "tmp");
        await File.WriteAllBytesAsync(Path.Combine(tmp, "abandoned.tmp"), new byte[100]);
        var cache = Directory.CreateDirectory(Path.Combine(_dir, ".ocikit", "cache")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(cache, "key.1.tmp"), new byte[1_000]);
        await File.WriteAllBytesAsync(Path.Combine(cache, "key.json"), "{}"u8.ToArray());
        using (var writing = new FileStream(Path.Combine(tmp, "writing.tmp"), FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            writing.Write(new byte[7]);
            writing.Flush();

            var result = await layout.CollectGarbageAsync();
            Assert.Equal(3, result.InterruptedWriters);
            Assert.Equal(1_110, result.InterruptedWriterBytes);
            Assert.True(File.Exists(Path.Combine(tmp, "writing.tmp")));
        }

        Assert.False(Directory.Exists(unlocked));
        Assert.False(File.Exists(Path.Combine(tmp, "abandoned.tmp")));
        Assert.True(File.Exists(Path.Combine(cache, "key.json")));
        Assert.False(File.Exists(Path.Combine(cache, "key.1.tmp")));
        var last = await layout.CollectGarbageAsync();
        Assert.Equal((1, 7L), (last.InterruptedWriters, last.InterruptedWriterBytes));
    }

    [Fact]
    public async Task Garbage_collection_deletes_the_layer_cache_earlier_versions_kept_at_the_top_level()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var legacy = Directory.CreateDirectory(Path.Combine(_dir, "ocikit-build-cache")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(legacy, "key.json"), "{}"u8.ToArray());
        await File.WriteAllBytesAsync(Path.Combine(legacy, "context-digests.json"), "{}"u8.ToArray());

        await layout.CollectGarbageAsync();

        Assert.False(Directory.Exists(legacy));
    }

    [Fact]
    public async Task Garbage_collection_walks_nested_indexes()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var manifest = await StoreImageAsync(layout, null, "x");
        var inner = ManifestDocument.FromIndex(new ImageIndex([manifest with { Platform = Platform.LinuxAmd64 }]));
        var innerDescriptor = await layout.WriteManifestAsync(inner);
        var outer = ManifestDocument.FromIndex(new ImageIndex([innerDescriptor]));
        await layout.TagAsync("multi:1", await layout.WriteManifestAsync(outer));
        var result = await layout.CollectGarbageAsync();
        Assert.Equal(0, result.RemovedBlobs);
        Assert.Equal(5, result.KeptBlobs);
        var (image, document) = await layout.ReadImageAsync("multi:1", Platform.LinuxAmd64);
        Assert.Equal(manifest.Digest, document.Digest);
        Assert.Single(image.Layers);
    }

    [Fact]
    public async Task Garbage_collection_keeps_what_unknown_json_manifests_refer_to()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var payload = await layout.WriteBlobAsync("payload"u8.ToArray(), "application/vnd.example.payload");
        var artifact = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"mediaType":"application/vnd.example.artifact+json","blobs":[{"mediaType":"application/vnd.example.payload","digest":"{{payload.Digest}}","size":{{payload.Size}}}]}""");
        var manifest = await layout.WriteBlobAsync(artifact, "application/vnd.example.artifact+json");
        await layout.TagAsync("artifact:1", manifest);
        var orphan = await layout.WriteBlobAsync("orphan"u8.ToArray(), MediaTypes.OctetStream);

        var patient = await OciLayout.OpenAsync(_dir, new OciLayoutOptions { GarbageCollectionGracePeriod = TimeSpan.FromDays(1) });
        Assert.Equal(0, (await patient.CollectGarbageAsync()).RemovedBlobs);
        Assert.True(layout.ContainsBlob(orphan.Digest));

        var result = await layout.CollectGarbageAsync();
        Assert.Equal(1, result.RemovedBlobs);
        Assert.False(layout.ContainsBlob(orphan.Digest));
        Assert.True(layout.ContainsBlob(payload.Digest));

        var archive = new MemoryStream();
        await OciArchive.WriteAsync(layout, ["artifact:1"], archive);
        Assert.Contains($"blobs/sha256/{payload.Digest.Encoded}", ArchiveTests.ReadTar(archive.ToArray()).Keys);
    }

    [Fact]
    public async Task A_multi_platform_index_resolves_per_platform()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var layer = await WriteLayerAsync(layout, "multi");
        var amd = Image.Scratch(Platform.LinuxAmd64).AppendLayer(layer.Layer, layer.DiffId).WithCmd(["amd"]).Build();
        var arm = Image.Scratch(Platform.LinuxArm64).AppendLayer(layer.Layer, layer.DiffId).WithCmd(["arm"]).Build();
        var index = await layout.WriteIndexAsync([amd, arm], "multi:1", new Dictionary<string, string> { [AnnotationKeys.Source] = "https://example.com" });

        Assert.Equal(MediaTypes.OciIndex, index.MediaType);
        Assert.Empty(Images.ConformanceTests.Schemas.Check("image-index-schema.json", await layout.ReadBlobAsync(index)));
        Assert.Equal(["amd"], (await layout.ReadImageAsync("multi:1", Platform.LinuxAmd64)).Image.Config.Config!.Cmd!.Value.ToArray());
        Assert.Equal(["arm"], (await layout.ReadImageAsync(index, Platform.LinuxArm64)).Image.Config.Config!.Cmd!.Value.ToArray());
        await Assert.ThrowsAsync<ImageNotFoundException>(() => layout.ReadImageAsync("multi:1", new Platform("linux", "s390x")));
        var stored = (await layout.ReadManifestAsync(index)).Index!;
        Assert.Equal(["linux/amd64", "linux/arm64/v8"], stored.Manifests.Select(m => m.Platform!.ToString()));
    }

    [Fact]
    public async Task An_index_of_docker_manifests_is_a_docker_manifest_list()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var layer = await WriteLayerAsync(layout, "docker-multi");
        var amd = Image.Scratch(Platform.LinuxAmd64).WithManifestMediaType(MediaTypes.DockerManifest).AppendLayer(layer.Layer, layer.DiffId).Build();
        var arm = Image.Scratch(Platform.LinuxArm64).WithManifestMediaType(MediaTypes.DockerManifest).AppendLayer(layer.Layer, layer.DiffId).Build();

        var list = await layout.WriteIndexAsync([amd, arm], "docker-multi:1");

        Assert.Equal(MediaTypes.DockerManifestList, list.MediaType);
        var stored = (await layout.ReadManifestAsync(list)).Index!;
        Assert.Equal(MediaTypes.DockerManifestList, stored.MediaType);
        Assert.All(stored.Manifests, m => Assert.Equal(MediaTypes.DockerManifest, m.MediaType));
        Assert.Equal(MediaTypes.DockerManifest, (await layout.ReadImageAsync("docker-multi:1", Platform.LinuxArm64)).Manifest.MediaType);

        // A mix is only valid in an OCI index; a Docker list cannot carry annotations.
        var oci = Image.Scratch(Platform.LinuxArm64).AppendLayer(layer.Layer, layer.DiffId).Build();
        Assert.Equal(MediaTypes.OciIndex, (await layout.WriteIndexAsync([amd, oci])).MediaType);
        await Assert.ThrowsAsync<ArgumentException>(() => layout.WriteIndexAsync([amd, arm], null, new Dictionary<string, string> { ["k"] = "v" }));
    }

    [Fact]
    public async Task Verify_checks_layers_against_their_diff_ids()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var good = await WriteLayerAsync(layout, "good");
        var other = await WriteLayerAsync(layout, "other");
        var image = Image.Scratch(Platform.LinuxAmd64).AppendLayer(good.Layer, good.DiffId);
        await layout.VerifyImageAsync(image);

        var lying = Image.Scratch(Platform.LinuxAmd64).AppendLayer(good.Layer, other.DiffId);
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => layout.VerifyImageAsync(lying));
        Assert.Equal(other.DiffId, e.Expected);
        Assert.Equal(good.DiffId, e.Actual);

        var missing = Image.Scratch(Platform.LinuxAmd64).AppendLayer(good.Layer with { Digest = Digest.ComputeSha256("nope"u8) }, good.DiffId);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => layout.VerifyImageAsync(missing));
    }

    [Fact]
    public async Task An_image_read_unchanged_builds_to_its_exact_stored_bytes()
    {
        var layout = await OciLayout.OpenAsync(_dir);
        var layer = await WriteLayerAsync(layout, "raw");
        // Indented, non-canonical JSON as another tool might write it.
        var configText = $$"""
            {
              "os": "linux",   "architecture": "amd64",
              "rootfs": { "type": "layers", "diff_ids": [ "{{layer.DiffId}}" ] },
              "config": { "Env": [ "A=1" ] }
            }
            """;
        var config = await layout.WriteBlobAsync(System.Text.Encoding.UTF8.GetBytes(configText), MediaTypes.OciConfig);
        var manifestText = $$"""
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": "{{config.Digest}}", "size": {{config.Size}} },
              "layers": [ { "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "{{layer.Layer.Digest}}", "size": {{layer.Layer.Size}} } ]
            }
            """;
        var manifest = await layout.WriteBlobAsync(System.Text.Encoding.UTF8.GetBytes(manifestText), MediaTypes.OciManifest);
        await layout.TagAsync("raw:1", manifest);

        var (image, document) = await layout.ReadImageAsync("raw:1");
        var unchanged = image.Build();
        Assert.Equal(manifest.Digest, unchanged.Manifest.Digest);
        Assert.Equal(config.Digest, unchanged.Config.Digest);
        Assert.Equal(manifest.Digest, await layout.WriteImageAsync(unchanged, "raw:copy") is { } d ? d.Digest : null);

        var annotated = image.WithAnnotation(AnnotationKeys.Revision, "abc").Build();
        Assert.Equal(config.Digest, annotated.Config.Digest);
        Assert.NotEqual(manifest.Digest, annotated.Manifest.Digest);

        var changed = image.WithEnv("B", "2").Build();
        Assert.NotEqual(config.Digest, changed.Config.Digest);
        Assert.Equal(["A=1", "B=2"], ImageConfig.Parse(changed.ConfigBytes).Config!.Env!.Value.ToArray());
        Assert.Equal(document.Digest, manifest.Digest);
    }

    [Fact]
    public async Task Default_store_path_honours_the_environment_variable()
    {
        var previous = Environment.GetEnvironmentVariable(OciLayout.StoreEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(OciLayout.StoreEnvironmentVariable, _dir);
            Assert.Equal(_dir, OciLayout.DefaultPath);
            var layout = await OciLayout.OpenDefaultAsync();
            Assert.Equal(_dir, layout.Root);
            Environment.SetEnvironmentVariable(OciLayout.StoreEnvironmentVariable, null);
            Assert.EndsWith(Path.Combine("ocikit", "store"), OciLayout.DefaultPath, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(OciLayout.StoreEnvironmentVariable, previous);
        }
    }

    internal sealed record TestLayer(Descriptor Layer, Digest DiffId);

    /// <summary>A gzip layer holding one small file.</summary>
    internal static async Task<TestLayer> WriteLayerAsync(OciLayout layout, string text)
    {
        var (gz, diffId) = MakeLayer(text);
        var layer = await layout.WriteBlobAsync(new MemoryStream(gz), MediaTypes.OciLayerGzip);
        return new TestLayer(layer, diffId);
    }

    internal static (byte[] Gzip, Digest DiffId) MakeLayer(string text)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            var entry = new UstarTarEntry(TarEntryType.RegularFile, $"{text}.txt")
            {
                ModificationTime = DateTimeOffset.UnixEpoch,
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text + "\n")),
            };
            writer.WriteEntry(entry);
        }

        var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(tar.ToArray());
        }

        return (gz.ToArray(), Digest.ComputeSha256(tar.ToArray()));
    }

    /// <summary>Stores a one- or two-layer image and returns its manifest descriptor.</summary>
    internal static async Task<Descriptor> StoreImageAsync(OciLayout layout, string? name, string text, TestLayer? baseLayer = null)
    {
        var image = Image.Scratch(Platform.LinuxAmd64);
        if (baseLayer is not null)
        {
            image = image.AppendLayer(baseLayer.Layer, baseLayer.DiffId);
        }

        var own = await WriteLayerAsync(layout, text);
        image = image.AppendLayer(own.Layer, own.DiffId, new HistoryEntry { CreatedBy = "test " + text }).WithCmd(["/bin/" + text]);
        return await layout.WriteImageAsync(image.Build(), name);
    }

    /// <summary>Cancels its token once some bytes have been read (a deterministic stand-in for a caller giving up).</summary>
    private sealed class CancellingStream(Stream inner, CancellationTokenSource cts, long cancelAfter) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, Math.Min(count, 65536));
            _read += n;
            if (_read >= cancelAfter)
            {
                cts.Cancel();
            }

            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private string[] TempFiles()
    {
        // Every temporary file is in a scratch directory: neither may outlive its writer.
        var tmp = Path.Combine(_dir, ".ocikit", "tmp");
        return Directory.Exists(tmp) ? Directory.GetFileSystemEntries(tmp) : [];
    }
}
