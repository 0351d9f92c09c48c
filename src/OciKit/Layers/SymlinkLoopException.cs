using OciKit.Primitives;

namespace OciKit.Layers;

/// <summary>
/// A path that cannot be resolved because its symbolic links lead round in a loop (<c>a -> b</c>, <c>b -> a</c>) or
/// through more links than a kernel follows (ELOOP), in an image's layers or a build context.
/// </summary>
public sealed class SymlinkLoopException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="path">The path whose resolution was given up.</param>
    /// <param name="hops">How many links were followed before giving up.</param>
    public SymlinkLoopException(string path, int hops)
        : base($"Cannot resolve '{(path.Length <= 200 ? path : path[..200] + "…")}': too many levels of symbolic links ({hops} followed; a symlink loop?).")
    {
        Path = path;
        Hops = hops;
    }

    /// <summary>The path whose resolution was given up.</summary>
    public string Path { get; }

    /// <summary>How many links were followed before giving up.</summary>
    public int Hops { get; }
}
