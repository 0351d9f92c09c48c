using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciKit.Auth;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Registry;

/// <summary>The protocol client against the real distribution server, checked by skopeo and podman.</summary>
[Collection(RegistryCollection.Name)]
public class RegistryClientTests(RegistryFixture fixture)
{
    private static async Task<ImageReference> PushLayoutAsync(RegistryClient client, string layout, ImageReference target, string? mountFrom = null, ConcurrentBag<BlobUploadOutcome>? outcomes = null)
    {
        var blobs = new LayoutBlobs(layout);
        var (manifest, descriptor) = blobs.Manifest();
        foreach (var blob in blobs.Blobs(manifest))
        {
            var outcome = await client.UploadBlobAsync(target, blob, _ => Task.FromResult<Stream>(File.OpenRead(blobs.BlobPath(blob.Digest))), mountFrom);
            outcomes?.Add(outcome);
        }

        await client.PutManifestAsync(target, manifest, descriptor.MediaType);
        return target.WithDigest(descriptor.Digest);
    }

    [Fact]
    public async Task Pushed_image_is_read_by_skopeo_and_run_by_podman()
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        using var client = new RegistryClient();
        var target = ImageReference.Parse($"{fixture.Registry.Host}/pushed/busybox:v1");
        var pushed = await PushLayoutAsync(client, dir.Path, target);

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{target}"]);
        using var json = JsonDocument.Parse(inspect.StdOut);
        Assert.Equal(pushed.Digest!.ToString(), json.RootElement.GetProperty("Digest").GetString());

