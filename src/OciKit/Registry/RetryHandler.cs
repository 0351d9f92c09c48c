using System.Net;
using System.Runtime.ExceptionServices;
using Polly;
using Polly.Retry;

namespace OciKit.Registry;

/// <summary>
/// Retries transient failures (429 honouring <c>Retry-After</c>, 5xx, resets, timeouts) with exponential back-off and
/// jitter, bounded by <see cref="RegistryClientOptions.MaxRetries"/>; every attempt is bounded by
/// <see cref="RegistryClientOptions.RequestTimeout"/>. The retries run on Polly.Core v8's resilience pipeline, which
/// needs no dependency injection, unlike Microsoft.Extensions.Http.Polly (Polly v7, deprecated) or
/// Microsoft.Extensions.Http.Resilience (which brings the DI/options/telemetry stack a library should not impose).
/// </summary>
/// <remarks>
/// <para>
/// The first attempt is sent directly and the pipeline is built and entered only after a transient failure, starting
/// from that failure's outcome. Building the pipeline validates its options through DataAnnotations reflection and its
/// first use JIT-compiles about 200 methods: tens of milliseconds of CPU that every short-lived process (a CLI command,
/// an MSBuild task) paid on its first request although almost no request is ever retried (issue 9's profile of
/// <c>ocikit copy</c>).
/// </para>
/// <para>
/// Only requests whose body can be sent again are retried here (no body, or a buffered one); blob uploads stream from
/// a file and are retried by <see cref="RegistryClient"/>, which resumes or restarts the upload session instead, with
/// the same <see cref="Backoff"/>.
/// </para>
/// </remarks>
internal sealed class RetryHandler(RegistryClientOptions options) : DelegatingHandler
{
    private ResiliencePipeline<HttpResponseMessage>? _pipeline;

    /// <summary>The wait before retry number <paramref name="attempt"/> (1-based): exponential from the base delay, with jitter, capped.</summary>
    internal static TimeSpan Backoff(RegistryClientOptions options, int attempt)
    {
        var ms = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        ms = Math.Min(ms, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (options.MaxRetries <= 0 || !CanResend(request))
        {
            return await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var first = new FirstOutcome();
        try
        {
            first.Response = await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
            if (!RegistryResponses.IsTransientStatus(first.Response.StatusCode))
            {
                return first.Response;
            }
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            first.Failure = ExceptionDispatchInfo.Capture(ex);
        }

        // Polly's first "attempt" hands back the failure just seen, so its retry count and delays apply unchanged.
        var pipeline = LazyInitializer.EnsureInitialized(ref _pipeline, () => BuildPipeline(options));
        return await pipeline.ExecuteAsync(
            static async (state, ct) => state.First.Take() ?? await state.Handler.SendWithTimeoutAsync(state.Request, ct).ConfigureAwait(false),
            (Handler: this, Request: request, First: first),
            cancellationToken).ConfigureAwait(false);
    }

    private static ResiliencePipeline<HttpResponseMessage> BuildPipeline(RegistryClientOptions options)
    {
        var maxDelay = options.RetryMaxDelay;
        return new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = maxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: { } ex } => IsTransient(ex, args.Context.CancellationToken),
                    { Result: { } response } => RegistryResponses.IsTransientStatus(response.StatusCode),
                    _ => false,
                }),
                DelayGenerator = args =>
                {
                    if (args.Outcome.Result is { StatusCode: HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable } response
                        && RegistryResponses.RetryAfter(response) is { } wait)
                    {
                        return ValueTask.FromResult<TimeSpan?>(wait < maxDelay ? wait : maxDelay);
                    }

                    return ValueTask.FromResult<TimeSpan?>(null);
                },
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .Build();
    }

    private static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && (RegistryResponses.IsTransientException(ex) || ex is OperationCanceledException);

    private static bool CanResend(HttpRequestMessage request) => request.Content is null or ByteArrayContent;

    private async Task<HttpResponseMessage> SendWithTimeoutAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            return await base.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            throw new RegistryTimeoutException(null, request.RequestUri?.Authority ?? "the registry", RegistryTimeoutKind.Request, options.RequestTimeout, request.Method.Method, request.RequestUri, ex);
        }
    }

    /// <summary>The outcome of the attempt made before the pipeline: given back once, as the pipeline's first attempt.</summary>
    private sealed class FirstOutcome
    {
        public HttpResponseMessage? Response { get; set; }

        public ExceptionDispatchInfo? Failure { get; set; }

        /// <summary>The first outcome the first time (a response, or its exception rethrown), <see langword="null"/> after.</summary>
        public HttpResponseMessage? Take()
        {
            var (response, failure) = (Response, Failure);
            (Response, Failure) = (null, null);
            failure?.Throw();
            return response;
        }
    }
}

/// <summary>
/// The innermost bounds of one attempt: <see cref="RegistryClientOptions.ResponseTimeout"/>, counted from the moment
/// the request's body has been sent (for a request without one, from its start plus
/// <see cref="RegistryClientOptions.ConnectTimeout"/>, the time it may need to connect), and the transport's
/// <see cref="RegistryClientOptions.ConnectTimeout"/> turned into a <see cref="RegistryTimeoutException"/> naming the
/// host. Neither bounds reading the response's body: the handler returns once the headers are in.
/// </summary>
internal sealed class ResponseTimeoutHandler(RegistryClientOptions options) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var original = request.Content;
        if (original is null)
        {
            // Whether this request must connect first (a pooled connection may be free) is not known here, so its
            // bound leaves the connect timeout room to fire first.
            timeout.CancelAfter(options.ConnectTimeout + options.ResponseTimeout);
        }
        else
        {
            // The clock starts once the body is out: an upload's body may legitimately take long to send.
            request.Content = new SentSignallingContent(original, () => StartClock(timeout, options.ResponseTimeout));
        }

        var host = request.RequestUri?.Authority ?? "the registry";
        try
        {
            return await base.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && ex.InnerException is TimeoutException)
        {
            // SocketsHttpHandler's ConnectTimeout (TCP connect and TLS handshake).
            throw new RegistryTimeoutException(null, host, RegistryTimeoutKind.Connect, options.ConnectTimeout, request.Method.Method, request.RequestUri, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            throw new RegistryTimeoutException(null, host, RegistryTimeoutKind.Response, options.ResponseTimeout, request.Method.Method, request.RequestUri, ex);
        }
        finally
        {
            // Handlers above look at the content they set (can it be sent again?), not at this wrapper.
            request.Content = original;
        }
    }

    private static void StartClock(CancellationTokenSource timeout, TimeSpan after)
    {
        try
        {
            timeout.CancelAfter(after);
        }
        catch (ObjectDisposedException)
        {
            // The response came before the body was all sent, and the attempt is over.
        }
    }
}
