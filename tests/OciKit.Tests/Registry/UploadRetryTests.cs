using System.Net;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>
/// Blob uploads against an in-memory registry with scripted faults: every retry of the upload (of a request, or of a
/// step: re-query the offset, resume, restart the session) draws from one budget of MaxRetries and waits the one back-off.
/// </summary>
public class UploadRetryTests
{
    private const int MaxRetries = 3;

    private static readonly ImageReference Repository = ImageReference.Parse($"{StubRegistry.Host}/app");

    private static RegistryClientOptions Options(StubRegistry registry, RecordingTimeProvider clock, int retries = MaxRetries) => new()
    {
        Credentials = null,
        InnerHandler = registry,
        MaxRetries = retries,
        ChunkSize = 1024,
        RetryBaseDelay = TimeSpan.FromMilliseconds(100),
        RetryMaxDelay = TimeSpan.FromSeconds(60),
        TimeProvider = clock,
    };

    private static bool IsUpload(HttpRequestMessage request, HttpMethod method)
        => request.Method == method && request.RequestUri!.AbsolutePath.StartsWith("/v2/app/blobs/uploads/", StringComparison.Ordinal);

    /// <summary>Answers the PUT completing an upload with a 503 the first <paramref name="times"/> times.</summary>
    private static Func<HttpRequestMessage, HttpResponseMessage?> FailPut(int times, HttpStatusCode status = HttpStatusCode.ServiceUnavailable, TimeSpan? retryAfter = null)
    {
        var puts = 0;
        return request => IsUpload(request, HttpMethod.Put) && ++puts <= times
            ? StubRegistry.Error(status, status switch { HttpStatusCode.TooManyRequests => "TOOMANYREQUESTS", HttpStatusCode.ServiceUnavailable => "UNAVAILABLE", _ => "DENIED" }, retryAfter)
            : null;
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(false, 1)]
    [InlineData(false, MaxRetries)]
    [InlineData(true, 0)]
    [InlineData(true, 1)]
    [InlineData(true, MaxRetries)]
    public async Task A_completing_put_answered_503_up_to_MaxRetries_times_succeeds(bool chunked, int failures)
    {
        var registry = new StubRegistry { Fault = FailPut(failures) };
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock);
        using var client = new RegistryClient(options);
        var (bytes, blob) = Blobs.Random(chunked ? 3000 : 500);

        var outcome = await client.UploadBlobAsync(Repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes)));

        Assert.Equal(BlobUploadOutcome.Uploaded, outcome);
        Assert.Equal(bytes, registry.Blob(blob.Digest));
        Assert.Equal(failures + 1, registry.Count("PUT", "/blobs/uploads/"));
        Assert.Equal(failures, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
        if (chunked)
        {
            // The PUT has no body and is sent again as it is: no chunk goes twice.
            Assert.Equal(3, registry.Count("PATCH", "/blobs/uploads/"));
        }
        else
        {
            // A monolithic PUT streams the blob, so each retry starts a fresh session.
            Assert.Equal(failures + 1, registry.Count("POST", "/blobs/uploads/"));
        }

        Assert.Equal(failures > 0, client.Retry.IsPipelineBuilt);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_completing_put_answered_503_more_than_MaxRetries_times_fails_with_the_503(bool chunked)
    {
        var registry = new StubRegistry { Fault = FailPut(MaxRetries + 1) };
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock);
        using var client = new RegistryClient(options);
        var (bytes, blob) = Blobs.Random(chunked ? 3000 : 500);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(Repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes))));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.True(error.HasCode(RegistryErrorCodes.Unavailable));
        Assert.True(error.IsTransient);
        Assert.Contains(blob.Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Null(registry.Blob(blob.Digest));

        // MaxRetries retries in all, whether the handler retried the PUT or the upload restarted its session.
        Assert.Equal(MaxRetries + 1, registry.Count("PUT", "/blobs/uploads/"));
        Assert.Equal(MaxRetries, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }

    [Theory]
    [InlineData(2, true)]
    [InlineData(1, false)]
    public async Task A_resumed_chunk_and_a_retried_put_draw_from_one_budget(int retries, bool succeeds)
    {
        // The second chunk's PATCH fails once (the upload asks the session's offset and resumes), then the completing
        // PUT fails once (the handler sends it again): two retries of one upload.
        var patches = 0;
        var failPut = FailPut(1);
        var registry = new StubRegistry();
        registry.Fault = request => IsUpload(request, HttpMethod.Patch) && ++patches == 2
            ? StubRegistry.Error(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE")
            : failPut(request);
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock, retries);
        using var client = new RegistryClient(options);
        var (bytes, blob) = Blobs.Random(3000);

        var upload = client.UploadBlobAsync(Repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes)));

        if (succeeds)
        {
            Assert.Equal(BlobUploadOutcome.Uploaded, await upload);
            Assert.Equal(bytes, registry.Blob(blob.Digest));
            Assert.Equal(2, registry.Count("PUT", "/blobs/uploads/"));
        }
        else
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => upload);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
            Assert.Equal(1, registry.Count("PUT", "/blobs/uploads/"));
        }

        // Resumed, not restarted: one session, asked for its offset once, and the first chunk sent once.
        Assert.Equal(1, registry.Count("POST", "/blobs/uploads/"));
        Assert.Equal(1, registry.Count("GET", "/blobs/uploads/"));
        Assert.Equal(4, patches);

        // The n-th retry of the upload waits the n-th back-off, whichever level retried.
        Assert.Equal(retries, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }

    [Fact]
    public async Task A_429_to_a_monolithic_put_waits_its_retry_after()
    {
        var registry = new StubRegistry { Fault = FailPut(1, HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(7)) };
        var clock = new RecordingTimeProvider();
        using var client = new RegistryClient(Options(registry, clock));
        var (bytes, blob) = Blobs.Random(500);

        Assert.Equal(BlobUploadOutcome.Uploaded, await client.UploadBlobAsync(Repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes))));

        Assert.Equal([TimeSpan.FromSeconds(7)], clock.Waits);
        Assert.Equal(bytes, registry.Blob(blob.Digest));
    }

    [Fact]
    public async Task A_non_transient_refusal_is_not_retried()
    {
        var registry = new StubRegistry { Fault = FailPut(10, HttpStatusCode.Forbidden) };
        var clock = new RecordingTimeProvider();
        using var client = new RegistryClient(Options(registry, clock));
        var (bytes, blob) = Blobs.Random(500);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(Repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes))));

        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Equal(1, registry.Count("PUT", "/blobs/uploads/"));
        Assert.Empty(clock.Waits);
        Assert.False(client.Retry.IsPipelineBuilt);
    }

    [Fact]
    public async Task A_content_stream_that_fails_is_reopened_within_the_budget_then_reported()
    {
        var registry = new StubRegistry();
        var clock = new RecordingTimeProvider();
        using var client = new RegistryClient(Options(registry, clock, retries: 2));
        var (bytes, blob) = Blobs.Random(500);
        var opened = 0;

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(Repository, blob, _ =>
        {
            opened++;
            throw new IOException("scripted: the source file is gone");
        }));

        Assert.Equal(3, opened);
        Assert.Equal(2, clock.Waits.Count);
        Assert.True(error.IsTransient);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(error.InnerException);
    }
}
