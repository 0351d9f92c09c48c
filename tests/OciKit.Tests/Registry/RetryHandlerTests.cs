using System.Net;
using System.Net.Http.Headers;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>The retry handler alone, against a scripted inner handler (no network, no real waiting).</summary>
public class RetryHandlerTests
{
    /// <summary>Answers each attempt through a function of its number (1-based) and counts the attempts.</summary>
    private sealed class ScriptedHandler(Func<int, HttpRequestMessage, CancellationToken, HttpResponseMessage> answer) : HttpMessageHandler
    {
        private int _attempts;

        public int Attempts => _attempts;

        public List<byte[]?> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var attempt = Interlocked.Increment(ref _attempts);
            Bodies.Add(request.Content is null ? null : await request.Content.ReadAsByteArrayAsync(cancellationToken));
            var response = answer(attempt, request, cancellationToken);
            response.RequestMessage = request;
            return response;
        }
    }

    private static RegistryClientOptions Options(RecordingTimeProvider clock, int retries = 3) => new()
    {
        Credentials = null,
        MaxRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(100),
        RetryMaxDelay = TimeSpan.FromSeconds(10),
        TimeProvider = clock,
    };

    private static (HttpMessageInvoker Invoker, RetryPolicy Policy) Chain(RegistryClientOptions options, ScriptedHandler inner)
    {
        var policy = new RetryPolicy(options);
        return (new HttpMessageInvoker(new RetryHandler(policy) { InnerHandler = inner }), policy);
    }

    private static HttpRequestMessage Get() => new(HttpMethod.Get, "https://registry.test/v2/app/manifests/1");

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    public async Task A_transient_status_is_retried_up_to_MaxRetries_then_returned(HttpStatusCode status)
    {
        var clock = new RecordingTimeProvider();
        var options = Options(clock);
        var inner = new ScriptedHandler((_, _, _) => new HttpResponseMessage(status));
        var (invoker, _) = Chain(options, inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(4, inner.Attempts);
        Assert.Equal(3, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }

    [Fact]
    public async Task A_transient_status_then_success_returns_the_success()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => new HttpResponseMessage(attempt < 3 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK));
        var (invoker, _) = Chain(Options(clock), inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, inner.Attempts);
        Assert.Equal(2, clock.Waits.Count);
    }

    [Fact]
    public async Task A_reset_connection_is_retried()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => attempt == 1
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "scripted: connection reset")
            : new HttpResponseMessage(HttpStatusCode.OK));
        var (invoker, _) = Chain(Options(clock), inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Attempts);
    }

    [Fact]
    public async Task Past_MaxRetries_a_reset_connection_is_thrown()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((_, _, _) => throw new HttpRequestException(HttpRequestError.ConnectionError, "scripted: connection reset"));
        var (invoker, _) = Chain(Options(clock, retries: 2), inner);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => invoker.SendAsync(Get(), CancellationToken.None));

        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        Assert.Equal(3, inner.Attempts);
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    public async Task Retry_after_is_honoured(HttpStatusCode status)
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => attempt == 1
            ? new HttpResponseMessage(status) { Headers = { RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(3)) } }
            : new HttpResponseMessage(HttpStatusCode.OK));
        var (invoker, _) = Chain(Options(clock), inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([TimeSpan.FromSeconds(3)], clock.Waits);
    }

    [Fact]
    public async Task Retry_after_is_capped_at_RetryMaxDelay()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => attempt == 1
            ? new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Headers = { RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromHours(1)) } }
            : new HttpResponseMessage(HttpStatusCode.OK));
        var options = Options(clock);
        var (invoker, _) = Chain(options, inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal([options.RetryMaxDelay], clock.Waits);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.NotImplemented)]
    public async Task A_non_transient_status_is_not_retried_and_the_pipeline_is_never_built(HttpStatusCode status)
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((_, _, _) => new HttpResponseMessage(status));
        var (invoker, policy) = Chain(Options(clock), inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(1, inner.Attempts);
        Assert.Empty(clock.Waits);
        Assert.False(policy.IsPipelineBuilt);
    }

    [Fact]
    public async Task The_pipeline_is_built_on_the_first_retry_only()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => new HttpResponseMessage(attempt == 3 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK));
        var (invoker, policy) = Chain(Options(clock), inner);

        using (await invoker.SendAsync(Get(), CancellationToken.None))
        using (await invoker.SendAsync(Get(), CancellationToken.None))
        {
            Assert.False(policy.IsPipelineBuilt);
        }

        using var third = await invoker.SendAsync(Get(), CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.True(policy.IsPipelineBuilt);
    }

    [Fact]
    public async Task A_request_whose_content_cannot_be_sent_again_is_not_retried()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((_, _, _) => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
        var (invoker, policy) = Chain(Options(clock), inner);
        using var request = new HttpRequestMessage(HttpMethod.Patch, "https://registry.test/v2/app/blobs/uploads/1")
        {
            Content = new StreamContent(new MemoryStream([1, 2, 3])),
        };

        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, inner.Attempts);
        Assert.False(policy.IsPipelineBuilt);
    }

    [Fact]
    public async Task A_request_with_buffered_content_is_sent_again_whole()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((attempt, _, _) => new HttpResponseMessage(attempt == 1 ? HttpStatusCode.BadGateway : HttpStatusCode.Created));
        var (invoker, _) = Chain(Options(clock), inner);
        using var request = new HttpRequestMessage(HttpMethod.Put, "https://registry.test/v2/app/manifests/1") { Content = new ByteArrayContent([1, 2, 3]) };

        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, inner.Attempts);
        Assert.All(inner.Bodies, body => Assert.Equal([1, 2, 3], body));
    }

    [Fact]
    public async Task Cancellation_during_an_attempt_stops_the_retries()
    {
        var clock = new RecordingTimeProvider();
        using var cancel = new CancellationTokenSource();
        var inner = new ScriptedHandler((attempt, _, _) =>
        {
            if (attempt == 2)
            {
                cancel.Cancel();
            }

            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        });
        var (invoker, _) = Chain(Options(clock), inner);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => invoker.SendAsync(Get(), cancel.Token));

        Assert.Equal(2, inner.Attempts);
        Assert.Single(clock.Waits);
    }

    [Fact]
    public async Task Cancellation_before_the_first_retry_stops_it()
    {
        var clock = new RecordingTimeProvider();
        using var cancel = new CancellationTokenSource();
        var inner = new ScriptedHandler((_, _, _) =>
        {
            cancel.Cancel();
            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        });
        var (invoker, policy) = Chain(Options(clock), inner);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => invoker.SendAsync(Get(), cancel.Token));

        Assert.Equal(1, inner.Attempts);
        Assert.Empty(clock.Waits);
        Assert.False(policy.IsPipelineBuilt);
    }

    [Fact]
    public async Task Requests_of_one_operation_share_its_budget_and_its_back_off()
    {
        var clock = new RecordingTimeProvider();
        var options = Options(clock);
        var inner = new ScriptedHandler((attempt, request, _) => new HttpResponseMessage(
            request.RequestUri!.AbsolutePath.EndsWith("/first", StringComparison.Ordinal) && attempt < 3 ? HttpStatusCode.ServiceUnavailable
            : request.RequestUri!.AbsolutePath.EndsWith("/second", StringComparison.Ordinal) ? HttpStatusCode.ServiceUnavailable
            : HttpStatusCode.OK));
        var (invoker, policy) = Chain(options, inner);
        var budget = policy.NewBudget();
        using var first = new HttpRequestMessage(HttpMethod.Get, "https://registry.test/v2/app/first");
        using var second = new HttpRequestMessage(HttpMethod.Get, "https://registry.test/v2/app/second");
        first.Options.Set(RetryPolicy.BudgetKey, budget);
        second.Options.Set(RetryPolicy.BudgetKey, budget);

        using (var ok = await invoker.SendAsync(first, CancellationToken.None))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var failed = await invoker.SendAsync(second, CancellationToken.None);

        // Two retries for the first request, the one left for the second: 3 + 2 attempts, and the waits of retries 1, 2, 3.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Equal(5, inner.Attempts);
        Assert.Equal(3, budget.Used);
        Assert.Equal(3, clock.Waits.Count);
        BackoffAssert.FromTheFormula(options, clock.Waits);
    }

    [Fact]
    public async Task With_no_retries_nothing_is_retried()
    {
        var clock = new RecordingTimeProvider();
        var inner = new ScriptedHandler((_, _, _) => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
        var (invoker, policy) = Chain(Options(clock, retries: 0), inner);

        using var response = await invoker.SendAsync(Get(), CancellationToken.None);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, inner.Attempts);
        Assert.False(policy.IsPipelineBuilt);
    }

    [Theory]
    [InlineData(1, 0.0, 50)]
    [InlineData(1, 0.999999, 100)]
    [InlineData(3, 0.0, 200)]
    [InlineData(10, 0.0, 5000)] // capped at RetryMaxDelay (10 s) before the jitter
    public void The_back_off_is_exponential_capped_and_jittered(int retry, double draw, int milliseconds)
    {
        var options = new RegistryClientOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(100), RetryMaxDelay = TimeSpan.FromSeconds(10) };
        Assert.Equal(milliseconds, RetryPolicy.Backoff(options, retry, draw).TotalMilliseconds, 0.01);
    }
}
