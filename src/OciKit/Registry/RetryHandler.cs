using System.Net;
using Polly;
using Polly.Retry;

namespace OciKit.Registry;

/// <summary>
/// Retries transient failures (429 honouring <c>Retry-After</c>, 5xx, resets, timeouts) with exponential back-off and
/// jitter, bounded by <see cref="RegistryClientOptions.MaxRetries"/>. Built on Polly.Core v8's resilience pipeline,
/// which needs no dependency injection, unlike Microsoft.Extensions.Http.Polly (Polly v7, deprecated) or
/// Microsoft.Extensions.Http.Resilience (which brings the DI/options/telemetry stack a library should not impose).
/// </summary>
/// <remarks>
/// Only requests whose body can be sent again are retried here (no body, or a buffered one); blob uploads stream from
/// a file and are retried by <see cref="RegistryClient"/>, which resumes or restarts the upload session instead.
/// </remarks>
internal sealed class RetryHandler : DelegatingHandler
{
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly TimeSpan _requestTimeout;

    public RetryHandler(RegistryClientOptions options)
    {
        _requestTimeout = options.RequestTimeout;
        var maxDelay = options.RetryMaxDelay;
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(1, options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = maxDelay,
                ShouldHandle = args => ValueTask.FromResult(options.MaxRetries > 0 && args.Outcome switch
                {
                    { Exception: OperationCanceledException } when args.Context.CancellationToken.IsCancellationRequested => false,
                    { Exception: { } ex } => RegistryResponses.IsTransientException(ex) || ex is OperationCanceledException,
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

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!CanResend(request))
        {
            return await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
        }

        return await _pipeline.ExecuteAsync(
            static async (state, ct) => await state.Handler.SendWithTimeoutAsync(state.Request, ct).ConfigureAwait(false),
            (Handler: this, Request: request),
            cancellationToken).ConfigureAwait(false);
    }

    private static bool CanResend(HttpRequestMessage request) => request.Content is null or ByteArrayContent;

    private async Task<HttpResponseMessage> SendWithTimeoutAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_requestTimeout);
        try
        {
            return await base.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No response within {_requestTimeout.TotalSeconds:0} s.", ex);
        }
    }
}
