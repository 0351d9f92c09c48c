using OciKit.Primitives;

namespace OciKit.Signing;

/// <summary>What is wrong with a key, as far as a caller may act on it (the message says more).</summary>
public enum SigningKeyProblem
{
    /// <summary>The key itself cannot be used: not PEM, another algorithm or curve, malformed, unreadable.</summary>
    Unusable,

    /// <summary>The key is encrypted and no passphrase was given.</summary>
    PassphraseMissing,

    /// <summary>The passphrase does not decrypt the key (or the encrypted key is corrupt: the two cannot be told apart).</summary>
    PassphraseWrong,
}

/// <summary>
/// A key file that cannot be used: not PEM, not a key OciKit signs with, encrypted without a passphrase, or a wrong
/// passphrase. The message names the file and what is wrong; it never contains key material or the passphrase.
/// </summary>
public sealed class SigningKeyException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="source">The key file (or another name of where the key came from).</param>
    /// <param name="reason">What is wrong with it, without key material.</param>
    /// <param name="innerException">The underlying parser or cipher error, if any.</param>
    public SigningKeyException(string source, string reason, Exception? innerException = null)
        : base($"Unusable key {source}: {reason}", innerException)
    {
        Source = source;
        Reason = reason;
    }

    /// <summary>Where the key came from.</summary>
    public new string Source { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }

    /// <summary>Which kind of problem it is (<see cref="SigningKeyProblem.Unusable"/> unless a passphrase is missing or wrong).</summary>
    public SigningKeyProblem Problem { get; init; }
}

/// <summary>
/// No valid signature for an image: no signature tag, or every signature there fails (another key, a payload
/// naming another image or repository, a tampered payload).
/// </summary>
public sealed class SignatureVerificationException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="image">The image whose signatures were checked.</param>
    /// <param name="reasons">Why each signature was rejected (empty when there was none).</param>
    public SignatureVerificationException(string image, IReadOnlyList<string> reasons)
        : base($"No valid signature for {image}: " + (reasons.Count == 0 ? "it has no signatures." : string.Join("; ", reasons) + "."))
    {
        Image = image;
        Reasons = reasons;
    }

    /// <summary>The image whose signatures were checked.</summary>
    public string Image { get; }

    /// <summary>Why each signature was rejected.</summary>
    public IReadOnlyList<string> Reasons { get; }
}

/// <summary>
/// A trust policy file that cannot be used: unreadable, not JSON, an unknown requirement or identity type, an
/// unreadable key, both <c>keyPath</c> and <c>keyData</c>. The message names the file and the problem.
/// </summary>
public sealed class TrustPolicyException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="source">The policy file.</param>
    /// <param name="reason">What is wrong with it.</param>
    /// <param name="innerException">The underlying parser or key error, if any.</param>
    public TrustPolicyException(string source, string reason, Exception? innerException = null)
        : base($"Invalid trust policy {source}: {reason}", innerException)
    {
        Source = source;
        Reason = reason;
    }

    /// <summary>The policy file.</summary>
    public new string Source { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}

/// <summary>A trust policy refuses an image: its scope rejects every image, or a required signature is missing or does not match.</summary>
public sealed class TrustPolicyRefusedException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="image">The refused image.</param>
    /// <param name="scope">The policy scope whose requirements refused it.</param>
    /// <param name="reason">Why.</param>
    /// <param name="innerException">The verification failure, if any.</param>
    public TrustPolicyRefusedException(string image, string scope, string reason, Exception? innerException = null)
        : base($"Trust policy refuses {image}: scope {scope}: {reason}.", innerException)
    {
        Image = image;
        Scope = scope;
        Reason = reason;
    }

    /// <summary>The refused image.</summary>
    public string Image { get; }

    /// <summary>The policy scope whose requirements refused it.</summary>
    public string Scope { get; }

    /// <summary>Why.</summary>
    public string Reason { get; }
}
