using OciKit.Primitives;

namespace OciKit.Auth;

/// <summary>
/// A credential file (Docker <c>config.json</c>, containers <c>auth.json</c>) that cannot be read or written:
/// malformed JSON, a field of the wrong type, an <c>auth</c> value that is not base64 <c>username:password</c>.
/// </summary>
/// <remarks>The message names the file, the entry and the line, never the file's content.</remarks>
public sealed class CredentialFileException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Authentication;

    /// <summary>Creates the exception.</summary>
    /// <param name="path">The file.</param>
    /// <param name="reason">What is wrong with it, without any of its content.</param>
    /// <param name="innerException">An I/O error that caused this one, if any (never a parser error that could quote content).</param>
    public CredentialFileException(string path, string reason, Exception? innerException = null)
        : base($"Invalid credential file '{path}': {reason}.", innerException)
    {
        FilePath = path;
        Reason = reason;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with the file.</summary>
    public string Reason { get; }
}

/// <summary>
/// A Docker credential helper (<c>docker-credential-&lt;name&gt;</c>) that could not be found, failed, or answered
/// something that is not the helper protocol.
/// </summary>
/// <remarks>
/// "Credentials not found" answers are not errors (they mean "no credential"). The message carries at most the first
/// line of the helper's own error output, with any secret sent to it removed; never what it printed on success.
/// </remarks>
public sealed class CredentialHelperException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Authentication;

    /// <summary>Creates the exception.</summary>
    /// <param name="helper">The helper program, for example <c>docker-credential-pass</c>.</param>
    /// <param name="operation">The helper operation: <c>get</c>, <c>store</c> or <c>erase</c>.</param>
    /// <param name="serverUrl">The registry the operation was for.</param>
    /// <param name="reason">What went wrong, without secrets.</param>
    /// <param name="exitCode">The helper's exit code, when it ran.</param>
    public CredentialHelperException(string helper, string operation, string serverUrl, string reason, int? exitCode = null)
        : base($"Credential helper '{helper}' failed to {operation} credentials for '{serverUrl}': {reason}.")
    {
        Helper = helper;
        Operation = operation;
        ServerUrl = serverUrl;
        Reason = reason;
        ExitCode = exitCode;
    }

    /// <summary>The helper program, for example <c>docker-credential-pass</c>.</summary>
    public string Helper { get; }

    /// <summary>The helper operation: <c>get</c>, <c>store</c> or <c>erase</c>.</summary>
    public string Operation { get; }

    /// <summary>The registry the operation was for.</summary>
    public string ServerUrl { get; }

    /// <summary>What went wrong.</summary>
    public string Reason { get; }

    /// <summary>The helper's exit code, or <see langword="null"/> when it did not run.</summary>
    public int? ExitCode { get; }
}
