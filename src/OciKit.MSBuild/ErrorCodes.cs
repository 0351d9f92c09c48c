using OciKit.Primitives;

namespace OciKit.MSBuild;

/// <summary>The coded errors the <c>OciPublish</c> target reports, one per kind of failure.</summary>
public static class ErrorCodes
{
    /// <summary>A property or item has an invalid value (the project's configuration is wrong: an argument, a reference).</summary>
    public const string InvalidConfiguration = "OCIK0001";

    /// <summary>The registry refused or failed a request.</summary>
    public const string RegistryFailed = "OCIK0002";

    /// <summary>Authentication to the registry failed, or the credentials could not be read.</summary>
    public const string AuthenticationFailed = "OCIK0003";

    /// <summary>Something the publish names was not found: most often the base image (or its platform), or a file.</summary>
    public const string BaseImageNotFound = "OCIK0004";

    /// <summary>Content was invalid: a digest mismatch, an unreadable manifest or layer, a corrupt local store.</summary>
    public const string InvalidContent = "OCIK0005";

    /// <summary>Reading the publish output or writing the store or archive failed.</summary>
    public const string IOFailed = "OCIK0006";

    /// <summary>The build was cancelled.</summary>
    public const string Cancelled = "OCIK0007";

    /// <summary>Something the library does not support was asked for.</summary>
    public const string NotSupported = "OCIK0008";

    /// <summary>The signing key (<c>ContainerSigningKey</c>) cannot be used: unreadable, not a key OciKit signs with, or encrypted without a passphrase.</summary>
    public const string SigningKeyUnusable = "OCIK0009";

    /// <summary>The passphrase does not decrypt the signing key (the message never contains it).</summary>
    public const string SigningKeyPassphraseWrong = "OCIK0010";

    /// <summary>The trust policy (<c>ContainerTrustPolicy</c>) refuses the base image.</summary>
    public const string TrustPolicyRefused = "OCIK0011";

    /// <summary>
    /// The code for an exception: the supply-chain failures by their own codes, the rest from the library's one classification (<see cref="Failure.Classify"/>), or
    /// <see langword="null"/> for a bug that should surface as is.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <returns>The code.</returns>
    public static string? For(Exception exception) => exception switch
    {
        Signing.SigningKeyException { Problem: Signing.SigningKeyProblem.PassphraseWrong } => SigningKeyPassphraseWrong,
        Signing.SigningKeyException => SigningKeyUnusable,
        Signing.TrustPolicyRefusedException => TrustPolicyRefused,
        _ => ForKind(exception),
    };

    private static string? ForKind(Exception exception) => Failure.Classify(exception) switch
    {
        FailureKind.Caller => InvalidConfiguration,
        FailureKind.NotFound => BaseImageNotFound,
        FailureKind.Registry => RegistryFailed,
        FailureKind.Authentication => AuthenticationFailed,
        FailureKind.Content => InvalidContent,
        FailureKind.IO => IOFailed,
        FailureKind.NotSupported => NotSupported,
        FailureKind.Cancelled => Cancelled,
        _ => null,
    };

    /// <summary>The message for an error: the exception's own message (the library keeps secrets out of messages).</summary>
    /// <param name="code">The code.</param>
    /// <param name="exception">The exception.</param>
    /// <returns>The message.</returns>
    public static string Describe(string code, Exception exception) => code switch
    {
        Cancelled => "OciPublish was cancelled.",
        _ when exception.InnerException is { } inner && exception is HttpRequestException => $"{exception.Message} ({inner.Message})",
        _ => exception.Message,
    };
}
