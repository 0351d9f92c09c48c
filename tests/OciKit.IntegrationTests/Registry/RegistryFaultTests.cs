using System.Security.Cryptography;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Registry;

/// <summary>
/// The client through a fault-injecting proxy in front of the real registry: each operation completes correctly or,
/// past the retry budget, fails with a clear error.
/// </summary>
[Collection(RegistryCollection.Name)]
public class RegistryFaultTests(RegistryFixture fixture)
{
    private static RegistryClientOptions Fast(int retries = 4, TimeSpan? timeout = null) => new()
    {
        MaxRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromSeconds(2),
        RequestTimeout = timeout ?? TimeSpan.FromSeconds(30),
    };

    private FaultProxy Proxy() => new(fixture.Registry.BaseUri);

    private async Task<(ImageReference Repo, Descriptor Layer)> BaseLayerAsync(RegistryClient client, string host)
    {
        var repo = ImageReference.Parse($"{host}/{RegistryFixture.BaseRepository}");
        var manifest = await client.GetManifestAsync(repo.WithDigest(Digest.Parse(fixture.BaseDigest)));
        var layers = new LayoutBlobs("unused").Blobs(manifest.Bytes.ToArray());
        return (repo, layers[1]);
    }

    [Fact]
    public async Task A_download_dropped_mid_blob_resumes_with_a_range_request()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var (repo, layer) = await BaseLayerAsync(client, proxy.Host);
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.DropAfter(layer.Size / 3));

        using var destination = new MemoryStream();
        await client.DownloadBlobAsync(repo, layer, destination);

        Assert.Equal(layer.Digest, Digest.ComputeSha256(destination.ToArray()));
        var gets = proxy.Requests.Where(r => r.Method == "GET" && r.PathAndQuery.Contains(layer.Digest.ToString(), StringComparison.Ordinal)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.StartsWith("bytes=", gets[1].Range, StringComparison.Ordinal);
        Assert.NotEqual("bytes=0-", gets[1].Range);
    }

    [Fact]
    public async Task Bursts_of_503_and_500_are_retried()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        proxy.Add("GET", "/manifests/latest", new Fault.Status(503), times: 2);
        proxy.Add("GET", "/manifests/latest", new Fault.Status(500), times: 1);

        var manifest = await client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest"));
        Assert.Equal(fixture.BaseDigest, manifest.Digest.ToString());
        Assert.Equal(4, proxy.Requests.Count(r => r.PathAndQuery.EndsWith("/manifests/latest", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var headers = new Dictionary<string, string> { ["Retry-After"] = "1" };
        proxy.Add("GET", "/manifests/latest", new Fault.Status(429, headers));

        await client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest"));
        var attempts = proxy.Requests.Where(r => r.PathAndQuery.EndsWith("/manifests/latest", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.True(attempts[1].At - attempts[0].At >= TimeSpan.FromMilliseconds(900), "the retry came before Retry-After");
    }

    [Fact]
    public async Task Past_the_retry_budget_the_error_is_transient_and_names_the_status()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast(retries: 2));
        proxy.Add("GET", "/manifests/latest", new Fault.Status(503), times: 10);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest")));
        Assert.True(error.IsTransient);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.True(error.HasCode(RegistryErrorCodes.Unavailable));
        Assert.Equal(3, proxy.Requests.Count(r => r.PathAndQuery.EndsWith("/manifests/latest", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_slow_response_times_out_and_is_retried()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast(timeout: TimeSpan.FromMilliseconds(700)));
        proxy.Add("GET", "/manifests/latest", new Fault.Delay(TimeSpan.FromSeconds(3)));

        var manifest = await client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}:latest"));
        Assert.Equal(fixture.BaseDigest, manifest.Digest.ToString());
    }

    [Fact]
    public async Task A_lying_docker_content_digest_is_refused()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        proxy.Add("GET", "/manifests/latest", new Fault.WrongDigestHeader());

        var reference = $"{proxy.Host}/{RegistryFixture.BaseRepository}:latest";
        var error = await Assert.ThrowsAsync<RegistryDigestMismatchException>(() => client.GetManifestAsync(ImageReference.Parse(reference)));
        Assert.Equal("sha256:" + new string('0', 64), error.Expected.ToString());
        Assert.Equal(fixture.BaseDigest, error.Actual.ToString());
        Assert.Contains(reference, error.Message, StringComparison.Ordinal);
        Assert.Contains(error.Expected.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains(error.Actual.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_blob_truncated_on_every_attempt_fails_clearly()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast(retries: 2));
        var (repo, layer) = await BaseLayerAsync(client, proxy.Host);
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.DropAfter(1000), times: 100);

        using var destination = new MemoryStream();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.DownloadBlobAsync(repo, layer, destination));
        Assert.True(error.IsTransient);
        Assert.Contains(layer.Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains(repo.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_content_length_larger_than_the_descriptor_is_not_an_error_when_the_blob_is_whole()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var (repo, layer) = await BaseLayerAsync(client, proxy.Host);
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.OverstateLength(4096));

        using var destination = new MemoryStream();
        await client.DownloadBlobAsync(repo, layer, destination);

        Assert.Equal(layer.Size, destination.Length);
        Assert.Equal(layer.Digest, Digest.ComputeSha256(destination.ToArray()));
        Assert.Contains(proxy.Requests, r => r.Fault is Fault.OverstateLength);
    }

    [Fact]
    public async Task A_short_body_read_through_the_store_resumes_by_range()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var (repo, layer) = await BaseLayerAsync(client, proxy.Host);
        var store = await OciKit.Layout.OciLayout.OpenAsync(Path.Combine(Path.GetTempPath(), "ocikit-short-" + Guid.NewGuid().ToString("N")));
        try
        {
            proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.DropAfter(layer.Size / 2));

            // Through the store, as a pull does: the stream resumes and the store verifies the digest.
            await using (var stream = client.OpenBlob(repo, layer))
            {
                await store.WriteBlobAsync(stream, layer);
            }

            Assert.True(store.ContainsBlob(layer.Digest));
            Assert.Contains(proxy.Requests, r => r.Range is not null && r.PathAndQuery.Contains(layer.Digest.ToString(), StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(store.Root, recursive: true);
        }
    }

    [Fact]
    public async Task An_upload_dropped_mid_chunk_resumes_and_stores_the_exact_blob()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/upload");
        var content = RandomNumberGenerator.GetBytes(100_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PATCH", "/v2/faults/upload/blobs/uploads/", new Fault.ResetBeforeForwarding());
        proxy.Add("PATCH", "/v2/faults/upload/blobs/uploads/", new Fault.Status(503));

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(content, back.ToArray());
        // The session was queried for its offset instead of starting over blindly.
        Assert.Contains(proxy.Requests, r => r.Method == "GET" && r.PathAndQuery.Contains("/blobs/uploads/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reset_on_the_first_chunk_resumes_from_the_registrys_offset()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/firstchunk");
        var content = RandomNumberGenerator.GetBytes(40_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PATCH", "/blobs/uploads/", new Fault.ResetBeforeForwarding());
        var opened = 0;

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ =>
        {
            Interlocked.Increment(ref opened);
            return Task.FromResult<Stream>(new MemoryStream(content));
        }));

        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(blob.Digest, Digest.ComputeSha256(back.ToArray()));

        // The reset chunk was not sent again blindly: the session was asked (GET), then the upload went on from there.
        var upload = proxy.Requests.Where(r => r.PathAndQuery.Contains("/v2/faults/firstchunk/blobs/uploads/", StringComparison.Ordinal) && r.Method != "POST").ToList();
        Assert.Equal(["PATCH 0-16383", "GET ", "PATCH 0-16383", "PATCH 16384-32767", "PATCH 32768-39999", "PUT "], upload.Select(r => $"{r.Method} {r.ContentRange}"));
        Assert.Equal(2, opened);
    }

    [Fact]
    public async Task A_chunk_answered_without_reaching_the_registry_is_sent_again()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/swallowed");
        var content = RandomNumberGenerator.GetBytes(40_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PATCH", "/blobs/uploads/", new Fault.AnswerWithoutForwarding(200));

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(blob.Digest, Digest.ComputeSha256(back.ToArray()));
        var patches = proxy.Requests.Where(r => r.Method == "PATCH" && r.PathAndQuery.Contains("/v2/faults/swallowed/", StringComparison.Ordinal)).Select(r => r.ContentRange);
        Assert.Equal(["0-16383", "0-16383", "16384-32767", "32768-39999"], patches);
    }

    [Fact]
    public async Task A_registry_that_never_stores_a_chunk_fails_in_bounded_attempts()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast(retries: 2) with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/blackhole");
        var content = RandomNumberGenerator.GetBytes(40_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PATCH", "/blobs/uploads/", new Fault.AnswerWithoutForwarding(202), times: 1000);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        Assert.Contains("did not store the chunk 0-16383", error.Message, StringComparison.Ordinal);
        Assert.Contains(blob.Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Requests.Count(r => r.Method == "PATCH" && r.PathAndQuery.Contains("/v2/faults/blackhole/", StringComparison.Ordinal)));
        Assert.DoesNotContain(proxy.Requests, r => r.Method == "PUT" && r.PathAndQuery.Contains("/v2/faults/blackhole/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_monolithic_upload_that_fails_restarts_its_session()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var repo = ImageReference.Parse($"{proxy.Host}/faults/monolithic");
        var content = RandomNumberGenerator.GetBytes(30_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PUT", "/v2/faults/monolithic/blobs/uploads/", new Fault.Status(503));

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));
        Assert.Equal(2, proxy.Requests.Count(r => r.Method == "POST" && r.PathAndQuery.Contains("/v2/faults/monolithic/blobs/uploads/", StringComparison.Ordinal)));
        Assert.Equal(content.Length, await client.HeadBlobAsync(repo, blob.Digest));
    }

    [Fact]
    public async Task A_503_to_the_put_completing_a_chunked_upload_is_retried_and_the_blob_is_right()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/complete");
        var content = RandomNumberGenerator.GetBytes(50_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PUT", "/v2/faults/complete/blobs/uploads/", new Fault.Status(503), times: 2);

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        Assert.Equal(3, proxy.Requests.Count(r => r.Method == "PUT" && r.PathAndQuery.Contains("/v2/faults/complete/blobs/uploads/", StringComparison.Ordinal)));
        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(blob.Digest, Digest.ComputeSha256(back.ToArray()));
    }

    [Fact]
    public async Task A_503_to_a_monolithic_put_twice_does_not_fail_the_push()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast());
        var repo = ImageReference.Parse($"{proxy.Host}/faults/monolithic503");
        var content = RandomNumberGenerator.GetBytes(30_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PUT", "/v2/faults/monolithic503/blobs/uploads/", new Fault.Status(503), times: 2);

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(content, back.ToArray());
    }

    [Fact]
    public async Task A_503_to_patch_chunks_resumes_from_the_offset_the_registry_reports()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/patch503");
        var content = RandomNumberGenerator.GetBytes(70_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PATCH", "/v2/faults/patch503/blobs/uploads/", new Fault.Status(503), times: 2);

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        using var back = new MemoryStream();
        await client.DownloadBlobAsync(repo, blob, back);
        Assert.Equal(content, back.ToArray());
        Assert.Contains(proxy.Requests, r => r.Method == "GET" && r.PathAndQuery.Contains("/v2/faults/patch503/blobs/uploads/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_registry_that_never_accepts_the_completion_fails_with_its_status()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast(retries: 2) with { ChunkSize = 16 * 1024 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/never");
        var content = RandomNumberGenerator.GetBytes(40_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("PUT", "/v2/faults/never/blobs/uploads/", new Fault.Status(503), times: 1000);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content))));

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.True(error.HasCode(RegistryErrorCodes.Unavailable));
        Assert.Contains(blob.Digest.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chunks_are_at_least_the_registrys_minimum_length()
    {
        using var proxy = Proxy();
        using var client = new RegistryClient(Fast() with { ChunkSize = 4096 });
        var repo = ImageReference.Parse($"{proxy.Host}/faults/minchunk");
        var content = RandomNumberGenerator.GetBytes(50_000);
        var blob = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(content), content.Length);
        proxy.Add("POST", "/v2/faults/minchunk/blobs/uploads/", new Fault.AddResponseHeader("OCI-Chunk-Min-Length", "20000"));

        await client.UploadBlobAsync(repo, blob, _ => Task.FromResult<Stream>(new MemoryStream(content)));
        Assert.Equal(3, proxy.Requests.Count(r => r.Method == "PATCH" && r.PathAndQuery.Contains("/v2/faults/minchunk/", StringComparison.Ordinal)));
        Assert.Equal(content.Length, await client.HeadBlobAsync(repo, blob.Digest));
    }

    [Fact]
    public async Task Tagging_in_the_registry_keeps_the_digest()
    {
        using var client = new RegistryClient(Fast());
        var tagged = await new ImageTransfer(client).TagAsync(ImageReference.Parse(fixture.BaseImage), "also-latest");
        Assert.Equal(fixture.BaseDigest, tagged.Digest.ToString());
        var head = await client.HeadManifestAsync(ImageReference.Parse($"{fixture.Registry.Host}/{RegistryFixture.BaseRepository}:also-latest"));
        Assert.Equal(tagged.Digest, head!.Digest);
    }
}
