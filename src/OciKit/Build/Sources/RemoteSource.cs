using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using OciKit.Primitives;

namespace OciKit.Build.Sources;

/// <summary>A file <c>ADD</c> downloaded from a URL, kept in the build's scratch directory.</summary>
/// <param name="Path">The downloaded file on disk.</param>
/// <param name="FileName">The name the file takes in the image when the destination is a directory.</param>
/// <param name="LastModified">The server's <c>Last-Modified</c> time, which Docker gives the file as its mtime.</param>
internal sealed record DownloadedFile(string Path, string FileName, DateTimeOffset? LastModified);

/// <summary>
/// <c>ADD https://…</c>: downloads a URL into the scratch directory, verifying <c>--checksum</c> while the bytes stream
/// in. The result is never extracted (Docker's rule for remote sources). Git repositories are refused.
/// </summary>
internal static class RemoteSource
{
    /// <summary>The name BuildKit's Dockerfile frontend gives a download whose URL path has no last segment.</summary>
    public const string UnnamedFileName = "__unnamed__";

    private const int BufferSize = 81920;

    /// <summary>
    /// Whether a Dockerfile source names a Git repository, as BuildKit's <c>IsGitURL</c> decides: <c>git://</c>,
    /// <c>git@host:…</c>, <c>github.com/…</c>, or an http(s) URL whose path ends in <c>.git</c> (a <c>#ref</c> may follow).
    /// </summary>
    /// <param name="source">The source as written.</param>
    /// <returns>Whether the source is a Git URL.</returns>
    public static bool IsGitUrl(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.StartsWith("git://", StringComparison.OrdinalIgnoreCase)
            || source.StartsWith("git@", StringComparison.Ordinal)
            || source.StartsWith("github.com/", StringComparison.Ordinal))
        {
            return true;
        }

        if (!IsHttpUrl(source) || !Uri.TryCreate(source, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.AbsolutePath.EndsWith(".git", StringComparison.Ordinal);
    }

    /// <summary>Whether a Dockerfile source is a URL <c>ADD</c> downloads (<c>http://</c> or <c>https://</c>).</summary>
    /// <param name="source">The source as written.</param>
    /// <returns>Whether the source is an http(s) URL.</returns>
    public static bool IsHttpUrl(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The file name a download takes: the last segment of the URL's decoded path (Go's <c>path.Base</c>), or
    /// <see cref="UnnamedFileName"/> when there is none, as BuildKit's Dockerfile frontend names it. The response's
    /// <c>Content-Disposition</c> is ignored, as there.
    /// </summary>
    /// <param name="url">The URL.</param>
    /// <returns>The file name.</returns>
    /// <exception cref="RemoteSourceException">The name would be <c>.</c> or <c>..</c>.</exception>
    public static string FileNameOf(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var path = Uri.UnescapeDataString(url.AbsolutePath).TrimEnd('/');
        var name = path[(path.LastIndexOf('/') + 1)..];
        return name switch
        {
            "" or "." => UnnamedFileName,
            _ when name.Contains('\0', StringComparison.Ordinal) => throw new RemoteSourceException(Redact(url), "the URL path's last segment contains a NUL character"),
            ".." => throw new RemoteSourceException(Redact(url), "the URL path ends in '..', which cannot name a file"),
            _ => name,
        };
    }

    /// <summary>The URL without user information, query or fragment, safe for messages.</summary>
    /// <param name="url">The URL.</param>
    /// <returns>The redacted text.</returns>
    public static string Redact(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return url.IsAbsoluteUri ? url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped) : "(relative URL)";
    }

