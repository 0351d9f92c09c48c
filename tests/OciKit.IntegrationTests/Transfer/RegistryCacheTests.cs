using System.Collections.Immutable;
using System.Text;
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

/// <summary>The build cache in a registry repository, against the real docker-registry with token authentication.</summary>
public sealed class RegistryCacheTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("ocikit-regcache");
    private RegistryServer? _registry;
    private RegistryClient? _client;
    private OciLayout? _store;

    private RegistryServer Registry => _registry!;

    private RegistryClient Client => _client!;

    private OciLayout Store => _store!;

    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartTokenAsync();
        _client = new RegistryClient(ClientOptions(_registry));
        _store = await OciLayout.OpenAsync(_dir.Combine("store"));
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _dir.Dispose();
    }

    internal static RegistryClientOptions ClientOptions(RegistryServer registry) => new()
    {
        Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)),
        MaxRetries = 1,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(50),
    };

    /// <summary>A layer in the store and a record for it under a key made from <paramref name="name"/>.</summary>
    private async Task<CacheRecord> LayerRecordAsync(string name)
    {
        var content = Encoding.UTF8.GetBytes("content of " + name);
        var info = await Store.AddLayerAsync((output, ct) => LayerWriter.WriteAsync(
            [LayerEntry.File(name, content.Length, () => new MemoryStream(content), (UnixFileMode)0x1A4)], output, new LayerOptions { Timestamp = DateTimeOffset.UnixEpoch }, ct));
        return new CacheRecord(LayerCache.Key([name]), info.Descriptor, info.DiffId, info.UncompressedSize);
    }

    private static CacheRecord EmptyRecord(string name) => new(LayerCache.Key([name]), null, null);

    private ImageReference Cache(string repository = "team/app") => RegistryCache.ParseRepository($"{Registry.Host}/{repository}");

    [Fact]
    public void A_cache_location_without_a_tag_gets_the_default_tag()
    {
        Assert.Equal(RegistryCache.DefaultTag, RegistryCache.ParseRepository("registry.example:5000/team/app").Tag);
        Assert.Equal("main", RegistryCache.ParseRepository("registry.example:5000/team/app:main").Tag);
        Assert.Throws<ArgumentException>(() => RegistryCache.ParseRepository("registry.example/team/app@sha256:" + new string('0', 64)));
        Assert.Throws<ArgumentException>(() => RegistryCache.ParseRepository("Not A Reference"));
    }

    [Fact]
    public async Task Records_written_are_read_back_and_a_second_write_merges_newest_first()
    {
        var cache = new RegistryCache(Client);
        var repository = Cache();
        Assert.Equal(0, (await cache.ReadAsync([repository])).Count);

        var first = new[] { await LayerRecordAsync("a"), EmptyRecord("workdir") };
        var written = await cache.WriteAsync(repository, first, Store);
        Assert.Equal(2, written.Records);
        Assert.Equal(0, written.Skipped);

        var lookup = await cache.ReadAsync([repository]);
        Assert.True(lookup.TryGet(first[0].Key, out var hit));
        Assert.Equal(first[0], hit.Record);
        Assert.Equal(repository, hit.Repository);
        Assert.True(lookup.TryGet(first[1].Key, out var empty));
        Assert.Null(empty.Record.Layer);

        var second = await LayerRecordAsync("b");
        var merged = await cache.WriteAsync(repository, [second], Store);
        Assert.Equal(3, merged.Records);

        // The artifact: its type, the empty config, the records blob first and then every layer blob its records name.
        var manifest = ImageManifest.Parse((await Client.GetManifestAsync(repository)).Bytes);
        Assert.Equal(MediaTypes.OciKitCache, manifest.ArtifactType);
        Assert.Equal(MediaTypes.OciEmpty, manifest.Config.MediaType);
        Assert.Equal(MediaTypes.OciKitCacheRecords, manifest.Layers[0].MediaType);
        Assert.Equal([second.Layer!.Digest, first[0].Layer!.Digest], manifest.Layers.Skip(1).Select(l => l.Digest));
        using var records = new MemoryStream();
        await Client.DownloadBlobAsync(repository, manifest.Layers[0], records);
        Assert.Equal([second.Key, first[0].Key, first[1].Key], CacheRecordJson.Parse(records.ToArray()).Select(r => r.Key));

        // Each record's blob is usable, and downloads verified (digest and DiffID).
        Assert.True(await cache.IsUsableAsync(hit));
        var info = await cache.DownloadLayerAsync(hit, _dir.Combine("downloaded"));
        Assert.Equal(first[0].DiffId, info.DiffId);

        // The cache used the push's credentials with the repository's pull and push scopes.
        Assert.Contains(Registry.TokenServer!.Requests, r => r.User == RegistryServer.User && r.Status == 200 && r.Scopes.Contains("repository:team/app:pull,push"));
    }

    [Fact]
    public async Task Blobs_the_cache_repository_lacks_are_mounted_from_where_the_image_was_pushed_or_the_record_is_skipped()
    {
        var cache = new RegistryCache(Client);
        var record = await LayerRecordAsync("mounted");
        var pushed = ImageReference.Parse($"{Registry.Host}/team/image:1");
        await Client.UploadBlobAsync(pushed, record.Layer!, _ => Task.FromResult(Store.OpenBlob(record.Layer!.Digest)));

        // Without the store: mounted from the pushed repository.
        var result = await cache.WriteAsync(Cache("team/cache"), [record], store: null, mountFrom: pushed);
        Assert.Equal((1, 0), (result.Written, result.Skipped));
        Assert.Equal(record.Layer!.Size, await Client.HeadBlobAsync(Cache("team/cache"), record.Layer.Digest));

        // Neither in the store nor anywhere to mount from: left out with a warning.
        var elsewhere = await LayerRecordAsync("nowhere");
        var warnings = new List<string>();
        var skipped = await cache.WriteAsync(Cache("team/other"), [elsewhere, EmptyRecord("x")], store: null, mountFrom: pushed, warnings: new SynchronousProgress<string>(warnings.Add));
        Assert.Equal((1, 1), (skipped.Written, skipped.Skipped));
        Assert.Contains(warnings, w => w.Contains(elsewhere.Layer!.Digest.ToString(), StringComparison.Ordinal));
        Assert.False((await cache.ReadAsync([Cache("team/other")])).TryGet(elsewhere.Key, out _));
    }

    [Fact]
    public async Task A_write_whose_layers_are_still_on_their_way_uploads_its_records_meanwhile_and_puts_the_manifest_only_once_they_are_there()
    {
        var repository = Cache("team/ready");
        var earlier = await LayerRecordAsync("ready-earlier");
        await new RegistryCache(Client).WriteAsync(repository, [earlier], Store);
        var cache = new RegistryCache(Client);
        var ours = await LayerRecordAsync("ready-ours");
        var present = new HashSet<Digest> { ours.Layer!.Digest };
        var manifestPuts = Registry.CountRequests("PUT", "/v2/team/ready/manifests/");
        var blobPuts = Registry.CountRequests("PUT", "/v2/team/ready/blobs/uploads/");

        // The layer is still being pushed (as a publish's early upload is): the records blob goes up meanwhile.
        var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var writing = cache.WriteWhenReadyAsync(repository, [ours], Store, null, present, await cache.ReadAsync([repository]), ready.Task, null, CancellationToken.None);
        for (var waited = 0; Registry.CountRequests("PUT", "/v2/team/ready/blobs/uploads/") == blobPuts && waited < 200; waited++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(blobPuts + 1, Registry.CountRequests("PUT", "/v2/team/ready/blobs/uploads/"));
        Assert.False(writing.IsCompleted);
        Assert.Equal(manifestPuts, Registry.CountRequests("PUT", "/v2/team/ready/manifests/"));
        await Client.UploadBlobAsync(repository, ours.Layer, _ => Task.FromResult(Store.OpenBlob(ours.Layer.Digest)));
        ready.SetResult(true);
        var result = await writing;
        Assert.Equal((2, 1), (result!.Records, result.Written));
        var after = await cache.ReadAsync([repository]);
        Assert.True(after.TryGet(earlier.Key, out _) && after.TryGet(ours.Key, out _));

        // Layers that did not get there: nothing is put.
        var lost = await LayerRecordAsync("ready-lost");
        var before = (await Client.HeadManifestAsync(repository))!.Digest;
        Assert.Null(await cache.WriteWhenReadyAsync(repository, [lost], Store, null, new HashSet<Digest> { lost.Layer!.Digest }, after, Task.FromResult(false), null, CancellationToken.None));
        Assert.Equal(before, (await Client.HeadManifestAsync(repository))!.Digest);
    }

    [Fact]
    public async Task A_write_put_just_after_its_check_is_not_confirmed_and_one_whose_layers_took_long_is()
    {
        var repository = Cache("team/confirm");
        await new RegistryCache(Client).WriteAsync(repository, [await LayerRecordAsync("confirm-earlier")], Store);
        var cache = new RegistryCache(Client);
        int Heads() => Registry.CountRequests("HEAD", "/v2/team/confirm/manifests/");

        // The layer already there: one HEAD checks the tag before the put, and none follows it.
        var quick = await LayerRecordAsync("confirm-quick");
        var quickLayer = quick.Layer!;
        await Client.UploadBlobAsync(repository, quickLayer, _ => Task.FromResult(Store.OpenBlob(quickLayer.Digest)));
        var heads = Heads();
        var written = await cache.WriteWhenReadyAsync(repository, [quick], Store, null, new HashSet<Digest> { quickLayer.Digest }, await cache.ReadAsync([repository]), Task.FromResult(true), null, CancellationToken.None);
        Assert.Equal(heads + 1, Heads());
        Assert.Equal(written!.Manifest, (await Client.HeadManifestAsync(repository))!.Digest);

        // The layer arriving long after the check (a large one still uploading): the put is confirmed by a second HEAD.
        var slow = await LayerRecordAsync("confirm-slow");
        var slowLayer = slow.Layer!;
        await Client.UploadBlobAsync(repository, slowLayer, _ => Task.FromResult(Store.OpenBlob(slowLayer.Digest)));
        heads = Heads();
        var ready = Task.Delay(RegistryCache.FreshCheck + TimeSpan.FromMilliseconds(500)).ContinueWith(_ => true, TaskScheduler.Default);
        written = await cache.WriteWhenReadyAsync(repository, [slow], Store, null, new HashSet<Digest> { slowLayer.Digest }, await cache.ReadAsync([repository]), ready, null, CancellationToken.None);
        Assert.Equal(heads + 2, Heads());
        var after = await cache.ReadAsync([repository]);
        Assert.True(after.TryGet(quick.Key, out _) && after.TryGet(slow.Key, out _));
        Assert.Equal(written!.Manifest, (await Client.HeadManifestAsync(repository))!.Digest);
    }

    [Fact]
    public async Task A_write_that_read_before_merges_with_what_it_read_without_reading_again_while_the_tag_has_not_moved()
    {
        var repository = Cache("team/read-before");
        var earlier = await LayerRecordAsync("earlier");
        await new RegistryCache(Client).WriteAsync(repository, [earlier], Store);
        var cache = new RegistryCache(Client);
        var lookup = await cache.ReadAsync([repository]);
        var recordsBlobsRead = Registry.CountRequests("GET", "/v2/team/read-before/blobs/");

        var ours = await LayerRecordAsync("ours");
        var result = await cache.WriteAsync(repository, [ours], Store, readBefore: lookup);

        Assert.Equal((2, 1, 1), (result.Records, result.Written, result.Attempts));
        Assert.Equal(recordsBlobsRead, Registry.CountRequests("GET", "/v2/team/read-before/blobs/"));
        var after = await cache.ReadAsync([repository]);
        Assert.True(after.TryGet(earlier.Key, out _) && after.TryGet(ours.Key, out _));
        Assert.Equal(result.Manifest, (await Client.HeadManifestAsync(repository))!.Digest);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_that_read_before_merges_again_when_another_writer_moved_the_tag_since(bool hadCache)
    {
        var repository = Cache(hadCache ? "team/moved" : "team/created");
        var first = await LayerRecordAsync("first");
        if (hadCache)
        {
            await new RegistryCache(Client).WriteAsync(repository, [first], Store);
        }

        // Read (a cache with one record, or none at all), then another writer puts the tag, then this writer writes.
        var cache = new RegistryCache(Client);
        var lookup = await cache.ReadAsync([repository]);
        using var otherClient = new RegistryClient(ClientOptions(Registry));
        var theirs = await LayerRecordAsync("theirs");
        await new RegistryCache(otherClient).WriteAsync(repository, [theirs], Store);
        var ours = await LayerRecordAsync("ours");
        var result = await cache.WriteAsync(repository, [ours], Store, readBefore: lookup);

        var after = await cache.ReadAsync([repository]);
        Assert.True(after.TryGet(theirs.Key, out _), "the other writer's record was lost");
        Assert.True(after.TryGet(ours.Key, out _));
        Assert.Equal(hadCache, after.TryGet(first.Key, out _));
        Assert.Equal(hadCache ? 3 : 2, result.Records);
    }

    [Fact]
    public async Task Two_concurrent_writers_both_succeed_and_the_cache_stays_whole()
    {
        var one = new[] { await LayerRecordAsync("one-a"), await LayerRecordAsync("one-b") };
        var two = new[] { await LayerRecordAsync("two-a"), EmptyRecord("two-b") };
        using var otherClient = new RegistryClient(ClientOptions(Registry));
        var results = await Task.WhenAll(
            new RegistryCache(Client).WriteAsync(Cache(), one, Store),
            new RegistryCache(otherClient).WriteAsync(Cache(), two, Store));
        Assert.All(results, r => Assert.Equal(2, r.Written));

        // Without compare-and-swap on tags, one writer's records may replace the other's (a writer checks its records
        // after its put only when it had checked the tag long before: RegistryCache.FreshCheck); the tag holds a valid
        // cache with at least the last writer's records, every blob usable.
        var lookup = await new RegistryCache(Client).ReadAsync([Cache()]);
        Assert.True(one.All(r => lookup.TryGet(r.Key, out _)) || two.All(r => lookup.TryGet(r.Key, out _)));
        foreach (var record in one.Concat(two))
        {
            if (lookup.TryGet(record.Key, out var hit))
            {
                Assert.Equal(record, hit.Record);
                Assert.True(await new RegistryCache(Client).IsUsableAsync(hit));
            }
        }

        // A later write of either merges with what is there.
        await new RegistryCache(Client).WriteAsync(Cache(), one, Store);
        await new RegistryCache(Client).WriteAsync(Cache(), two, Store);
        lookup = await new RegistryCache(Client).ReadAsync([Cache()]);
        Assert.All(one.Concat(two), r => Assert.True(lookup.TryGet(r.Key, out _)));
    }

    [Fact]
    public async Task A_record_whose_blob_is_missing_or_has_another_size_is_unusable_and_a_corrupt_cache_is_ignored_with_warnings()
    {
        var cache = new RegistryCache(Client);
        var repository = Cache();
        var kept = await LayerRecordAsync("kept");
        var deleted = await LayerRecordAsync("deleted");
        await cache.WriteAsync(repository, [kept, deleted], Store);
        await Client.DeleteBlobAsync(repository, deleted.Layer!.Digest);

        var lookup = await cache.ReadAsync([repository]);
        var warnings = new List<string>();
        var progress = new SynchronousProgress<string>(warnings.Add);
        Assert.True(lookup.TryGet(kept.Key, out var good));
        Assert.True(await cache.IsUsableAsync(good, progress));
        Assert.True(lookup.TryGet(deleted.Key, out var missing));
        Assert.False(await cache.IsUsableAsync(missing, progress));
        Assert.Contains("is missing", Assert.Single(warnings), StringComparison.Ordinal);

        // The next write drops the record whose blob is gone (the registry refuses a manifest naming it) and keeps the rest.
        var later = await LayerRecordAsync("later");
        warnings.Clear();
        var rewritten = await cache.WriteAsync(repository, [later], Store, warnings: progress);
        Assert.Equal(2, rewritten.Records);
        Assert.Contains(warnings, w => w.Contains($"{deleted.Layer!.Digest}, which is gone; dropped", StringComparison.Ordinal));
        var after = await cache.ReadAsync([repository]);
        Assert.False(after.TryGet(deleted.Key, out _));
        Assert.True(after.TryGet(later.Key, out _));
        warnings.Clear();

        // A record whose size is wrong: unusable before anything is downloaded.
        var wrongSize = good with { Record = good.Record with { Layer = good.Record.Layer! with { Size = good.Record.Layer.Size + 1 } } };
        Assert.False(await cache.IsUsableAsync(wrongSize, progress));
        Assert.Contains(warnings, w => w.Contains($"not {good.Record.Layer.Size + 1}", StringComparison.Ordinal));

        // A record whose DiffID lies: the download verifies it.
        var lying = good with { Record = good.Record with { DiffId = Digest.ComputeSha256("other"u8) } };
        await Assert.ThrowsAsync<DigestMismatchException>(() => cache.DownloadLayerAsync(lying, _dir.Combine("lying")));

        // A tag that is not a cache, and a records blob that is not JSON: warnings, no records.
        await PutArtifactAsync(Cache("team/corrupt"), "{\"records\":"u8.ToArray());
        await PutArtifactAsync(Cache("team/wrongtype"), CacheRecordJson.Serialize([kept]), artifactType: MediaTypes.SpdxJson);
        warnings.Clear();
        var none = await cache.ReadAsync([Cache("team/corrupt"), Cache("team/wrongtype"), Cache("team/absent"), repository], progress);
        Assert.True(none.TryGet(kept.Key, out var fromLast));
        Assert.Equal(repository, fromLast.Repository);
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("team/corrupt", StringComparison.Ordinal) && w.Contains("not JSON", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("team/wrongtype", StringComparison.Ordinal) && w.Contains("not an OciKit cache", StringComparison.Ordinal));
    }

    /// <summary>A hand-made artifact under the default tag: the given records blob and nothing else.</summary>
    private async Task PutArtifactAsync(ImageReference repository, byte[] records, string artifactType = MediaTypes.OciKitCache)
    {
        var blob = new Descriptor(MediaTypes.OciKitCacheRecords, Digest.ComputeSha256(records), records.Length);
        await Client.UploadBytesAsync(repository, blob, records, default);
        await Client.UploadBytesAsync(repository, EmptyDescriptor.Descriptor, EmptyDescriptor.Bytes, default);
        var document = ManifestDocument.FromManifest(new ImageManifest(EmptyDescriptor.Descriptor, ImmutableArray.Create(blob)) { ArtifactType = artifactType });
        await Client.PutManifestAsync(repository, document.Bytes, document.MediaType);
    }
}
