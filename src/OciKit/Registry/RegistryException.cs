using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using OciKit.Primitives;

namespace OciKit.Registry;

/// <summary>One entry of a registry's JSON error body (<c>{"errors":[{"code","message","detail"}]}</c>).</summary>
/// <param name="Code">The spec's error code, for example <see cref="RegistryErrorCodes.ManifestUnknown"/>.</param>
/// <param name="Message">The registry's human-readable message.</param>
/// <param name="Detail">The registry's detail, as raw JSON text, if any.</param>
public sealed record RegistryError(string Code, string? Message, string? Detail);

/// <summary>
/// A registry answered with an error, or the exchange with it failed: who failed is the registry (status and error
/// codes) or the network/protocol (<see cref="StatusCode"/> is null). The URL is redacted (no query string, no user
/// information) and no credential is ever part of the message: the registry's error text is redacted too (see
/// <see cref="RedactText"/>) and at most <see cref="MaxErrorText"/> characters of it are quoted.
/// </summary>
public partial class RegistryException : OciException
{
    /// <summary>The most characters of the registry's error text (messages of <see cref="Errors"/>) the message quotes.</summary>
    public const int MaxErrorText = 1024;

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="method">The HTTP method of the failing request.</param>
    /// <param name="url">The request URL; it is redacted before being stored.</param>
    /// <param name="statusCode">The HTTP status, or null when no response was received.</param>
    /// <param name="errors">The error entries from the body.</param>
    /// <param name="isTransient">Whether retrying the same request may succeed.</param>
    /// <param name="retryAfter">How long the registry asked to wait (from <c>Retry-After</c>).</param>
    /// <param name="innerException">The underlying failure.</param>
    public RegistryException(
        string message,
        string method,
        Uri? url,
        HttpStatusCode? statusCode,
        IEnumerable<RegistryError>? errors = null,
        bool isTransient = false,
        TimeSpan? retryAfter = null,
        Exception? innerException = null)
        : base(Compose(message, method, Redact(url), statusCode, errors), innerException)
    {
        Method = method;
        Url = Redact(url);
        StatusCode = statusCode;
        Errors = errors?.ToImmutableArray() ?? [];
        IsTransient = isTransient;
        RetryAfter = retryAfter;
    }

    /// <summary>Creates the exception with a message a subclass words itself (no request is named in it).</summary>
    /// <param name="message">What failed, without secrets.</param>
    /// <param name="statusCode">The HTTP status, or null when none applies.</param>
    /// <param name="innerException">The underlying failure.</param>
    private protected RegistryException(string message, HttpStatusCode? statusCode, Exception? innerException)
        : base(message, innerException)
    {
        Method = string.Empty;
        StatusCode = statusCode;
        Errors = [];
    }

    /// <summary>
    /// <see cref="FailureKind.NotFound"/> for a 404 (the image or repository named is not there: the caller named
    /// something that does not exist), else <see cref="FailureKind.Registry"/>.
    /// </summary>
    public override FailureKind Kind => StatusCode == HttpStatusCode.NotFound ? FailureKind.NotFound : FailureKind.Registry;

    /// <summary>The HTTP method of the failing request (empty when the failure is not one request's).</summary>
    public string Method { get; }

    /// <summary>The request URL without query string or user information.</summary>
    public string? Url { get; }

    /// <summary>The HTTP status, or null when no response was received.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The errors the registry reported in its body.</summary>
    public ImmutableArray<RegistryError> Errors { get; }

    /// <summary>Whether retrying the same request may succeed (429, 5xx, connection failures, timeouts).</summary>
    public bool IsTransient { get; }

    /// <summary>How long the registry asked the client to wait, from <c>Retry-After</c>.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Whether the registry reported the given error code.</summary>
    /// <param name="code">A code from <see cref="RegistryErrorCodes"/>.</param>
    /// <returns><see langword="true"/> when one of <see cref="Errors"/> has that code.</returns>
    public bool HasCode(string code) => Errors.Any(e => string.Equals(e.Code, code, StringComparison.Ordinal));

