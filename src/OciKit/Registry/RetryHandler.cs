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
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No response within {options.RequestTimeout.TotalSeconds:0} s.", ex);
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
