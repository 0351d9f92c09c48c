using System.Net;
using OciKit.Primitives;

namespace OciKit.Build.Sources;

/// <summary>
/// A local archive given to <c>ADD</c> that cannot be extracted safely: an entry escapes the destination (a <c>..</c>
/// path, a hard link or symlink pointing out), collides with a non-directory, or names a missing link target.
/// Nothing of the archive reaches the image.
/// </summary>
public sealed class ArchiveEntryException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="archive">The archive's name (as the Dockerfile gave it, or the file name).</param>
    /// <param name="entryName">The offending entry's name as stored in the archive.</param>
    /// <param name="reason">Why the entry is refused.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public ArchiveEntryException(string archive, string entryName, string reason, Exception? innerException = null)
        : base($"Cannot extract '{Truncate(entryName)}' from archive '{archive}': {reason}.", innerException)
    {
        Archive = archive;
        EntryName = entryName;
        Reason = reason;
    }

    /// <summary>The archive's name.</summary>
    public string Archive { get; }

    /// <summary>The offending entry's name as stored in the archive.</summary>
    public string EntryName { get; }

    /// <summary>Why the entry is refused.</summary>
    public string Reason { get; }

    private static string Truncate(string value) => value.Length <= 200 ? value : value[..200] + "…";
}

/// <summary>
/// A remote <c>ADD</c> source that could not be fetched: an unsupported scheme, a Git repository (not supported), an
/// HTTP error status, a network failure or an unusable file name. The URL in the message has its user information
/// and query removed, so no credential or token leaks.
/// </summary>
public sealed class RemoteSourceException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="url">The URL, already redacted.</param>
    /// <param name="reason">What failed.</param>
    /// <param name="statusCode">The HTTP status the server answered, when it answered.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public RemoteSourceException(string url, string reason, HttpStatusCode? statusCode = null, Exception? innerException = null)
        : base($"Cannot download '{url}': {reason}.", innerException)
    {
        Url = url;
        Reason = reason;
        StatusCode = statusCode;
    }

    /// <summary>The URL without user information or query.</summary>
    public string Url { get; }

    /// <summary>What failed.</summary>
    public string Reason { get; }

    /// <summary>The HTTP status, when the server answered with an error.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Whether the source was refused because it names a Git repository.</summary>
    public bool IsGitSource { get; init; }
}