    /// <summary>Removes the query string, fragment and user information from a URL, which may carry secrets.</summary>
    /// <param name="url">The URL.</param>
    /// <returns>The redacted text, or null.</returns>
    public static string? Redact(Uri? url)
    {
        if (url is null)
        {
            return null;
        }

        if (!url.IsAbsoluteUri)
        {
            var text = url.OriginalString;
            var q = text.IndexOfAny(['?', '#']);
            return q < 0 ? text : text[..q];
        }

        return url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
    }

    /// <summary>
    /// Removes what may be a secret from text a registry sent (an error message or detail, which some registries fill
    /// with the request they refused): <c>Bearer</c> and <c>Basic</c> credentials, JSON Web Tokens, values of
    /// password- or token-named fields, and the query string, fragment and user information of URLs.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <returns>The text with each such part replaced by <c>[redacted]</c> (URLs keep scheme, host and path).</returns>
    public static string RedactText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = UrlPattern().Replace(text, m => Uri.TryCreate(m.Value, UriKind.Absolute, out var uri) ? Redact(uri)! : "[redacted URL]");
        text = AuthorizationPattern().Replace(text, m => m.Groups["scheme"].Value + " [redacted]");
        text = JwtPattern().Replace(text, "[redacted]");
        return SecretFieldPattern().Replace(text, m => m.Groups["key"].Value + "[redacted]");
    }

    [GeneratedRegex(@"\b[a-z][a-z0-9+.\-]*://[^\s""'<>\\]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UrlPattern();

    [GeneratedRegex(@"\b(?<scheme>Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AuthorizationPattern();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*", RegexOptions.CultureInvariant)]
    private static partial Regex JwtPattern();

    [GeneratedRegex(@"(?<key>\b(?:[a-z_\-]*(?:password|passwd|secret|token|signature|credential)s?)""?\s*[:=]\s*""?)(?!\[redacted)[^\s""&,;}\]]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretFieldPattern();

    private static string Compose(string message, string method, string? url, HttpStatusCode? status, IEnumerable<RegistryError>? errors)
    {
        var text = $"{message} ({method} {url}";
        if (status is { } s)
        {
            text += $" → {(int)s} {s}";
        }

        text += ")";
        var list = errors?.ToList();
        if (list is { Count: > 0 })
        {
            var quoted = RedactText(string.Join("; ", list.Select(e => string.IsNullOrEmpty(e.Message) ? e.Code : $"{e.Code}: {e.Message}")));
            text += ": " + (quoted.Length <= MaxErrorText ? quoted : quoted[..MaxErrorText] + "…");
        }

        return text;
    }
}

/// <summary>
/// A registry served content that does not have the digest it should: a blob or manifest whose bytes hash to another
/// digest, or a <c>Docker-Content-Digest</c> that names another one. The registry (or something between it and
/// OciKit) failed, not the caller: nothing of the content is stored. The message names the image reference and both
/// digests.
/// </summary>
public sealed class RegistryDigestMismatchException : RegistryException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="subject">What was verified, for example <c>blob sha256:…</c> or <c>manifest</c>.</param>
    /// <param name="reference">The image reference or repository the content came from.</param>
    /// <param name="expected">The digest the content should have had.</param>
    /// <param name="actual">The digest the registry's content has (or announced).</param>
    /// <param name="method">The HTTP method of the request that served it.</param>
    /// <param name="url">The request URL, if known; redacted before being stored.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public RegistryDigestMismatchException(string subject, string reference, Primitives.Digest expected, Primitives.Digest actual, string method, Uri? url, Exception? innerException = null)
        : base($"Digest mismatch for {subject} from {reference}: expected {expected}, got {actual}", method, url, null, innerException: innerException)
    {
        Subject = subject;
        Reference = reference;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>What was verified.</summary>
    public string Subject { get; }

    /// <summary>The image reference or repository the content came from.</summary>
    public string Reference { get; }

    /// <summary>The digest the content should have had.</summary>
    public Primitives.Digest Expected { get; }

    /// <summary>The digest the registry's content has (or announced).</summary>
    public Primitives.Digest Actual { get; }
}

/// <summary>Authentication with a registry failed: missing or refused credentials, or an unusable token service.</summary>
public sealed class RegistryAuthenticationException : RegistryException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="registry">The registry.</param>
    /// <param name="reason">What failed, without secrets.</param>
    /// <param name="innerException">The underlying failure.</param>
    public RegistryAuthenticationException(string registry, string reason, Exception? innerException = null)
        : base($"Authentication with {registry} failed: {reason}.", HttpStatusCode.Unauthorized, innerException)
    {
        Registry = registry;
        Reason = reason;
    }

    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Authentication;

    /// <summary>The registry.</summary>
    public string Registry { get; }

    /// <summary>What failed.</summary>
    public string Reason { get; }
}

/// <summary>Which bound of <see cref="RegistryClientOptions"/> a request to a registry ran into.</summary>
public enum RegistryTimeoutKind
{
    /// <summary><see cref="RegistryClientOptions.ConnectTimeout"/>: no connection (TCP, then the TLS handshake) was established in time.</summary>
    Connect,

    /// <summary><see cref="RegistryClientOptions.ResponseTimeout"/>: the request was sent, but no response headers arrived in time (for a request without a body, within <see cref="RegistryClientOptions.ConnectTimeout"/> plus this).</summary>
    Response,

    /// <summary><see cref="RegistryClientOptions.RequestTimeout"/>: one request (sending its body included) did not get its response headers in time.</summary>
    Request,
}

/// <summary>
/// A registry (or a host it sent OciKit to) did not answer within one of the client's timeouts, on every attempt the
/// retry budget allowed: the message names the host, the timeout and its value. Transient: a later try may succeed.
/// </summary>
public sealed class RegistryTimeoutException : RegistryException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="context">What was being done, for example <c>Could not get manifest …</c>; optional.</param>
    /// <param name="host">The <c>host[:port]</c> that did not answer.</param>
    /// <param name="kind">Which timeout expired.</param>
    /// <param name="timeout">Its value.</param>
    /// <param name="method">The HTTP method of the request.</param>
    /// <param name="url">The request URL; redacted before being stored.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public RegistryTimeoutException(string? context, string host, RegistryTimeoutKind kind, TimeSpan timeout, string method, Uri? url, Exception? innerException = null)
        : base(Describe(context, host, kind, timeout), method, url, null, isTransient: true, innerException: innerException)
    {
        Host = host;
        TimeoutKind = kind;
        Timeout = timeout;
    }

    /// <summary>The <c>host[:port]</c> that did not answer.</summary>
    public string Host { get; }

    /// <summary>Which timeout expired.</summary>
    public RegistryTimeoutKind TimeoutKind { get; }

    /// <summary>The timeout's value.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The same timeout, described as part of <paramref name="context"/>.</summary>
    internal RegistryTimeoutException WithContext(string context)
        => new(context, Host, TimeoutKind, Timeout, Method, Url is null ? null : new Uri(Url), InnerException);

    private static string Describe(string? context, string host, RegistryTimeoutKind kind, TimeSpan timeout)
    {
        var what = kind switch
        {
            RegistryTimeoutKind.Connect => $"no connection to {host} within the connect timeout (ConnectTimeout, {Seconds(timeout)})",
            RegistryTimeoutKind.Response => $"{host} sent no response within the response timeout (ResponseTimeout, {Seconds(timeout)}, after the request was sent)",
            _ => $"{host} sent no response within the request timeout (RequestTimeout, {Seconds(timeout)})",
        };
        return context is null ? char.ToUpperInvariant(what[0]) + what[1..] : $"{context}: {what}";
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.###} s" : $"{t.TotalMilliseconds:0} ms";
}
