using System.Collections.Immutable;
using System.Security.Cryptography.X509Certificates;
using OciKit.Auth;

namespace OciKit.Registry;

/// <summary>Supplies the credential for a registry host, or null for anonymous access.</summary>
/// <param name="registry">The registry as written in references, for example <c>docker.io</c> or <c>127.0.0.1:5000</c>.</param>
/// <param name="cancellationToken">Cancels the lookup.</param>
/// <returns>The credential, or null.</returns>
public delegate ValueTask<RegistryCredential?> RegistryCredentialProvider(string registry, CancellationToken cancellationToken);

/// <summary>How OciKit trusts one registry's TLS certificate.</summary>
/// <param name="TrustedCertificates">Extra certificates trusted as roots for this registry (a private CA or a self-signed server certificate).</param>
/// <param name="SkipVerify">Accept any certificate. Dangerous: only for registries on networks you control.</param>
public sealed record RegistryTlsOptions(ImmutableArray<X509Certificate2> TrustedCertificates = default, bool SkipVerify = false);

/// <summary>How a <see cref="RegistryClient"/> talks to registries. Immutable; validated on construction of the client.</summary>
public sealed record RegistryClientOptions
{
    /// <summary>The <c>User-Agent</c> header.</summary>
    public string UserAgent { get; init; } = "OciKit/" + (typeof(RegistryClientOptions).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>
    /// Registries (as <c>host[:port]</c>) that may be reached over plain HTTP. Loopback registries (<c>localhost</c>,
    /// <c>127.0.0.0/8</c>, <c>[::1]</c>) always may, and are probed over plain HTTP first (HTTPS when that does not
    /// answer as a registry); every other registry is HTTPS only unless listed here, and is probed over HTTPS first.
    /// </summary>
    public ImmutableHashSet<string> InsecureRegistries { get; init; } = ImmutableHashSet.Create<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Per-registry TLS trust (keyed by <c>host[:port]</c>).</summary>
    public ImmutableDictionary<string, RegistryTlsOptions> Tls { get; init; } = ImmutableDictionary.Create<string, RegistryTlsOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Where credentials come from. By default the standard resolver (<see cref="CredentialResolver"/> with
    /// <see cref="CredentialOptions.Default"/>: <c>OCIKIT_REGISTRY_*</c> variables, Docker's <c>config.json</c> and its
    /// credential helpers, the containers <c>auth.json</c> files), so OciKit uses what <c>docker login</c>,
    /// <c>podman login</c> or <c>skopeo login</c> stored. It is asked only when a registry challenges a request.
    /// <see langword="null"/> means anonymous everywhere.
    /// </summary>
    public RegistryCredentialProvider? Credentials { get; init; } = StandardCredentials;

    /// <summary>The standard credential provider: a <see cref="CredentialResolver"/> over the process environment and home directory.</summary>
    public static RegistryCredentialProvider StandardCredentials { get; } = CredentialsFrom(new CredentialResolver());

    /// <summary>A credential provider that asks a resolver (for example one reading a given <c>config.json</c>).</summary>
    /// <param name="resolver">The resolver.</param>
    /// <returns>The provider.</returns>
    public static RegistryCredentialProvider CredentialsFrom(CredentialResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        return async (registry, cancellationToken) => (await resolver.ResolveAsync(registry, cancellationToken).ConfigureAwait(false))?.Credential;
    }

    /// <summary>How many blobs are transferred at once by pull and push. Default 4.</summary>
    public int MaxConcurrentTransfers { get; init; } = 4;

    /// <summary>
    /// Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size (or the registry's
    /// <c>OCI-Chunk-Min-Length</c> when larger). Default 32 MiB.
    /// </summary>
    public long ChunkSize { get; init; } = 32L * 1024 * 1024;

    /// <summary>
    /// How many times a transient failure (429, 5xx, reset, timeout) is retried. Default 4. The budget is per request,
    /// except for a blob upload of known size and a blob download, which have one budget each for all their retries:
    /// their requests' and their own (resuming, re-querying the upload's offset, restarting its session).
    /// </summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>
    /// The first retry delay; retry n waits <c>RetryBaseDelay × 2^(n−1)</c>, capped at <see cref="RetryMaxDelay"/>, times a
    /// random jitter in [0.5, 1), unless a 429 or 503 asks for longer through <c>Retry-After</c>. Requests, the steps of
    /// an upload and the resumption of a blob download all wait so. Default 250 ms.
    /// </summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest single retry delay, including a registry's <c>Retry-After</c>. Default 30 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock the waits between retries run on: the system's, or a test's that records them.</summary>
    internal TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// How long one request may take, from its start (connecting and sending an upload's body included) to the
    /// response's headers, before it is abandoned (and retried). Reading a response's body is not bounded by it.
    /// Default 5 minutes.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long establishing one connection may take: the TCP connection and, for HTTPS, the TLS handshake (a server
    /// that accepts connections and never answers fails here). A timed-out attempt is transient: it is retried within
    /// <see cref="MaxRetries"/>, then fails with a <see cref="RegistryTimeoutException"/> naming the host. It never
    /// makes the client fall back to plain HTTP. Default 30 s.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long to wait for a response's headers once the request has been sent: the time to the first byte. For a
    /// request without a body, which may have to connect first, it is counted from the request's start with
    /// <see cref="ConnectTimeout"/> added. Sending an upload's body and reading a response's body (a large blob
    /// may legitimately take long) are not bounded by it. A timed-out attempt is retried within
    /// <see cref="MaxRetries"/>, then fails with a <see cref="RegistryTimeoutException"/>. Default 60 s.
    /// </summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The innermost HTTP handler, for tests (a recording handler) or special networking. When null, OciKit creates a
    /// <see cref="SocketsHttpHandler"/> with connection pooling and its own TLS validation. A supplied handler is not
    /// disposed by the client.
    /// </summary>
    public HttpMessageHandler? InnerHandler { get; init; }

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(UserAgent);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentTransfers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1024);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBaseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaxDelay, RetryBaseDelay);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ResponseTimeout, TimeSpan.Zero);
    }
}

/// <summary>Progress of one blob transfer.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Transferred">Bytes transferred so far.</param>
/// <param name="Total">The blob's size, when known.</param>
public sealed record TransferProgress(Primitives.Digest Digest, long Transferred, long? Total);
