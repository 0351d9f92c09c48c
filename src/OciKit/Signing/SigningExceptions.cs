using OciKit.Primitives;

namespace OciKit.Signing;

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
