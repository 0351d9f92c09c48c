using OciKit.Primitives;

namespace OciKit.References;

/// <summary>
/// An image reference that does not follow the reference grammar: an upper-case repository, an invalid tag or digest,
/// an invalid registry host or a name that is too long.
/// </summary>
public sealed class InvalidReferenceException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    private const int MaxShownLength = 300;

    /// <summary>Creates the exception.</summary>
    /// <param name="reference">The text that failed to parse.</param>
    /// <param name="reason">What is wrong with it, for example <c>repository name must be lowercase</c>.</param>
    public InvalidReferenceException(string reference, string reason)
        : base($"Invalid image reference '{Shorten(reference)}': {reason}.")
    {
        Reference = reference;
        Reason = reason;
    }

    /// <summary>The text that failed to parse.</summary>
    public string Reference { get; }

    /// <summary>What is wrong with the reference, for example <c>invalid tag</c> or <c>name too long</c>.</summary>
    public string Reason { get; }

    private static string Shorten(string value) => value.Length <= MaxShownLength ? value : value[..MaxShownLength] + "…";
}
