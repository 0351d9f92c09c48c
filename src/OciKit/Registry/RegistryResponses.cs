using System.Net;
using System.Text.Json;

namespace OciKit.Registry;

/// <summary>Turns registry error responses into <see cref="RegistryException"/>s, and decides what is transient.</summary>
internal static class RegistryResponses
{
    /// <summary>The most of an error body that is read (the rest is ignored).</summary>
    public const int MaxErrorBody = 64 * 1024;

    /// <summary>The largest token service answer accepted: 1 MiB, as containers/image allows.</summary>
    public const int MaxTokenBody = 1024 * 1024;

    /// <summary>The largest page of a tag list or of the catalog accepted: 4 MiB (tens of thousands of names).</summary>
    public const int MaxListPage = 4 * 1024 * 1024;

    /// <summary>
    /// Reads a response body of at most <paramref name="limit"/> bytes. A longer body (by <c>Content-Length</c>, or by
    /// what arrives) fails with a <see cref="RegistryException"/> naming the redacted URL and the limit; reading stops
    /// there, the rest is never buffered. A body that breaks off is a transient <see cref="RegistryException"/>.
    /// </summary>
    /// <param name="response">The response, sent with headers-only completion so its body is not buffered yet.</param>
    /// <param name="limit">The most bytes accepted.</param>
    /// <param name="what">What the body is, for the message (for example <c>manifest registry/app:1</c>).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The body.</returns>
    public static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        var request = response.RequestMessage;
        RegistryException TooLarge(string size) => new(
            $"The {what} is {size}, more than the {limit} bytes ({FormatSize(limit)}) accepted",
            request?.Method.Method ?? "GET",
            request?.RequestUri,
            response.StatusCode);

        if (response.Content.Headers.ContentLength is { } announced && announced > limit)
        {
            throw TooLarge($"{announced} bytes");
        }

        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit + 1L - buffer.Length)), cancellationToken).ConfigureAwait(false)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > limit)
                {
                    throw TooLarge("larger");
                }
            }

            return buffer.ToArray();
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            throw new RegistryException(
                $"The {what} broke off: {ex.Message}", request?.Method.Method ?? "GET", request?.RequestUri, response.StatusCode, isTransient: true, innerException: ex);
        }
    }

    private static string FormatSize(long bytes) => bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes / 1024} KiB";

    /// <summary>Statuses worth retrying: request timeout, throttling and server-side failures.</summary>
    public static bool IsTransientStatus(HttpStatusCode status) => status is HttpStatusCode.RequestTimeout
        or HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
        or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>Failures below HTTP worth retrying: connection refused or reset, truncated bodies, timeouts.</summary>
    public static bool IsTransientException(Exception exception) => exception switch
    {
        HttpRequestException { StatusCode: { } status } => IsTransientStatus(status),
        HttpRequestException hre => hre.HttpRequestError is not (HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.ConfigurationLimitExceeded),
        IOException => true,
        TimeoutException => true,
        RegistryException re => re.IsTransient,
        _ => false,
    };

    /// <summary>The delay a response asks for through <c>Retry-After</c> (seconds or an HTTP date).</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header is null)
        {
            return null;
        }

        if (header.Delta is { } delta)
        {
            return delta;
        }

        if (header.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>Reads at most <see cref="MaxErrorBody"/> bytes of an error response and builds the exception.</summary>
    public static async Task<RegistryException> ToExceptionAsync(HttpResponseMessage response, string message, CancellationToken cancellationToken)
    {
        var request = response.RequestMessage;
        var errors = await ReadErrorsAsync(response, cancellationToken).ConfigureAwait(false);
        var transient = IsTransientStatus(response.StatusCode)
            || errors.Any(e => e.Code is RegistryErrorCodes.TooManyRequests or RegistryErrorCodes.Unavailable);
        return new RegistryException(message, request?.Method.Method ?? "?", request?.RequestUri, response.StatusCode, errors, transient, RetryAfter(response));
    }

    /// <summary>Builds the exception for a request that got no usable response.</summary>
    public static RegistryException ToException(HttpRequestMessage request, string message, Exception inner)
        => new(message + ": " + inner.Message, request.Method.Method, request.RequestUri, null, null, IsTransientException(inner), null, inner);

    private static async Task<List<RegistryError>> ReadErrorsAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var errors = new List<RegistryError>();
        byte[] body;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            body = new byte[MaxErrorBody];
            var total = 0;
            int read;
            while (total < body.Length && (read = await stream.ReadAsync(body.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
            }

            Array.Resize(ref body, total);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return errors;
        }

        if (body.Length == 0)
        {
            return errors;
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in list.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    var code = e.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "UNKNOWN";
                    var msg = e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    var detail = e.TryGetProperty("detail", out var d) && d.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? Truncate(d.GetRawText()) : null;
                    errors.Add(new RegistryError(code, msg is null ? null : Truncate(msg), detail));
                }
            }
        }
        catch (JsonException)
        {
            // Not the spec's error body (a proxy's HTML page, say): the status alone must do.
        }

        return errors;
    }

    /// <summary>Redacts a registry's error text (it may echo the refused request's credentials) and keeps at most 512 characters of it.</summary>
    private static string Truncate(string text)
    {
        text = RegistryException.RedactText(text);
        return text.Length <= 512 ? text : text[..512] + "…";
    }
}
