using OciKit.Primitives;

namespace OciKit.Dockerfile.Shell;

/// <summary>
/// A word that cannot be expanded: an unterminated quote, a malformed <c>${…}</c> substitution, an unsupported modifier,
/// an invalid pattern, or a variable that <c>${VAR?message}</c> / <c>${VAR:?message}</c> requires to be set.
/// </summary>
/// <remarks>The message has BuildKit's shape: <c>failed to process "word": reason</c>.</remarks>
public sealed class ShellExpansionException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="word">The text that was being expanded.</param>
    /// <param name="reason">What is wrong with it, for example <c>syntax error: bad substitution</c>.</param>
    public ShellExpansionException(string word, string reason)
        : base($"failed to process \"{word}\": {reason}")
    {
        Word = word;
        Reason = reason;
    }

    /// <summary>The text that was being expanded.</summary>
    public string Word { get; }

    /// <summary>Why the expansion failed, without the word (for example <c>VAR: is not allowed to be unset</c>).</summary>
    public string Reason { get; }
}
