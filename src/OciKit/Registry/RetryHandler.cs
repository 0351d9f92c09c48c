using System.Net;
using Polly;

namespace OciKit.Registry;

/// <summary>
/// Retries requests that fail transiently (429 honouring <c>Retry-After</c>, 5xx, resets, timeouts) through the
/// client's one <see cref="RetryPolicy"/>, bounded by <see cref="RegistryClientOptions.MaxRetries"/> (or by the budget
/// of the operation the request is a step of, <see cref="RetryPolicy.BudgetKey"/>); every attempt is bounded by
/// <see cref="RegistryClientOptions.RequestTimeout"/>. The retries run on Polly.Core v8's resilience pipeline, which
/// needs no dependency injection, unlike Microsoft.Extensions.Http.Polly (Polly v7, deprecated) or
/// Microsoft.Extensions.Http.Resilience (which brings the DI/options/telemetry stack a library should not impose).
/// </summary>
/// <remarks>
/// <para>
/// The first attempt is sent directly; the policy's pipeline is built and entered only after a transient failure,
/// starting from that failure's outcome (see <see cref="RetryPolicy"/> for why).
/// </para>
/// <para>
/// Only requests whose body can be sent again are retried here (no body, or a buffered one); blob uploads stream from
/// a file and are retried by <see cref="RegistryClient"/>, which resumes or restarts the upload session instead,
/// through the same policy and budget.
/// </para>
/// </remarks>
internal sealed class RetryHandler(RetryPolicy policy) : DelegatingHandler
{
    /// <summary>
    /// Set on a request whose failures below HTTP other than timeouts (a refused connection, a reset, an answer that is
    /// not HTTP) are answers rather than accidents, so are not retried: the plain-HTTP probe of a loopback registry,
    /// where they show that TLS, or nothing, listens there. Transient statuses and timeouts are still retried.
    /// </summary>
    public static readonly HttpRequestOptionsKey<bool> ConnectionFailuresAreFinalKey = new("OciKit.ConnectionFailuresAreFinal");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var connectionFailuresAreFinal = request.Options.TryGetValue(ConnectionFailuresAreFinalKey, out var final) && final;
        if (policy.Options.MaxRetries <= 0 || !CanResend(request))
        {
            return await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
        }

        Outcome<HttpResponseMessage> first;
        try
        {
            var response = await SendWithTimeoutAsync(request, cancellationToken).ConfigureAwait(false);
            if (!RegistryResponses.IsTransientStatus(response.StatusCode))
            {
                return response;
            }

            first = Outcome.FromResult(response);
        }
        catch (Exception ex) when (IsTransient(ex, connectionFailuresAreFinal, cancellationToken))
        {
            first = Outcome.FromException<HttpResponseMessage>(ex);
        }

        var budget = request.Options.TryGetValue(RetryPolicy.BudgetKey, out var shared) ? shared : policy.NewBudget();
        return await policy.RetryAsync(
            first,
            budget,
            ex => IsTransient(ex, connectionFailuresAreFinal, cancellationToken),
            static (state, ct) => new ValueTask<HttpResponseMessage>(state.Handler.SendWithTimeoutAsync(state.Request, ct)),
            (Handler: this, Request: request),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Transient below HTTP, or an attempt abandoned by a timeout other than the caller's cancellation; only the latter
    /// when <paramref name="connectionFailuresAreFinal"/>.
    /// </summary>
    private static bool IsTransient(Exception ex, bool connectionFailuresAreFinal, CancellationToken cancellationToken)
    {
        var timedOut = (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested) || (ex is RegistryTimeoutException or TimeoutException && RetryPolicy.IsTransient(ex, cancellationToken));
        return connectionFailuresAreFinal ? timedOut : timedOut || RetryPolicy.IsTransient(ex, cancellationToken);
    }

    private static bool CanResend(HttpRequestMessage request) => request.Content is null or ByteArrayContent;

    private async Task<HttpResponseMessage> SendWithTimeoutAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var options = policy.Options;
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