        using var tools = new ContainerTools();
        var output = await tools.RunFromRegistryAsync(target.ToString(), ["echo", "pushed by ocikit"]);
        Assert.Equal("pushed by ocikit\n", output);
    }

    [Fact]
    public async Task Pulls_what_skopeo_pushed_byte_for_byte()
    {
        using var client = new RegistryClient();
        var reference = ImageReference.Parse(fixture.BaseImage);
        var manifest = await client.GetManifestAsync(reference);
        Assert.Equal(fixture.BaseDigest, manifest.Digest.ToString());
        Assert.Equal(MediaTypes.OciManifest, manifest.MediaType);

        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        var local = new LayoutBlobs(dir.Path);
        foreach (var blob in local.Blobs(manifest.Bytes.ToArray()))
        {
            using var downloaded = new MemoryStream();
            var reports = new List<TransferProgress>();
            await client.DownloadBlobAsync(reference, blob, downloaded, new SyncProgress(reports.Add));
            Assert.Equal(await File.ReadAllBytesAsync(local.BlobPath(blob.Digest)), downloaded.ToArray());
            Assert.Equal(blob.Size, reports[^1].Transferred);
        }

        var byDigest = await client.GetManifestAsync(reference.WithDigest(manifest.Digest));
        Assert.Equal(manifest.Bytes.ToArray(), byDigest.Bytes.ToArray());
        var head = await client.HeadManifestAsync(reference);
        Assert.Equal(manifest.Digest, head!.Digest);
    }

    [Fact]
    public async Task Chunked_and_streamed_uploads_store_the_exact_bytes()
    {
        // Through a proxy, which records each request before forwarding it: the count is complete once the upload returns.
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient(new RegistryClientOptions { ChunkSize = 4096 });
        var repo = ImageReference.Parse($"{proxy.Host}/uploads/chunked");
        var content = RandomNumberGenerator.GetBytes(50_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);

        var outcome = await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content)));
        Assert.Equal(BlobUploadOutcome.Uploaded, outcome);
        Assert.Equal(13, proxy.Requests.Count(r => r.Method == "PATCH" && r.PathAndQuery.StartsWith("/v2/uploads/chunked/blobs/uploads/", StringComparison.Ordinal)));
        Assert.Equal(content.Length, await client.HeadBlobAsync(repo, blob.Digest));
        Assert.Equal(BlobUploadOutcome.AlreadyPresent, await client.UploadBlobAsync(repo, blob, _ => throw new InvalidOperationException("must not be read")));

        var streamed = RandomNumberGenerator.GetBytes(70_000);
        var descriptor = await client.UploadBlobAsync(repo, new MemoryStream(streamed), MediaTypes.OciLayer);
        Assert.Equal(Digest.ComputeSha256(streamed), descriptor.Digest);
        Assert.Equal(streamed.Length, descriptor.Size);
        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, descriptor, back);
        Assert.Equal(streamed, back.ToArray());
    }

    [Fact]
    public async Task A_blob_written_through_a_pipe_goes_in_one_put_when_small_else_streams_and_the_registry_checks_the_writers_digest()
    {
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{proxy.Host}/uploads/piped");
        int Count(string method) => proxy.Requests.Count(r => r.Method == method && r.PathAndQuery.StartsWith("/v2/uploads/piped/blobs/uploads/", StringComparison.Ordinal));

        // Written before the upload starts: POST, then one PUT with the bytes and the writer's digest.
        var small = RandomNumberGenerator.GetBytes(40_000);
        var smallBlob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(small), small.Length);
        var done = new System.IO.Pipelines.Pipe();
        await done.Writer.WriteAsync(small);
        await done.Writer.CompleteAsync();
        Assert.Equal(smallBlob, await client.UploadBlobAsync(repo, done.Reader, Task.FromResult(smallBlob), CancellationToken.None));
        Assert.Equal((1, 0, 1), (Count("POST"), Count("PATCH"), Count("PUT")));
        await AssertStoredAsync(smallBlob, small);

        // Small but still being written once the session is open: the upload waits for the writer, then one PUT.
        var slow = new System.IO.Pipelines.Pipe();
        var slowWritten = new TaskCompletionSource<Descriptor>();
        await slow.Writer.WriteAsync(small.AsMemory(0, 1000));
        var slowUpload = client.UploadBlobAsync(repo, slow.Reader, slowWritten.Task, CancellationToken.None);
        await Task.Delay(200);
        await slow.Writer.WriteAsync(small.AsMemory(1000));
        slowWritten.SetResult(smallBlob);
        await slow.Writer.CompleteAsync();
        Assert.Equal(smallBlob, await slowUpload);
        Assert.Equal((2, 0, 2), (Count("POST"), Count("PATCH"), Count("PUT")));

        // Larger than one request's worth and still being written: one streaming PATCH from then on, then a PUT with
        // the digest the writer gives at the end.
        var large = RandomNumberGenerator.GetBytes(RegistryClient.SingleRequestUploadBytes + 300_000);
        var largeBlob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(large), large.Length);
        var writing = new System.IO.Pipelines.Pipe();
        var written = new TaskCompletionSource<Descriptor>();
        await writing.Writer.WriteAsync(large.AsMemory(0, 1000));
        var upload = client.UploadBlobAsync(repo, writing.Reader, written.Task, CancellationToken.None);
        await Task.Delay(200);
        await writing.Writer.WriteAsync(large.AsMemory(1000, RegistryClient.SingleRequestUploadBytes));
        await Task.Delay(200);
        await writing.Writer.WriteAsync(large.AsMemory(1000 + RegistryClient.SingleRequestUploadBytes));
        written.SetResult(largeBlob);
        await writing.Writer.CompleteAsync();
        Assert.Equal(largeBlob, await upload);
        Assert.Equal((3, 1, 3), (Count("POST"), Count("PATCH"), Count("PUT")));
        await AssertStoredAsync(largeBlob, large);

        // A writer's digest that is not the bytes' is refused by the registry; a length that is not the bytes' by the client.
        var lying = new System.IO.Pipelines.Pipe();
        await lying.Writer.WriteAsync(small);
        await lying.Writer.CompleteAsync();
        var wrong = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256("not these bytes"u8.ToArray()), small.Length);
        var refused = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(repo, lying.Reader, Task.FromResult(wrong), CancellationToken.None));
        Assert.True(refused.HasCode(RegistryErrorCodes.DigestInvalid), refused.Message);
        Assert.Null(await client.HeadBlobAsync(repo, wrong.Digest));
        var shorter = new System.IO.Pipelines.Pipe();
        await shorter.Writer.WriteAsync(small.AsMemory(0, 100));
        await shorter.Writer.CompleteAsync();
        await Assert.ThrowsAsync<IOException>(() => client.UploadBlobAsync(repo, shorter.Reader, Task.FromResult(smallBlob with { Digest = Digest.ComputeSha256(large) }), CancellationToken.None));

        async Task AssertStoredAsync(Descriptor blob, byte[] bytes)
        {
            using var back = new MemoryStream();
            await client.DownloadBlobAsync(repo, blob, back);
            Assert.Equal(bytes, back.ToArray());
        }
    }

    [Fact]
    public async Task Upload_sessions_prepared_ahead_are_taken_by_the_next_uploads_and_the_spare_ones_cancelled()
    {
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{proxy.Host}/uploads/prepared");
        int Count(string method) => proxy.Requests.Count(r => r.Method == method && r.PathAndQuery.StartsWith("/v2/uploads/prepared/blobs/uploads/", StringComparison.Ordinal));

        client.PrepareUploadSessions(repo, 3);
        var blobs = new List<(Descriptor Blob, byte[] Bytes)>();
        for (var i = 0; i < 2; i++)
        {
            var bytes = RandomNumberGenerator.GetBytes(1000 + i);
            var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(bytes), bytes.Length);
            Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadWithoutCheckAsync(repo, blob, bytes, CancellationToken.None));
            blobs.Add((blob, bytes));
        }

        // Two uploads, no POST of their own: the three prepared sessions, two taken, the third cancelled.
        Assert.Equal((3, 2), (Count("POST"), Count("PUT")));
        await client.ReleasePreparedUploadSessionsAsync(repo, CancellationToken.None);
        Assert.Equal(1, Count("DELETE"));
        foreach (var (blob, bytes) in blobs)
        {
            using var back = new MemoryStream();
            await client.DownloadBlobAsync(repo, blob, back);
            Assert.Equal(bytes, back.ToArray());
        }

        // A session that could not be prepared is only not there: the upload opens its own.
        proxy.Add("POST", "/v2/uploads/prepared/blobs/uploads/", new Fault.Status(400));
        client.PrepareUploadSessions(repo, 1);
        var last = RandomNumberGenerator.GetBytes(500);
        var lastBlob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(last), last.Length);
        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadWithoutCheckAsync(repo, lastBlob, last, CancellationToken.None));
        Assert.Equal((5, 3), (Count("POST"), Count("PUT")));
        Assert.Equal(last.Length, await client.HeadBlobAsync(repo, lastBlob.Digest));
    }

    [Fact]
    public async Task Blobs_of_a_base_in_another_repository_are_mounted_not_uploaded()
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient();
        var outcomes = new ConcurrentBag<BlobUploadOutcome>();
        await PushLayoutAsync(client, dir.Path, ImageReference.Parse($"{proxy.Host}/apps/derived:1"), RegistryFixture.BaseRepository, outcomes);

        Assert.All(outcomes, o => Assert.Equal(BlobUploadOutcome.Mounted, o));
        Assert.Equal(2, outcomes.Count);
        var requests = proxy.Requests;
        Assert.Equal(2, requests.Count(r => r.Method == "POST" && r.PathAndQuery.Contains("mount=", StringComparison.Ordinal)));
        Assert.DoesNotContain(requests, r => r.Method == "PATCH");
        Assert.DoesNotContain(requests, r => r.Method == "PUT" && r.PathAndQuery.Contains("/blobs/", StringComparison.Ordinal));
        Assert.Single(requests, r => r.Method == "PUT" && r.PathAndQuery.StartsWith("/v2/apps/derived/manifests/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tags_and_catalog_follow_pagination()
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{fixture.Registry.Host}/paged/tags");
        await PushLayoutAsync(client, dir.Path, repo.WithTag("a"));
        var (manifest, descriptor) = new LayoutBlobs(dir.Path).Manifest();
        foreach (var tag in new[] { "b", "c", "d", "e" })
        {
            await client.PutManifestAsync(repo.WithTag(tag), manifest, descriptor.MediaType);
        }

        var tags = new List<string>();
        await foreach (var tag in client.ListTagsAsync(repo, pageSize: 2))
        {
            tags.Add(tag);
        }

        // Every tag exactly once across the pages (distribution 2.8 does not sort paginated tag lists).
        Assert.Equal(["a", "b", "c", "d", "e"], tags.Order(StringComparer.Ordinal));
        var repositories = new List<string>();
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        await foreach (var name in client.ListRepositoriesAsync(proxy.Host, pageSize: 1))
        {
            repositories.Add(name);
        }

        Assert.Contains("paged/tags", repositories);
        Assert.Contains(RegistryFixture.BaseRepository, repositories);
        // distribution 2.8 paginates the catalog (not tag lists): one page per repository proves Link is followed.
        Assert.True(proxy.Requests.Count(r => r.Method == "GET" && r.PathAndQuery.StartsWith("/v2/_catalog", StringComparison.Ordinal)) >= repositories.Count);
    }

    [Fact]
    public async Task Referrers_fall_back_to_the_tag_schema_and_filter_by_artifact_type()
    {
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{fixture.Registry.Host}/{RegistryFixture.BaseRepository}");
        var subject = Digest.Parse(fixture.BaseDigest);
        Assert.Empty(await client.GetReferrersAsync(repo, subject));

        // An artifact (an SBOM-like blob) referring to the base image, listed in the fallback tag's index.
        var empty = "{}"u8.ToArray();
        var emptyDescriptor = new Descriptor(MediaTypes.OciEmpty, Digest.ComputeSha256(empty), empty.Length);
        await client.UploadBlobAsync(repo, emptyDescriptor, _ => Task.FromResult<Stream>(new MemoryStream(empty)));
        var artifact = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","artifactType":"application/vnd.example.sbom","config":{"mediaType":"{{MediaTypes.OciEmpty}}","digest":"{{emptyDescriptor.Digest}}","size":2},"layers":[{"mediaType":"{{MediaTypes.OciEmpty}}","digest":"{{emptyDescriptor.Digest}}","size":2}],"subject":{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{subject}}","size":1} }""");
        var artifactDigest = await client.PutManifestAsync(repo.WithDigest(Digest.ComputeSha256(artifact)), artifact, MediaTypes.OciManifest);
        var index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{artifactDigest}}","size":{{artifact.Length}},"artifactType":"application/vnd.example.sbom"}]}""");
        await client.PutManifestAsync(repo.WithTag($"sha256-{subject.Encoded}"), index, MediaTypes.OciIndex);

        var referrers = await client.GetReferrersAsync(repo, subject);
        var referrer = Assert.Single(referrers);
        Assert.Equal(artifactDigest, referrer.Digest);
        Assert.Single(await client.GetReferrersAsync(repo, subject, "application/vnd.example.sbom"));
        Assert.Empty(await client.GetReferrersAsync(repo, subject, "application/vnd.example.other"));
    }

    [Fact]
    public async Task Deleting_a_tagged_manifest_makes_it_unknown()
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        using var client = new RegistryClient();
        var target = ImageReference.Parse($"{fixture.Registry.Host}/deletes/me:gone");
        await PushLayoutAsync(client, dir.Path, target);
        await client.DeleteManifestAsync(target);
        Assert.Null(await client.HeadManifestAsync(target));
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(target));
        Assert.True(error.HasCode(RegistryErrorCodes.ManifestUnknown));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, error.StatusCode);
        Assert.False(error.IsTransient);
        Assert.Contains("MANIFEST_UNKNOWN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registry_that_is_not_running_gives_a_clear_transient_error()
    {
        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10), RetryMaxDelay = TimeSpan.FromMilliseconds(20) });
        var port = FreePort.Next();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"127.0.0.1:{port}/nobody/home:1")));
        Assert.Null(error.StatusCode);
        Assert.True(error.IsTransient);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }

    private sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