    /// <summary>
    /// Downloads <paramref name="url"/> into a new folder of <paramref name="scratchDirectory"/>: streamed into a
    /// temporary file, verified, then moved to its final name, so a failed download leaves nothing behind.
    /// </summary>
    /// <param name="url">An absolute http(s) URL.</param>
    /// <param name="checksum">The digest the content must have (<c>ADD --checksum</c>), or <see langword="null"/>.</param>
    /// <param name="scratchDirectory">The build's scratch directory.</param>
    /// <param name="handler">The HTTP handler to use (tests inject one); a default handler when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the download.</param>
    /// <returns>The downloaded file.</returns>
    /// <exception cref="RemoteSourceException">A Git URL, another scheme, an HTTP error status or a network failure.</exception>
    /// <exception cref="DigestMismatchException">The content does not have the expected checksum.</exception>
    /// <exception cref="NotSupportedException">The checksum uses an algorithm other than sha256 or sha512.</exception>
    public static async Task<DownloadedFile> DownloadAsync(Uri url, Digest? checksum, string scratchDirectory, HttpMessageHandler? handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentException.ThrowIfNullOrEmpty(scratchDirectory);
        if (!url.IsAbsoluteUri)
        {
            throw new ArgumentException("The URL must be absolute.", nameof(url));
        }

        var redacted = Redact(url);
        if (IsGitUrl(url.OriginalString) || url.Scheme is "git" or "ssh")
        {
            throw new RemoteSourceException(redacted, "Git repositories are not supported as ADD sources; clone the repository into the build context and COPY it") { IsGitSource = true };
        }

        if (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
        {
            throw new RemoteSourceException(redacted, $"the '{url.Scheme}' scheme is not supported (only http and https are)");
        }

        using var hash = checksum is null ? null : CreateHash(checksum);
        var fileName = FileNameOf(url);
        var folder = Directory.CreateDirectory(Path.Combine(scratchDirectory, "url-" + Path.GetRandomFileName())).FullName;
        // The partial file and the final one live apart, so no URL's file name can collide with the partial one.
        var temporary = Path.Combine(folder, "partial");
        var final = Path.Combine(Directory.CreateDirectory(Path.Combine(folder, "file")).FullName, fileName);
        try
        {
            DateTimeOffset? lastModified;
            using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
            client.Timeout = Timeout.InfiniteTimeSpan;
            using (var request = new HttpRequestMessage(HttpMethod.Get, url))
            {
                using var response = await SendAsync(client, request, redacted, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new RemoteSourceException(redacted, $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}", response.StatusCode);
                }

                lastModified = response.Content.Headers.LastModified;
                await CopyToFileAsync(response, temporary, hash, redacted, cancellationToken).ConfigureAwait(false);
            }

            if (checksum is not null)
            {
                var actual = Digest.Parse(checksum.Algorithm + ":" + Convert.ToHexStringLower(hash!.GetHashAndReset()));
                if (actual != checksum)
                {
                    throw new DigestMismatchException($"ADD source '{redacted}'", checksum, actual);
                }
            }

            File.Move(temporary, final);
            return new DownloadedFile(final, fileName, lastModified);
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    private static IncrementalHash CreateHash(Digest checksum) => checksum.Algorithm switch
    {
        Digest.Sha256Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        Digest.Sha512Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => throw new NotSupportedException($"A checksum with the '{checksum.Algorithm}' algorithm cannot be verified (sha256 and sha512 can)."),
    };

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpRequestMessage request, string redacted, CancellationToken cancellationToken)
    {
        try
        {
            return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new RemoteSourceException(redacted, "the request failed: " + ex.Message, ex.StatusCode, ex);
        }
    }

    private static async Task CopyToFileAsync(HttpResponseMessage response, string path, IncrementalHash? hash, string redacted, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
            await using (output.ConfigureAwait(false))
            {
                var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using (body.ConfigureAwait(false))
                {
                    while (true)
                    {
                        int read;
                        try
                        {
                            read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ex is HttpRequestException or IOException)
                        {
                            throw new RemoteSourceException(redacted, "the download was interrupted: " + ex.Message, null, ex);
                        }

                        if (read == 0)
                        {
                            break;
                        }

                        hash?.AppendData(buffer, 0, read);
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
