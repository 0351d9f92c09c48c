using System.Net;

namespace OciKit.Registry;

/// <summary>
/// Retries transient failures (429 honouring <c>Retry-After</c>, 5xx, resets, timeouts) with exponential back-off and
/// jitter, bounded by <see cref="RegistryClientOptions.MaxRetries"/>; every attempt is bounded by
/// <see cref="RegistryClientOptions.RequestTimeout"/>.
/// </summary>
/// <remarks>
/// Only requests whose body can be sent again are retried here (no body, or a buffered one); blob uploads stream from
/// a file and are retried by <see cref="RegistryClient"/>, which resumes or restarts the upload session instead.
/// Written by hand rather than on Polly.Core: the loop is a few lines and shares its back-off with the client's upload
/// and download retries, while Polly's builder validates its options through DataAnnotations reflection and about 200
/// of its methods were JIT-compiled for the first request: tens of milliseconds of CPU at the start of every
/// short-lived process (a CLI command, an MSBuild task), measured in issue 9's profile of <c>ocikit copy</c>.
/// </remarks>
internal sealed class RetryHandler(RegistryClientOptions options) : DelegatingHandler
{
    /// <summary>The wait before retry number <paramref name="attempt"/> (1-based): exponential from the base delay, with jitter, capped.</summary>
    internal static TimeSpan Backoff(RegistryClientOptions options, int attempt)
    {
        var ms = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        ms = Math.Min(ms, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var retries = CanResend(request) ? options.MaxRetries : 0;
        for (var attempt = 1; ; attempt++)
        {
            HttpResponseMessage response;
            try
            {
                response = await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt <= retries && !cancellationToken.IsCancellationRequested
                && (RegistryResponses.IsTransientException(ex) || ex is OperationCanceledException))
            {
                await Task.Delay(Backoff(options, attempt), cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (attempt > retries || !RegistryResponses.IsTransientStatus(response.StatusCode))
            {
                return response;
            }

            var delay = Backoff(options, attempt);
            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable && RegistryResponses.RetryAfter(response) is { } wait)
            {
                delay = wait < options.RetryMaxDelay ? wait : options.RetryMaxDelay;
            }

            response.Dispose();
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

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
}
