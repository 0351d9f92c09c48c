namespace OciKit.Primitives;

/// <summary>Who or what failed: the one classification the CLI's exit codes and the MSBuild task's codes are read from.</summary>
public enum FailureKind
{
    /// <summary>The caller's input: arguments, a Dockerfile, a reference, a build that cannot be carried out as written.</summary>
    Caller,

    /// <summary>What was named is not there: an image in the store or a registry (404), a platform of an index, a file.</summary>
    NotFound,

    /// <summary>The registry refused or failed a request, served content other than it announced, or could not be reached.</summary>
    Registry,

    /// <summary>Credentials are missing, refused or unreadable, or the token service failed.</summary>
    Authentication,

    /// <summary>Content is invalid: a malformed manifest, configuration, layer or archive, a digest mismatch, a corrupt store.</summary>
    Content,

    /// <summary>The local file system or network stack failed.</summary>
    IO,

    /// <summary>Something OciKit does not support was asked for (a media type, a digest algorithm, a transport).</summary>
    NotSupported,

    /// <summary>The operation was cancelled.</summary>
    Cancelled,

    /// <summary>A defect: an exception no classification expects.</summary>
    Internal,
}

/// <summary>Classifies failures by <see cref="FailureKind"/>.</summary>
public static class Failure
{
    /// <summary>
    /// The kind of a failure: an <see cref="OciException"/> says its own (<see cref="OciException.Kind"/>); the .NET
    /// exceptions the library lets through are classified by type; anything else is <see cref="FailureKind.Internal"/>.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns>Its kind.</returns>
    public static FailureKind Classify(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            OciException oci => oci.Kind,
            OperationCanceledException => FailureKind.Cancelled,
            FileNotFoundException or DirectoryNotFoundException => FailureKind.NotFound,
            ArgumentException or FormatException => FailureKind.Caller,
            NotSupportedException => FailureKind.NotSupported,
            IOException or UnauthorizedAccessException or HttpRequestException => FailureKind.IO,
            _ => FailureKind.Internal,
        };
    }
}
