using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using OciKit.Auth;
using OciKit.Images;
using OciKit.Primitives;
using OciKit.References;
using Polly;

namespace OciKit.Registry;

/// <summary>A manifest or index as a registry served it: the exact bytes, their media type and digest.</summary>
/// <param name="Bytes">The exact bytes received (never re-serialized).</param>
/// <param name="MediaType">The media type, from <c>Content-Type</c> or, failing that, the document's <c>mediaType</c>.</param>
/// <param name="Digest">The SHA-256 digest of <paramref name="Bytes"/>.</param>
public sealed record ManifestContent(ReadOnlyMemory<byte> Bytes, string MediaType, Digest Digest)
{
    /// <summary>A descriptor of this content.</summary>
    public Descriptor Descriptor => new(MediaType, Digest, Bytes.Length);
}

/// <summary>What an upload of a blob with a known digest did.</summary>
public enum BlobUploadOutcome
{
    /// <summary>The registry already had the blob; nothing was sent.</summary>
    AlreadyPresent,

    /// <summary>The blob was mounted from another repository of the same registry; nothing was sent.</summary>
    Mounted,

    /// <summary>The blob's bytes were uploaded.</summary>
    Uploaded,
}

/// <summary>
/// The OCI distribution protocol (<see href="https://github.com/opencontainers/distribution-spec/blob/main/spec.md">spec</see>):
/// manifests, blobs, uploads (monolithic, chunked, streaming, resumable, cross-repository mount), tags, catalog and
/// referrers, over a transport that authenticates, retries and follows redirects. Thread-safe; reuse one instance.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    /// <summary>
    /// The largest manifest accepted: <see cref="ManifestDocument.MaxSize"/> (4 MiB), the one limit the local store
    /// and the archive readers use too. A larger manifest fails with a <see cref="RegistryException"/> and nothing of it
    /// is stored. Other JSON answers are bounded as well: a token service's answer to 1 MiB, a page of tags or of the
    /// catalog to 4 MiB, a referrers index to <see cref="ManifestDocument.MaxSize"/>, and only the first 64 KiB of an
    /// error body is read.
    /// </summary>
    public const int MaxManifestSize = ManifestDocument.MaxSize;

    private static readonly string[] ManifestAccept =
        [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];

    private readonly HttpClient _http;
    private readonly RegistryClientOptions _options;
    private readonly RetryPolicy _retry;
    private readonly ConcurrentDictionary<string, Lazy<Task<Uri>>> _endpoints = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, System.Net.Security.SslPolicyErrors> _rejectedCertificates = new(StringComparer.OrdinalIgnoreCase);

    // Upload sessions opened ahead of need (PrepareUploadSessions), by registry and repository: the next uploads there
    // that mount nothing take them instead of opening their own.
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Task<UploadSession?>>> _prepared = new(StringComparer.Ordinal);

    /// <summary>Creates a client.</summary>
    /// <param name="options">How to reach registries; defaults when null.</param>
    public RegistryClient(RegistryClientOptions? options = null)
    {
        _options = options ?? new RegistryClientOptions();
        _options.Validate();
        _retry = new RetryPolicy(_options);
        HttpMessageHandler transport = _options.InnerHandler is { } supplied
            ? new CallerOwnedHandler { InnerHandler = supplied }
            : new RegistryTransport(_options, (authority, errors) => _rejectedCertificates[authority] = errors);
        var inner = new ResponseTimeoutHandler(_options) { InnerHandler = transport };
        var redirect = new RedirectHandler { InnerHandler = inner };
        var auth = new AuthenticationHandler(_options) { InnerHandler = redirect };
        var retry = new RetryHandler(_retry) { InnerHandler = auth };
        _http = new HttpClient(retry, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.TryParseAdd(_options.UserAgent);
    }

    /// <summary>The options this client uses.</summary>
    public RegistryClientOptions Options => _options;

    /// <summary>Checks that a registry speaks the distribution API (<c>GET /v2/</c>) and settles its scheme.</summary>
    /// <param name="registry">The registry as in references, for example <c>127.0.0.1:5000</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="RegistryException">The registry is unreachable or not a registry.</exception>
    public async Task PingAsync(string registry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        var reference = ImageReference.Create(registry, "ping");
        _ = await GetBaseUriAsync(reference, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks that a registry accepts the credentials <see cref="RegistryClientOptions.Credentials"/> gives for it, as
    /// <c>docker login</c> does: an authenticated <c>GET /v2/</c> (through a token without scopes on token registries).
    /// </summary>
    /// <param name="registry">The registry as in references, for example <c>127.0.0.1:5000</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the registry has accepted the request.</returns>
    /// <exception cref="RegistryAuthenticationException">The registry refused the credentials, or there were none and it wants some.</exception>
    /// <exception cref="RegistryException">The registry is unreachable or not a registry.</exception>
    public async Task CheckCredentialsAsync(string registry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        var reference = ImageReference.Create(registry, "ping");
        var baseUri = await GetBaseUriAsync(reference, cancellationToken).ConfigureAwait(false);
        using var request = NewRequest(HttpMethod.Get, baseUri, reference, []);
        using var response = await SendAsync(request, $"Could not log in to {registry}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fetches a manifest or index by tag or digest, verifying its digest against the bytes.</summary>
    /// <param name="reference">The image; its digest when it has one, else its tag.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The exact bytes with media type and digest.</returns>
    /// <exception cref="RegistryException">The registry answered with an error (for example <c>MANIFEST_UNKNOWN</c>), or the manifest is larger than <see cref="MaxManifestSize"/>.</exception>
    /// <exception cref="RegistryDigestMismatchException">The bytes do not have the requested or announced digest.</exception>
    public async Task<ManifestContent> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        using var request = await CreateRequestAsync(HttpMethod.Get, reference, $"manifests/{reference.ManifestReference}", Pull(reference), cancellationToken).ConfigureAwait(false);
        foreach (var type in ManifestAccept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        using var response = await SendAsync(request, $"Could not get manifest {reference}", cancellationToken).ConfigureAwait(false);
        var bytes = await RegistryResponses.ReadLimitedAsync(response, MaxManifestSize, $"manifest {reference}", cancellationToken).ConfigureAwait(false);
        var digest = Digest.ComputeSha256(bytes);
        if (reference.Digest is { } expected)
        {
            VerifyDigest(expected, bytes, digest, "manifest", reference, request);
        }

        if (HeaderDigest(response) is { IsVerifiable: true } announced)
        {
            VerifyDigest(announced, bytes, digest, "manifest (Docker-Content-Digest)", reference, request);
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is null or "application/json" or "text/plain" or "application/octet-stream")
        {
            mediaType = SniffMediaType(bytes) ?? mediaType ?? "application/octet-stream";
        }

        if (mediaType is MediaTypes.DockerManifestSchema1 or MediaTypes.DockerManifestSchema1Signed)
        {
            throw new OciFormatException("manifest", $"{reference} is a Docker schema 1 manifest, which OciKit does not support (push it again with a current client).");
        }

        return new ManifestContent(bytes, mediaType, digest);
    }

    /// <summary>Looks a manifest up without downloading it (<c>HEAD</c>).</summary>
    /// <param name="reference">The image.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Its descriptor, or null when the registry does not have it.</returns>
    public async Task<Descriptor?> HeadManifestAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        using var request = await CreateRequestAsync(HttpMethod.Head, reference, $"manifests/{reference.ManifestReference}", Pull(reference), cancellationToken).ConfigureAwait(false);
        foreach (var type in ManifestAccept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        using var response = await SendAsync(request, $"Could not look up manifest {reference}", cancellationToken, allowNotFound: true).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var digest = HeaderDigest(response) ?? reference.Digest
            ?? throw new RegistryException("The registry did not say the manifest's digest", "HEAD", request.RequestUri, response.StatusCode);
        return new Descriptor(response.Content.Headers.ContentType?.MediaType ?? MediaTypes.OciManifest, digest, response.Content.Headers.ContentLength ?? 0);
    }

    /// <summary>Stores a manifest or index under the reference's tag (or digest).</summary>
    /// <param name="reference">Where to store it; with a digest, the bytes must have that digest.</param>
    /// <param name="bytes">The exact bytes.</param>
    /// <param name="mediaType">Their media type.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The manifest's digest.</returns>
    /// <exception cref="RegistryException">The registry refused it (for example <c>MANIFEST_BLOB_UNKNOWN</c>).</exception>
    public async Task<Digest> PutManifestAsync(ImageReference reference, ReadOnlyMemory<byte> bytes, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        var digest = Digest.ComputeSha256(bytes.Span);
        if (reference.Digest is { } expected && expected != digest)
        {
            throw new DigestMismatchException($"manifest for {reference}", expected, digest);
        }

        using var request = await CreateRequestAsync(HttpMethod.Put, reference, $"manifests/{reference.ManifestReference}", Push(reference), cancellationToken).ConfigureAwait(false);
        request.Content = new ByteArrayContent(bytes.ToArray());
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await SendAsync(request, $"Could not push manifest {reference}", cancellationToken).ConfigureAwait(false);
        if (HeaderDigest(response) is { } stored && stored != digest)
        {
            throw new RegistryDigestMismatchException("manifest pushed (Docker-Content-Digest)", reference.ToString(), digest, stored, "PUT", request.RequestUri);
        }

        return digest;
    }

    /// <summary>Deletes a manifest. A tag is first resolved to its digest, since registries delete by digest.</summary>
    /// <param name="reference">The image.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="RegistryException">The registry refused (for example deletes are disabled: <c>UNSUPPORTED</c>).</exception>
    public async Task DeleteManifestAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var digest = reference.Digest ?? (await HeadManifestAsync(reference, cancellationToken).ConfigureAwait(false))?.Digest
            ?? throw new RegistryException($"Manifest {reference} does not exist", "HEAD", null, HttpStatusCode.NotFound, [new RegistryError(RegistryErrorCodes.ManifestUnknown, null, null)]);
        using var request = await CreateRequestAsync(HttpMethod.Delete, reference, $"manifests/{digest}", Delete(reference), cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(request, $"Could not delete manifest {reference}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the repository has a blob (<c>HEAD</c>), and its size.</summary>
    /// <param name="repository">The repository (tag and digest ignored).</param>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The blob's size, or null when absent.</returns>
    public async Task<long?> HeadBlobAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(digest);
        using var request = await CreateRequestAsync(HttpMethod.Head, repository, $"blobs/{digest}", Pull(repository), cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(request, $"Could not look up blob {digest}", cancellationToken, allowNotFound: true).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.NotFound ? null : response.Content.Headers.ContentLength ?? 0;
    }

    /// <summary>
    /// The repository a blob of <paramref name="source"/> can be mounted from when pushing to <paramref name="target"/>
    /// (a cross-repository mount), or <see langword="null"/>: the source's repository when it is another repository
    /// of the target's registry. The one home of this rule.
    /// </summary>
    /// <param name="source">Where the blob is known to be (a base image).</param>
    /// <param name="target">Where it is pushed.</param>
    /// <returns>The repository to mount from, or <see langword="null"/>.</returns>
    public static string? MountSource(ImageReference source, ImageReference target)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        return string.Equals(source.Registry, target.Registry, StringComparison.OrdinalIgnoreCase) && source.Repository != target.Repository
            ? source.Repository
            : null;
    }

    /// <summary>
    /// Opens a blob for reading. The stream resumes by itself when the connection drops (a <c>Range</c> request, or a
    /// fresh download skipped forward when the registry ignores ranges), within the retry budget, and fails when the
    /// registry serves more bytes than the descriptor's size. It does not verify the digest: its reader must (the
    /// local store does, as does <see cref="DownloadBlobAsync"/>).
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="blob">The blob's descriptor.</param>
    /// <param name="progress">Receives progress, optional.</param>
    /// <returns>The stream, owned by the caller.</returns>
    public Stream OpenBlob(ImageReference repository, Descriptor blob, IProgress<TransferProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(blob);
        return new ResumingBlobStream(this, repository, blob, progress);
    }

    /// <summary>
    /// Downloads a blob into a stream, verifying its digest and size while streaming; a dropped connection is resumed
    /// (see <see cref="OpenBlob"/>).
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="blob">The blob's descriptor.</param>
    /// <param name="destination">Where the bytes go; written from its current position, not disposed.</param>
    /// <param name="progress">Receives progress, optional.</param>
    /// <param name="cancellationToken">Cancels the download.</param>
    /// <exception cref="RegistryDigestMismatchException">The bytes received do not have the blob's digest.</exception>
    /// <exception cref="RegistryException">The registry failed, past the retry budget.</exception>
    public async Task DownloadBlobAsync(ImageReference repository, Descriptor blob, Stream destination, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!blob.Digest.IsVerifiable)
        {
            throw new NotSupportedException($"Digest algorithm '{blob.Digest.Algorithm}' cannot be verified.");
        }

        using var hash = IncrementalHash.CreateHash(blob.Digest.Algorithm == Digest.Sha512Algorithm ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
        await using var source = OpenBlob(repository, blob, progress);
        var buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var actual = Digest.Parse(blob.Digest.Algorithm + ":" + Convert.ToHexStringLower(hash.GetHashAndReset()));
        if (actual != blob.Digest)
        {
            throw new RegistryDigestMismatchException($"blob {blob.Digest}", repository.Name, blob.Digest, actual, "GET", null);
        }
    }

    /// <summary>
    /// Sends one GET for a blob from an offset: the response (headers read) and whether the range was honoured. Its
    /// retries draw from <paramref name="budget"/>, the budget of the whole download.
    /// </summary>
    internal async Task<(HttpResponseMessage Response, bool Ranged)> GetBlobResponseAsync(ImageReference repository, Digest digest, long offset, RetryBudget budget, CancellationToken cancellationToken)
    {
        using var request = await CreateRequestAsync(HttpMethod.Get, repository, $"blobs/{digest}", Pull(repository), cancellationToken, budget).ConfigureAwait(false);
        if (offset > 0)
        {
            request.Headers.Range = new RangeHeaderValue(offset, null);
        }

        var response = await SendAsync(request, $"Could not download blob {digest}", cancellationToken).ConfigureAwait(false);
        var ranged = response.StatusCode == HttpStatusCode.PartialContent;
        if (ranged && response.Content.Headers.ContentRange?.From != offset)
        {
            response.Dispose();
            throw new RegistryException($"The registry resumed blob {digest} at the wrong offset", "GET", request.RequestUri, HttpStatusCode.PartialContent, isTransient: true);
        }

        return (response, ranged);
    }

    /// <summary>The one retry policy of this client's requests, uploads and downloads.</summary>
    internal RetryPolicy Retry => _retry;

    /// <summary>
    /// Uploads a blob whose digest and size are known: nothing is sent when the registry has it; with
    /// <paramref name="mountFrom"/> it is mounted from that repository when possible; otherwise it is uploaded in one
    /// PUT (up to <see cref="RegistryClientOptions.ChunkSize"/>) or in PATCH chunks. A failed step resumes the upload
    /// session from the offset the registry reports, or restarts it, within the retry budget.
    /// </summary>
    /// <param name="repository">The target repository.</param>
    /// <param name="blob">The blob's descriptor.</param>
    /// <param name="openContent">Opens the blob's bytes from the start; called again on a retry. The stream is disposed by the client.</param>
    /// <param name="mountFrom">A repository of the same registry that may already hold the blob, optional.</param>
    /// <param name="progress">Receives progress, optional.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <returns>What was done.</returns>
    /// <exception cref="RegistryException">The registry refused the blob, past the retry budget.</exception>
    public Task<BlobUploadOutcome> UploadBlobAsync(
        ImageReference repository,
        Descriptor blob,
        Func<CancellationToken, Task<Stream>> openContent,
        string? mountFrom = null,
        IProgress<TransferProgress>? progress = null,
        CancellationToken cancellationToken = default)
        => UploadBlobAsync(repository, blob, openContent, mountFrom, lookUpFirst: true, progress, cancellationToken);

    /// <summary>
    /// <see cref="UploadBlobAsync(ImageReference, Descriptor, Func{CancellationToken, Task{Stream}}, string?, IProgress{TransferProgress}?, CancellationToken)"/>;
    /// without <paramref name="lookUpFirst"/> no <c>HEAD</c> asks first whether the registry has the blob, for content
    /// just made that it cannot have yet (uploading a blob the registry has is harmless, only wasted bytes).
    /// </summary>
    internal async Task<BlobUploadOutcome> UploadBlobAsync(
        ImageReference repository,
        Descriptor blob,
        Func<CancellationToken, Task<Stream>> openContent,
        string? mountFrom,
        bool lookUpFirst,
        IProgress<TransferProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentNullException.ThrowIfNull(openContent);
        if (lookUpFirst && await HeadBlobAsync(repository, blob.Digest, cancellationToken).ConfigureAwait(false) is not null)
        {
            progress?.Report(new TransferProgress(blob.Digest, blob.Size, blob.Size));
            return BlobUploadOutcome.AlreadyPresent;
        }

        // One budget for the whole upload: the retries of its requests and of its steps (resume, restart) draw from it.
        var budget = _retry.NewBudget();
        var session = await StartUploadAsync(repository, blob.Digest, mountFrom, budget, cancellationToken).ConfigureAwait(false);
        if (session is null)
        {
            progress?.Report(new TransferProgress(blob.Digest, blob.Size, blob.Size));
            return BlobUploadOutcome.Mounted;
        }

        var upload = new UploadAttempt(repository, blob, openContent, progress, session);
        try
        {
            try
            {
                await UploadStepAsync(upload, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ShouldRetryUpload(ex, upload, cancellationToken))
            {
                upload.Failed(ex);
                await _retry.RetryAsync(
                    Outcome.FromException<bool>(ex),
                    budget,
                    e => ShouldRetryUpload(e, upload, cancellationToken),
                    static async (state, ct) =>
                    {
                        try
                        {
                            await state.Client.RecoverUploadAsync(state.Upload, ct).ConfigureAwait(false);
                            await state.Client.UploadStepAsync(state.Upload, ct).ConfigureAwait(false);
                            return true;
                        }
                        catch (Exception failure)
                        {
                            state.Upload.Failed(failure);
                            throw;
                        }
                    },
                    (Client: this, Upload: upload),
                    cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not RegistryException && RetryPolicy.IsTransient(ex, cancellationToken))
        {
            throw new RegistryException($"Could not upload blob {blob.Digest} after {upload.Failures} attempts: {ex.Message}", "PATCH", upload.Session.Location, null, isTransient: true, innerException: ex);
        }

        return BlobUploadOutcome.Uploaded;
    }

    /// <summary>Whether a failed upload step is retried (budget permitting): a transient failure, or a resumed session the registry refuses.</summary>
    private static bool ShouldRetryUpload(Exception ex, UploadAttempt upload, CancellationToken cancellationToken)
        => !cancellationToken.IsCancellationRequested && (RegistryResponses.IsTransientException(ex) || (upload.Resumed && IsBrokenSession(ex)));

    /// <summary>Uploads the blob from the upload's offset: in one PUT when it is small and nothing is in the session yet, else in chunks.</summary>
    private async Task UploadStepAsync(UploadAttempt upload, CancellationToken cancellationToken)
    {
        var (repository, blob, session) = (upload.Repository, upload.Blob, upload.Session);
        if (blob.Size <= Math.Max(_options.ChunkSize, session.MinChunk) && upload.Offset == 0)
        {
            await PutMonolithicAsync(repository, blob, session, upload.OpenContent, upload.Progress, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await PutChunkedAsync(repository, blob, session, upload.Offset, upload.OpenContent, upload.Progress, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Before a retried upload step: resume at the offset the registry reports for the session, or start a fresh session
    /// when the blob goes in one PUT, the session is gone, or the registry refused the resumed one (rather than guess
    /// again).
    /// </summary>
    private async Task RecoverUploadAsync(UploadAttempt upload, CancellationToken cancellationToken)
    {
        var failure = upload.Failure;
        upload.Resumed = false;
        var session = upload.Session;
        var next = upload.Blob.Size > Math.Max(_options.ChunkSize, session.MinChunk) && (failure is null || !IsBrokenSession(failure))
            ? await GetUploadOffsetAsync(upload.Repository, session, cancellationToken).ConfigureAwait(false)
            : null;
        if (next is { } at)
        {
            upload.Resumed = true;
            upload.Offset = at;
        }
        else
        {
            upload.Session = await StartUploadAsync(upload.Repository, upload.Blob.Digest, null, session.Budget, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("A plain upload session cannot be a mount.");
            upload.Offset = 0;
        }
    }

    private static bool IsBrokenSession(Exception ex) => ex is RegistryException re
        && (re.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable || re.HasCode(RegistryErrorCodes.DigestInvalid)
            || re.HasCode(RegistryErrorCodes.BlobUploadInvalid) || re.HasCode(RegistryErrorCodes.BlobUploadUnknown));

    /// <summary>Uploads a small blob held in memory (a config, an artifact's document) unless the repository has it.</summary>
    internal Task<BlobUploadOutcome> UploadBytesAsync(ImageReference repository, Descriptor blob, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        UploadBlobAsync(repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes.ToArray(), writable: false)), null, lookUpFirst: true, null, cancellationToken);

    /// <summary>
    /// Uploads a small blob held in memory without asking first (<c>HEAD</c>) whether the registry has it: content just
    /// made, which it cannot have yet, or so small that sending it costs less than asking.
    /// </summary>
    internal Task<BlobUploadOutcome> UploadWithoutCheckAsync(ImageReference repository, Descriptor blob, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        UploadBlobAsync(repository, blob, _ => Task.FromResult<Stream>(new MemoryStream(bytes.ToArray(), writable: false)), null, lookUpFirst: false, null, cancellationToken);

    /// <summary>
    /// Uploads a blob of unknown length from a stream (one streaming PATCH), computing its digest on the way.
    /// The stream cannot be replayed, so a failure is reported rather than retried.
    /// </summary>
    /// <param name="repository">The target repository.</param>
    /// <param name="content">The bytes; read to the end, not disposed.</param>
    /// <param name="mediaType">The media type for the returned descriptor.</param>
    /// <param name="progress">Receives progress, optional.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <returns>The uploaded blob's descriptor.</returns>
    public async Task<Descriptor> UploadBlobAsync(ImageReference repository, Stream content, string mediaType, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(content);
        var session = await StartUploadAsync(repository, null, null, null, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("A plain upload session cannot be a mount.");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var length = await PatchStreamedAsync(repository, session, content, hash, cancellationToken).ConfigureAwait(false);
        var digest = Digest.FromSha256(hash.GetCurrentHash());

        await FinishUploadAsync(repository, session, digest, cancellationToken).ConfigureAwait(false);
        progress?.Report(new TransferProgress(digest, length, length));
        return new Descriptor(mediaType, digest, length);
    }

    /// <summary>
    /// Uploads a blob a writer is still producing into a pipe, whose descriptor <paramref name="written"/> gives once
    /// the writer is done (the layer writer hashes what it writes, so the bytes are not hashed a second time here; the
    /// registry checks them against that digest). A blob the writer finishes within <see cref="SingleRequestUploadBytes"/>
    /// (an app's layer) goes in one <c>PUT</c> with its digest once written: a round trip fewer than streaming it, for
    /// bytes that take less time to write than a request takes. A larger one goes in one streaming <c>PATCH</c> from
    /// its first <see cref="SingleRequestUploadBytes"/> on, as the rest comes, then a <c>PUT</c> with the digest. The
    /// content cannot be replayed, so a failure is reported, not retried.
    /// </summary>
    /// <param name="repository">The target repository.</param>
    /// <param name="content">The bytes; read to the end and completed by the caller.</param>
    /// <param name="written">The written blob's descriptor; awaited only once every byte has been read.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <returns>The uploaded blob's descriptor.</returns>
    internal async Task<Descriptor> UploadBlobAsync(ImageReference repository, PipeReader content, Task<Descriptor> written, CancellationToken cancellationToken)
    {
        var session = await StartUploadAsync(repository, null, null, null, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("A plain upload session cannot be a mount.");
        Descriptor blob;
        var read = await content.ReadAtLeastAsync(SingleRequestUploadBytes, cancellationToken).ConfigureAwait(false);
        if (read.IsCompleted)
        {
            blob = await written.ConfigureAwait(false);
            var bytes = read.Buffer;
            CheckWrittenLength(blob, bytes.Length);
            using var put = await CreateUploadRequestAsync(HttpMethod.Put, repository, session, blob.Digest, cancellationToken).ConfigureAwait(false);
            put.Content = bytes.IsSingleSegment ? new ReadOnlyMemoryContent(bytes.First) : new ByteArrayContent(bytes.ToArray());
            put.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            put.Content.Headers.ContentLength = bytes.Length;
            using var response = await SendAsync(put, $"Could not upload blob {blob.Digest}", cancellationToken).ConfigureAwait(false);
            CheckStoredDigest(response, blob.Digest, repository);
            content.AdvanceTo(bytes.End);
            return blob;
        }

        // Nothing consumed: the streaming request reads it again.
        content.AdvanceTo(read.Buffer.Start);

        var length = await PatchStreamedAsync(repository, session, content.AsStream(leaveOpen: true), null, cancellationToken).ConfigureAwait(false);
        blob = await written.ConfigureAwait(false);
        CheckWrittenLength(blob, length);
        await FinishUploadAsync(repository, session, blob.Digest, cancellationToken).ConfigureAwait(false);
        return blob;

        static void CheckWrittenLength(Descriptor blob, long sent)
        {
            if (sent != blob.Size)
            {
                throw new IOException($"The streamed upload of {blob.Digest} sent {sent} bytes, not the {blob.Size} written.");
            }
        }
    }

    /// <summary>The most bytes of a blob still being written that <see cref="UploadBlobAsync(ImageReference, PipeReader, Task{Descriptor}, CancellationToken)"/> waits for before it streams them.</summary>
    internal const int SingleRequestUploadBytes = 1024 * 1024;

    /// <summary>Sends a stream of unknown length into a session in one chunked <c>PATCH</c>, feeding <paramref name="hash"/> when given; returns how many bytes went.</summary>
    private async Task<long> PatchStreamedAsync(ImageReference repository, UploadSession session, Stream content, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        using var patch = await CreateUploadRequestAsync(HttpMethod.Patch, repository, session, null, cancellationToken).ConfigureAwait(false);
        var counting = new HashingReadStream(content, hash);
        patch.Content = new StreamContent(counting, 128 * 1024);
        patch.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        patch.Headers.TransferEncodingChunked = true;
        using var response = await SendAsync(patch, "Could not upload a streamed blob", cancellationToken).ConfigureAwait(false);
        session.Location = ResolveLocation(response, session.Location);
        return counting.Length;
    }

    /// <summary>Deletes a blob from a repository.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public async Task DeleteBlobAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        using var request = await CreateRequestAsync(HttpMethod.Delete, repository, $"blobs/{digest}", Delete(repository), cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(request, $"Could not delete blob {digest}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists a repository's tags, following <c>Link</c> pagination.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="pageSize">Tags per page (<c>n</c>), or null for the registry's default.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The tags, in the registry's order.</returns>
    public IAsyncEnumerable<string> ListTagsAsync(ImageReference repository, int? pageSize = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return PagedAsync(repository, "tags/list", "tags", Pull(repository), pageSize, cancellationToken);
    }

    /// <summary>Lists the registry's repositories (<c>/v2/_catalog</c>), following <c>Link</c> pagination.</summary>
    /// <param name="registry">The registry.</param>
    /// <param name="pageSize">Repositories per page, or null for the registry's default.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The repository names.</returns>
    public IAsyncEnumerable<string> ListRepositoriesAsync(string registry, int? pageSize = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        var reference = ImageReference.Create(registry, "catalog");
        return PagedAsync(reference, "/v2/_catalog", "repositories", [TokenScope.Create(TokenScope.RegistryType, "catalog", TokenScope.AllActions)], pageSize, cancellationToken);
    }

    /// <summary>
    /// Lists the manifests that refer to <paramref name="subject"/> through the referrers API, falling back to the
    /// tag schema (<c>sha256-&lt;hex&gt;</c>) when the registry does not implement it.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="subject">The subject manifest's digest.</param>
    /// <param name="artifactType">Only referrers of this artifact type, optional.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The referrers' descriptors.</returns>
    public async Task<IReadOnlyList<Descriptor>> GetReferrersAsync(ImageReference repository, Digest subject, string? artifactType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(subject);
        var path = $"referrers/{subject}" + (artifactType is null ? string.Empty : "?artifactType=" + Uri.EscapeDataString(artifactType));
        using var request = await CreateRequestAsync(HttpMethod.Get, repository, path, Pull(repository), cancellationToken).ConfigureAwait(false);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciIndex));
        ReadOnlyMemory<byte> index;
        bool filtered;
        using (var response = await SendAsync(request, $"Could not list referrers of {subject}", cancellationToken, allowNotFound: true).ConfigureAwait(false))
        {
            if (response.StatusCode != HttpStatusCode.NotFound)
            {
                index = await RegistryResponses.ReadLimitedAsync(response, MaxManifestSize, $"referrers index of {subject}", cancellationToken).ConfigureAwait(false);
                filtered = response.Headers.TryGetValues("OCI-Filters-Applied", out var applied) && applied.Any(v => v.Contains("artifactType", StringComparison.Ordinal));
                return Filter(ParseIndexDescriptors(index.Span, "referrers index"), artifactType, filtered);
            }
        }

        // Fallback: the referrers tag schema of distribution-spec v1.1.
        var tag = repository.WithTag($"{subject.Algorithm}-{subject.Encoded}");
        try
        {
            var content = await GetManifestAsync(ImageReference.Create(tag.Registry, tag.Repository, tag.Tag), cancellationToken).ConfigureAwait(false);
            return Filter(ParseIndexDescriptors(content.Bytes.Span, "referrers tag index"), artifactType, false);
        }
        catch (RegistryException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static IReadOnlyList<Descriptor> Filter(IReadOnlyList<Descriptor> descriptors, string? artifactType, bool alreadyFiltered)
        => artifactType is null || alreadyFiltered ? descriptors : descriptors.Where(d => d.ArtifactType == artifactType).ToList();

    private static IReadOnlyList<Descriptor> ParseIndexDescriptors(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (!doc.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
            {
                return [];
            }

            var list = new List<Descriptor>();
            foreach (var m in manifests.EnumerateArray())
            {
                var descriptor = new Descriptor(
                    m.GetProperty("mediaType").GetString() ?? string.Empty,
                    Digest.Parse(m.GetProperty("digest").GetString() ?? string.Empty),
                    m.GetProperty("size").GetInt64())
                {
                    ArtifactType = m.TryGetProperty("artifactType", out var at) ? at.GetString() : null,
                    Annotations = m.TryGetProperty("annotations", out var an) && an.ValueKind == JsonValueKind.Object
                        ? an.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty, StringComparer.Ordinal)
                        : null,
                };
                list.Add(descriptor);
            }

            return list;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new OciFormatException(what, ex.Message, ex);
        }
    }

    private static string? SniffMediaType(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var reader = new Utf8JsonReader(bytes);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String)
            {
                return mt.GetString();
            }

            if (root.TryGetProperty("manifests", out _))
            {
                return MediaTypes.OciIndex;
            }

            if (root.TryGetProperty("config", out _))
            {
                return MediaTypes.OciManifest;
            }

            return root.TryGetProperty("schemaVersion", out var sv) && sv.TryGetInt32(out var v) && v == 1 ? MediaTypes.DockerManifestSchema1 : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void VerifyDigest(Digest expected, byte[] bytes, Digest sha256, string subject, ImageReference reference, HttpRequestMessage request)
    {
        if (expected.Algorithm == Digest.Sha256Algorithm ? expected != sha256 : !expected.Matches(bytes))
        {
            throw new RegistryDigestMismatchException(subject, reference.ToString(), expected, sha256, request.Method.Method, request.RequestUri);
        }
    }

    private static Digest? HeaderDigest(HttpResponseMessage response)
        => response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var digest) ? digest : null;

    private static IReadOnlyList<TokenScope> Pull(ImageReference r) => [TokenScope.ForRepository(r.Repository, TokenScope.Pull)];

    private static IReadOnlyList<TokenScope> Push(ImageReference r) => [TokenScope.ForRepository(r.Repository, TokenScope.Pull, TokenScope.Push)];

    private static IReadOnlyList<TokenScope> Delete(ImageReference r) => [TokenScope.ForRepository(r.Repository, TokenScope.Delete)];

    private async IAsyncEnumerable<string> PagedAsync(ImageReference repository, string path, string property, IReadOnlyList<TokenScope> scopes, int? pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var baseUri = await GetBaseUriAsync(repository, cancellationToken).ConfigureAwait(false);
        var first = path.StartsWith('/') ? new Uri(baseUri, path) : new Uri(baseUri, $"{repository.Repository}/{path}");
        Uri? next = pageSize is { } n ? new Uri(first + "?n=" + n) : first;
        var pages = 0;
        while (next is not null)
        {
            if (++pages > 10_000)
            {
                throw new RegistryException("The registry's pagination does not end", "GET", next, null);
            }

            using var request = NewRequest(HttpMethod.Get, next, repository, scopes);
            using var response = await SendAsync(request, $"Could not list {property} of {repository.Name}", cancellationToken).ConfigureAwait(false);
            var bytes = await RegistryResponses.ReadLimitedAsync(response, RegistryResponses.MaxListPage, $"page of the {property} list", cancellationToken).ConfigureAwait(false);
            List<string> items;
            try
            {
                using var doc = JsonDocument.Parse(bytes);
                items = doc.RootElement.TryGetProperty(property, out var array) && array.ValueKind == JsonValueKind.Array
                    ? array.EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToList()
                    : [];
            }
            catch (JsonException ex)
            {
                throw new OciFormatException($"{property} list", ex.Message, ex);
            }

            foreach (var item in items)
            {
                yield return item;
            }

            next = NextLink(response, request.RequestUri!);
        }
    }

    private static Uri? NextLink(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out var links))
        {
            return null;
        }

        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var start = link.IndexOf('<', StringComparison.Ordinal);
            var end = link.IndexOf('>', StringComparison.Ordinal);
            if (start >= 0 && end > start && link[end..].Contains("rel=\"next\"", StringComparison.Ordinal))
            {
                var target = new Uri(current, link[(start + 1)..end]);
                return target.Authority == current.Authority ? target : null;
            }
        }

        return null;
    }

    /// <summary>
    /// Opens upload sessions in a repository now, for uploads known to come (a new image's configuration, a cache's
    /// records): each upload there that mounts nothing then takes one instead of opening its own, which takes one
    /// round trip off its path. A session that cannot be opened is only not there; the ones no upload took are
    /// cancelled by <see cref="ReleasePreparedUploadSessionsAsync"/>.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="count">How many.</param>
    internal void PrepareUploadSessions(ImageReference repository, int count)
    {
        var queue = _prepared.GetOrAdd(PreparedKey(repository), _ => new ConcurrentQueue<Task<UploadSession?>>());
        for (var i = 0; i < count; i++)
        {
            queue.Enqueue(OpenPreparedSessionAsync(repository));
        }
    }

    /// <summary>Cancels the prepared sessions of a repository that no upload took (<c>DELETE</c>, failures ignored).</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    internal async Task ReleasePreparedUploadSessionsAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        if (!_prepared.TryGetValue(PreparedKey(repository), out var queue))
        {
            return;
        }

        var releasing = new List<Task>();
        while (queue.TryDequeue(out var prepared))
        {
            releasing.Add(CancelSessionAsync(prepared));
        }

        await Task.WhenAll(releasing).ConfigureAwait(false);

        async Task CancelSessionAsync(Task<UploadSession?> prepared)
        {
            try
            {
                if (await prepared.ConfigureAwait(false) is { } session)
                {
                    using var request = await CreateUploadRequestAsync(HttpMethod.Delete, repository, session, null, cancellationToken).ConfigureAwait(false);
                    using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is OciException or HttpRequestException or IOException or OperationCanceledException)
            {
                // Left to the registry, which purges abandoned sessions.
            }
        }
    }

    private static string PreparedKey(ImageReference repository) => repository.Registry + "/" + repository.Repository;

    private async Task<UploadSession?> OpenPreparedSessionAsync(ImageReference repository)
    {
        try
        {
            return await StartUploadAsync(repository, null, null, null, CancellationToken.None, prepared: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OciException or HttpRequestException or IOException or OperationCanceledException)
        {
            // The upload that would have taken it opens its own (and meets the failure itself, if it lasts).
            return null;
        }
    }

    /// <summary>
    /// Opens an upload session (POST), or mounts the blob (null); with a <paramref name="budget"/>, the session's requests
    /// retry within it. Unless it mounts, or <paramref name="prepared"/> is false, it takes a session prepared ahead
    /// (<see cref="PrepareUploadSessions"/>) when there is one.
    /// </summary>
    private async Task<UploadSession?> StartUploadAsync(ImageReference repository, Digest? digest, string? mountFrom, RetryBudget? budget, CancellationToken cancellationToken, bool prepared = true)
    {
        var mounting = mountFrom is not null && digest is not null && mountFrom != repository.Repository;
        if (prepared && !mounting && _prepared.TryGetValue(PreparedKey(repository), out var queue))
        {
            while (queue.TryDequeue(out var ready))
            {
                if (await ready.WaitAsync(cancellationToken).ConfigureAwait(false) is { } session)
                {
                    return session with { Budget = budget };
                }
            }
        }

        var scopes = Push(repository);
        var path = "blobs/uploads/";
        if (mounting)
        {
            path += $"?mount={Uri.EscapeDataString(digest!.ToString())}&from={Uri.EscapeDataString(mountFrom!)}";
            scopes = TokenScope.Merge([.. scopes, TokenScope.ForRepository(mountFrom!, TokenScope.Pull)]);
        }

        using var request = await CreateRequestAsync(HttpMethod.Post, repository, path, scopes, cancellationToken, budget).ConfigureAwait(false);
        using var response = await SendAsync(request, $"Could not start an upload to {repository.Name}", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return null;
        }

        if (response.StatusCode != HttpStatusCode.Accepted || response.Headers.Location is null)
        {
            throw new RegistryException("The registry did not open an upload session (no 202 with Location)", "POST", request.RequestUri, response.StatusCode);
        }

        var minChunk = response.Headers.TryGetValues("OCI-Chunk-Min-Length", out var values) && long.TryParse(values.FirstOrDefault(), out var m) && m > 0 ? m : 0;
        return new UploadSession(ResolveLocation(response, request.RequestUri!), minChunk, budget);
    }

    private async Task PutMonolithicAsync(ImageReference repository, Descriptor blob, UploadSession session, Func<CancellationToken, Task<Stream>> openContent, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        await using var content = await openContent(cancellationToken).ConfigureAwait(false);
        using var request = await CreateUploadRequestAsync(HttpMethod.Put, repository, session, blob.Digest, cancellationToken).ConfigureAwait(false);
        request.Content = new StreamContent(new ProgressReadStream(new BoundedReadStream(content, blob.Size), blob.Digest, 0, blob.Size, progress), 128 * 1024);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Content.Headers.ContentLength = blob.Size;
        using var response = await SendAsync(request, $"Could not upload blob {blob.Digest}", cancellationToken).ConfigureAwait(false);
        CheckStoredDigest(response, blob.Digest, repository);
    }

    private async Task PutChunkedAsync(ImageReference repository, Descriptor blob, UploadSession session, long offset, Func<CancellationToken, Task<Stream>> openContent, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var chunk = Math.Max(_options.ChunkSize, session.MinChunk);
        await using var content = await openContent(cancellationToken).ConfigureAwait(false);
        await SkipAsync(content, offset, cancellationToken).ConfigureAwait(false);
        while (offset < blob.Size)
        {
            var length = Math.Min(chunk, blob.Size - offset);
            using var request = await CreateUploadRequestAsync(HttpMethod.Patch, repository, session, null, cancellationToken).ConfigureAwait(false);
            request.Content = new StreamContent(new ProgressReadStream(new BoundedReadStream(content, length), blob.Digest, offset, blob.Size, progress), 128 * 1024);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            request.Content.Headers.ContentLength = length;
            request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + length - 1}");
            using var response = await SendAsync(request, $"Could not upload a chunk of blob {blob.Digest}", cancellationToken).ConfigureAwait(false);
            session.Location = ResolveLocation(response, session.Location);
            var end = offset + length;

            // A 2xx is not proof that the registry holds the chunk (a proxy or middlebox may answer for it): the
            // answer's Range, or else the session's, must say the registry has every byte sent so far. Otherwise the
            // upload resumes from the offset the registry reports, through the retries of UploadBlobAsync.
            var held = AcknowledgedOffset(response.StatusCode, RangeHeader(response))
                ?? await QueryUploadOffsetAsync(repository, session, cancellationToken).ConfigureAwait(false)
                ?? (response.StatusCode == HttpStatusCode.Accepted ? end : null);
            if (held != end)
            {
                throw new RegistryException(
                    $"The registry did not store the chunk {offset}-{end - 1} of blob {blob.Digest}: it answered {(int)response.StatusCode} but holds {(held is { } h ? $"{h} bytes" : "an unknown number of bytes")}, not {end}",
                    "PATCH", request.RequestUri, response.StatusCode, isTransient: true);
            }

            offset = end;
        }

        await FinishUploadAsync(repository, session, blob.Digest, cancellationToken).ConfigureAwait(false);
    }

    private async Task FinishUploadAsync(ImageReference repository, UploadSession session, Digest digest, CancellationToken cancellationToken)
    {
        using var request = await CreateUploadRequestAsync(HttpMethod.Put, repository, session, digest, cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(request, $"Could not complete the upload of blob {digest}", cancellationToken).ConfigureAwait(false);
        CheckStoredDigest(response, digest, repository);
    }

    private static void CheckStoredDigest(HttpResponseMessage response, Digest digest, ImageReference repository)
    {
        if (HeaderDigest(response) is { } stored && stored != digest)
        {
            throw new RegistryDigestMismatchException("blob stored by the registry (Docker-Content-Digest)", repository.Name, digest, stored, "PUT", response.RequestMessage?.RequestUri);
        }
    }

    /// <summary>The offset to resume a session at (GET on it): null when the session is gone or cannot be queried; no Range means nothing was received.</summary>
    private async Task<long?> GetUploadOffsetAsync(ImageReference repository, UploadSession session, CancellationToken cancellationToken)
    {
        var (exists, range) = await QueryUploadSessionAsync(repository, session, cancellationToken).ConfigureAwait(false);
        return !exists ? null : range is null ? 0 : ParseUploadOffset(range);
    }

    /// <summary>How many bytes the registry says a session holds (its Range), or null when it does not say (or cannot be asked).</summary>
    private async Task<long?> QueryUploadOffsetAsync(ImageReference repository, UploadSession session, CancellationToken cancellationToken)
    {
        var (exists, range) = await QueryUploadSessionAsync(repository, session, cancellationToken).ConfigureAwait(false);
        return exists && range is not null ? ParseUploadOffset(range) : null;
    }

    /// <summary>GET on an upload session: whether it exists, and its <c>Range</c> header when it has one.</summary>
    private async Task<(bool Exists, string? Range)> QueryUploadSessionAsync(ImageReference repository, UploadSession session, CancellationToken cancellationToken)
    {
        try
        {
            using var request = await CreateUploadRequestAsync(HttpMethod.Get, repository, session, null, cancellationToken).ConfigureAwait(false);
            using var response = await SendAsync(request, "Could not query the upload session", cancellationToken, allowNotFound: true).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return (false, null);
            }

            session.Location = ResolveLocation(response, session.Location);

            // "Range: 0-N" is the last byte received.
            return (true, RangeHeader(response));
        }
        catch (Exception ex) when (RegistryResponses.IsTransientException(ex))
        {
            return (false, null);
        }
    }

    private static string? RangeHeader(HttpResponseMessage response)
        => response.Headers.TryGetValues("Range", out var ranges) ? ranges.FirstOrDefault() : null;

    /// <summary>
    /// How many bytes of the session a registry's answer to a chunk's PATCH says it holds: the spec's answer is
    /// <c>202 Accepted</c> with <c>Range: 0-LAST</c>. Null when the answer confirms nothing (another status, such as a
    /// <c>200</c> from something that answered for the registry, or no usable Range): the session must be asked.
    /// </summary>
    internal static long? AcknowledgedOffset(HttpStatusCode status, string? range)
        => status == HttpStatusCode.Accepted && range is not null ? ParseUploadOffset(range) : null;

    /// <summary>
    /// The offset to resume at from an upload's <c>Range: 0-LAST</c> (LAST is the last byte received). Nothing
    /// received yet is written <c>0--1</c> by current CNCF distribution and <c>0-0</c> by the 2.x servers (Debian's
    /// <c>docker-registry</c>, which clamps LAST at 0 and writes <c>0-2</c> after 3 bytes). <c>0-0</c> is taken as the
    /// registry means it there, an empty session (offset 0): if one byte had in fact arrived, the registry refuses the
    /// chunk from 0 (416) and the upload starts a fresh session, which is safe; resuming at 1 after nothing would
    /// leave a hole.
    /// </summary>
    internal static long? ParseUploadOffset(string range)
    {
        var text = range.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) ? range[6..] : range;
        var dash = text.Length > 1 ? text.IndexOf('-', 1) : -1;
        if (dash < 0 || !long.TryParse(text[..dash], out var first) || first != 0 || !long.TryParse(text[(dash + 1)..], out var last) || last < -1)
        {
            return null;
        }

        return last == 0 ? 0 : last + 1;
    }

    private async Task<HttpRequestMessage> CreateUploadRequestAsync(HttpMethod method, ImageReference repository, UploadSession session, Digest? digest, CancellationToken cancellationToken)
    {
        _ = await GetBaseUriAsync(repository, cancellationToken).ConfigureAwait(false);
        var location = session.Location;
        var uri = location;
        if (digest is not null)
        {
            var separator = string.IsNullOrEmpty(location.Query) ? "?" : "&";
            uri = new Uri(location + separator + "digest=" + Uri.EscapeDataString(digest.ToString()));
        }

        return NewRequest(method, uri, repository, Push(repository), session.Budget);
    }

    private static Uri ResolveLocation(HttpResponseMessage response, Uri current)
        => response.Headers.Location is { } location ? (location.IsAbsoluteUri ? location : new Uri(current, location)) : current;

    private static async Task SkipAsync(Stream stream, long count, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return;
        }

        if (stream.CanSeek)
        {
            stream.Seek(count, SeekOrigin.Current);
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (count > 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException("The blob's content ended before the resume offset.");
                }

                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<HttpRequestMessage> CreateRequestAsync(HttpMethod method, ImageReference repository, string path, IReadOnlyList<TokenScope> scopes, CancellationToken cancellationToken, RetryBudget? budget = null)
    {
        var baseUri = await GetBaseUriAsync(repository, cancellationToken).ConfigureAwait(false);
        return NewRequest(method, new Uri(baseUri, $"{repository.Repository}/{path}"), repository, scopes, budget);
    }

    /// <summary>A request to a registry; with a <paramref name="budget"/>, its retries draw from that operation's budget.</summary>
    private static HttpRequestMessage NewRequest(HttpMethod method, Uri uri, ImageReference repository, IReadOnlyList<TokenScope> scopes, RetryBudget? budget = null)
    {
        var request = new HttpRequestMessage(method, uri);
        request.Options.Set(AuthenticationHandler.ScopeKey, scopes);
        request.Options.Set(AuthenticationHandler.RegistryKey, repository.Registry);
        if (budget is not null)
        {
            request.Options.Set(RetryPolicy.BudgetKey, budget);
        }

        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string failure, CancellationToken cancellationToken, bool allowNotFound = false)
    {
        HttpResponseMessage response;
        try
        {
            // Never buffered by HttpClient: every body is read by the caller, bounded (RegistryResponses.ReadLimitedAsync).
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryTimeoutException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw ex.WithContext(failure);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw RegistryResponses.ToException(request, failure, ex);
        }

        if (response.IsSuccessStatusCode || (allowNotFound && response.StatusCode == HttpStatusCode.NotFound))
        {
            return response;
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                var registry = request.Options.TryGetValue(AuthenticationHandler.RegistryKey, out var r) ? r : request.RequestUri!.Authority;
                var hadCredentials = request.Headers.Authorization is not null;
                var error = await RegistryResponses.ToExceptionAsync(response, failure, cancellationToken).ConfigureAwait(false);
                throw new RegistryAuthenticationException(registry, hadCredentials
                    ? $"the registry refused the request ({string.Join(", ", error.Errors.Select(e => e.Code).DefaultIfEmpty("UNAUTHORIZED"))}) — check the credentials and their access to the repository"
                    : "the registry requires credentials and none were found", error);
            }

            throw await RegistryResponses.ToExceptionAsync(response, failure, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<Uri> GetBaseUriAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        var host = repository.ApiHost;
        var lazy = _endpoints.GetOrAdd(host, h => new Lazy<Task<Uri>>(() => ResolveEndpointAsync(h, repository.Registry)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Do not cache a failure: the next call probes again.
            _endpoints.TryRemove(new KeyValuePair<string, Lazy<Task<Uri>>>(host, lazy));
            throw;
        }
    }

    /// <summary>
    /// Settles how a registry is reached: <c>https://</c>, or <c>http://</c> where plain HTTP is allowed
    /// (<see cref="RegistryEndpoints.MayUsePlainHttp"/>). A loopback registry is probed over plain HTTP first, any
    /// other over HTTPS first.
    /// </summary>
    private async Task<Uri> ResolveEndpointAsync(string host, string registry)
    {
        var reference = ImageReference.Create(registry, "ping");
        var https = new Uri($"https://{host}/v2/");
        var http = new Uri($"http://{host}/v2/");
        RegistryException? plainFailure = null;
        if (RegistryEndpoints.IsLoopback(host))
        {
            // A registry on loopback is nearly always a local development or test registry speaking plain HTTP
            // (localhost:5000, kind and k3d registries), as go-containerregistry assumes: probing it over HTTP first
            // spares loading and initialising TLS and a failed handshake. The probe carries no credentials (it is
            // anonymous, AuthenticationHandler.ProbeKey) and never leaves the machine, so nothing is sent in clear that
            // HTTPS would have protected; and the scheme is only chosen by an answer as a registry (200 or 401). Any
            // other outcome but a timeout (nothing listens, a reset, a 400 such as Go's TLS server sends to plain
            // HTTP) leads to the HTTPS probe below, with every rule of HTTPS: an untrusted certificate fails, never
            // falling back. A timeout ends here: another probe would only wait again.
            try
            {
                await ProbeAsync(http, reference, plainFirst: true).ConfigureAwait(false);
                return http;
            }
            catch (RegistryException ex) when (!RegistryEndpoints.IsTimeout(ex))
            {
                plainFailure = ex;
            }
        }

        try
        {
            await ProbeAsync(https, reference).ConfigureAwait(false);
            return https;
        }
        catch (RegistryException ex) when (ex.StatusCode is null && _rejectedCertificates.TryGetValue(host, out var errors))
        {
            // The registry speaks TLS but its certificate is not trusted: never fall back to plain HTTP then.
            throw new RegistryException(
                $"The TLS certificate of {host} is not trusted ({errors}); trust its CA or certificate through RegistryClientOptions.Tls",
                "GET", https, null, innerException: ex);
        }
        catch (RegistryException ex) when (plainFailure is not null)
        {
            if (ex.StatusCode is not null || !RegistryEndpoints.IsNotHttps(ex))
            {
                // HTTPS reached something that speaks TLS (it answered, failed after the handshake, or timed out): its
                // failure says what happened; plain HTTP's only showed that no plain-HTTP registry is there.
                throw;
            }

            if (RegistryEndpoints.IsBelowHttp(plainFailure) && !RegistryEndpoints.IsConnectionRefused(ex))
            {
                // Plain HTTP got no answer (nothing listened, or the connection was dropped), yet what listens now does
                // not speak TLS: a plain-HTTP registry that has just started, or dropped one connection. Probe plain
                // HTTP again, retried as any request.
                await ProbeAsync(http, reference).ConfigureAwait(false);
                return http;
            }

            // HTTPS found no TLS there (or nothing listening): plain HTTP's failure is the one that says what is wrong.
            ExceptionDispatchInfo.Throw(plainFailure);
            throw;
        }
        catch (RegistryException ex) when (ex.StatusCode is null && RegistryEndpoints.MayUsePlainHttp(host, _options) && RegistryEndpoints.IsNotHttps(ex))
        {
            // Only where something answered, but not with TLS (or nothing listens on the HTTPS port): never after a
            // timeout, which a server that does not answer would only repeat, at the cost of another timeout.
            await ProbeAsync(http, reference).ConfigureAwait(false);
            return http;
        }
    }

    /// <summary>
    /// <c>GET /v2/</c> without credentials: a <c>200</c> or a <c>401</c> shows a registry. With
    /// <paramref name="plainFirst"/>, a failure below HTTP other than a timeout is not retried: there it shows that
    /// TLS, or nothing, listens, which the HTTPS probe settles.
    /// </summary>
    private async Task ProbeAsync(Uri v2, ImageReference reference, bool plainFirst = false)
    {
        // Bounded by the attempts' own timeouts (connect, response, request) and the retry budget; not cancellable by
        // one caller, since concurrent callers share the probe.
        using var request = NewRequest(HttpMethod.Get, v2, reference, []);
        request.Options.Set(AuthenticationHandler.ProbeKey, true);
        if (plainFirst)
        {
            request.Options.Set(RetryHandler.ConnectionFailuresAreFinalKey, true);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RegistryTimeoutException ex)
        {
            throw ex.WithContext($"Could not reach registry {v2.Authority}");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException or OperationCanceledException)
        {
            throw RegistryResponses.ToException(request, $"Could not reach registry {v2.Authority}", ex);
        }

        using (response)
        {
            if (plainFirst && response.RequestMessage?.RequestUri is { } answeredBy && !RedirectHandler.SameOrigin(answeredBy, v2))
            {
                // A plain-HTTP front that redirects elsewhere, typically to HTTPS (as Caddy does for localhost), is no
                // plain-HTTP registry: taking it for one would send every request there to be redirected (and uploads,
                // which are not followed, would fail). The HTTPS probe settles the scheme.
                throw new RegistryException($"{v2.Authority} redirects plain HTTP to {RegistryException.Redact(answeredBy)}", "GET", v2, null);
            }

            if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.Unauthorized))
            {
                throw await RegistryResponses.ToExceptionAsync(response, $"{v2.Authority} does not answer as an OCI registry", CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private sealed record UploadSession(Uri Location, long MinChunk, RetryBudget? Budget)
    {
        public Uri Location { get; set; } = Location;
    }

    /// <summary>One upload of a blob of known size, across its retried steps: where it stands and what last failed.</summary>
    private sealed class UploadAttempt(ImageReference repository, Descriptor blob, Func<CancellationToken, Task<Stream>> openContent, IProgress<TransferProgress>? progress, UploadSession session)
    {
        public ImageReference Repository { get; } = repository;

        public Descriptor Blob { get; } = blob;

        public Func<CancellationToken, Task<Stream>> OpenContent { get; } = openContent;

        public IProgress<TransferProgress>? Progress { get; } = progress;

        public UploadSession Session { get; set; } = session;

        public long Offset { get; set; }

        /// <summary>Whether the current step resumes a session at the offset the registry reported.</summary>
        public bool Resumed { get; set; }

        /// <summary>What made the last attempt fail.</summary>
        public Exception? Failure { get; private set; }

        /// <summary>How many attempts have failed.</summary>
        public int Failures { get; private set; }

        public void Failed(Exception failure)
        {
            Failure = failure;
            Failures++;
        }
    }
}
