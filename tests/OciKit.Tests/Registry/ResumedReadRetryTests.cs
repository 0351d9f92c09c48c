using System.Net;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>
/// Blob downloads against an in-memory registry with scripted faults: a dropped download resumes by Range through the
/// one retry policy, and the download's resumptions and its requests' retries draw from one budget.
/// </summary>
public class ResumedReadRetryTests
{
    private static readonly ImageReference Repository = ImageReference.Parse($"{StubRegistry.Host}/app");

    private static RegistryClientOptions Options(StubRegistry registry, RecordingTimeProvider clock, int retries = 3) => new()
    {
        Credentials = null,
        InnerHandler = registry,
        MaxRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(100),
        RetryMaxDelay = TimeSpan.FromSeconds(60),
        TimeProvider = clock,
    };

    private static bool IsBlobGet(HttpRequestMessage request, Descriptor blob)
        => request.Method == HttpMethod.Get && request.RequestUri!.AbsolutePath.EndsWith("/blobs/" + blob.Digest, StringComparison.Ordinal);

    [Fact]
    public async Task A_dropped_download_resumes_by_range_after_the_first_back_off()
    {
        var registry = new StubRegistry();
        var (bytes, blob) = Blobs.Random(3000);
        registry.Add(bytes);
        var gets = 0;
        var ranges = new List<long?>();
        registry.Fault = request =>
        {
            if (!IsBlobGet(request, blob))
            {
                return null;
            }

            ranges.Add(request.Headers.Range?.Ranges.Single().From);
            return ++gets == 1 ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new DroppingContent(bytes, 1000) } : null;
        };
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock);
        using var client = new RegistryClient(options);

        using var destination = new MemoryStream();
        await client.DownloadBlobAsync(Repository, blob, destination);

        Assert.Equal(bytes, destination.ToArray());
        Assert.Equal(new long?[] { null, 1000 }, ranges);
        Assert.Single(clock.Waits);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }

    [Fact]
    public async Task A_download_that_succeeds_never_builds_the_pipeline()
    {
        var registry = new StubRegistry();
        var (bytes, blob) = Blobs.Random(3000);
        registry.Add(bytes);
        using var client = new RegistryClient(Options(registry, new RecordingTimeProvider()));

        using var destination = new MemoryStream();
        await client.DownloadBlobAsync(Repository, blob, destination);

        Assert.Equal(bytes, destination.ToArray());
        Assert.False(client.Retry.IsPipelineBuilt);
    }

    [Fact]
    public async Task A_download_dropped_every_time_fails_after_MaxRetries_resumptions()
    {
        var registry = new StubRegistry();
        var (bytes, blob) = Blobs.Random(3000);
        registry.Add(bytes);
        registry.Fault = request => IsBlobGet(request, blob)
            ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new DroppingContent(bytes, 10) }
            : null;
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock, retries: 2);
        using var client = new RegistryClient(options);

        using var destination = new MemoryStream();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.DownloadBlobAsync(Repository, blob, destination));

        Assert.True(error.IsTransient);
        Assert.Contains(blob.Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, registry.Count("GET", "/blobs/sha256:"));
        BackoffAssert.FromTheFormula(options, clock.Waits);
        Assert.Equal(2, clock.Waits.Count);
    }

    [Fact]
    public async Task A_blob_answered_503_every_time_fails_with_the_503_after_MaxRetries_retries_in_all()
    {
        var registry = new StubRegistry();
        var (bytes, blob) = Blobs.Random(3000);
        registry.Add(bytes);
        registry.Fault = request => IsBlobGet(request, blob) ? StubRegistry.Error(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE") : null;
        var clock = new RecordingTimeProvider();
        var options = Options(registry, clock, retries: 3);
        using var client = new RegistryClient(options);

        using var destination = new MemoryStream();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.DownloadBlobAsync(Repository, blob, destination));

        // The request's retries used the download's budget: no second round of retries by the stream.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.Equal(4, registry.Count("GET", "/blobs/sha256:"));
        Assert.Equal(3, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }
}
