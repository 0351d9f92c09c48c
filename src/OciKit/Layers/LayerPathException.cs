using OciKit.Primitives;

namespace OciKit.Layers;

/// <summary>
/// A path in a layer (or given for one) that is not a safe relative path: absolute, escaping the root with <c>..</c>,
/// empty, containing a NUL character, using a reserved whiteout name, or duplicated.
/// </summary>
public sealed class LayerPathException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="path">The offending path as it was given or read.</param>
    /// <param name="reason">Why it is refused.</param>
    public LayerPathException(string path, string reason)
        : base($"Invalid layer path '{Truncate(path)}': {reason}.")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The offending path as it was given or read.</summary>
    public string Path { get; }

    /// <summary>Why the path is refused.</summary>
    public string Reason { get; }

    private static string Truncate(string value) => value.Length <= 200 ? value : value[..200] + "…";
}
