using OciKit.Primitives;

namespace OciKit.Sbom;

/// <summary>
/// A package database inside an image that cannot be read as its format says (for example a <c>*.deps.json</c> that
/// is not JSON), so the SBOM would be wrong rather than merely incomplete. Odd entries that can be skipped are
/// reported as <see cref="SbomResult.Warnings"/> instead.
/// </summary>
public sealed class SbomFormatException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="path">The file inside the image, absolute (for example <c>/app/app.deps.json</c>).</param>
    /// <param name="problem">What is wrong with it.</param>
    /// <param name="innerException">The underlying parser error, if any.</param>
    public SbomFormatException(string path, string problem, Exception? innerException = null)
        : base($"Invalid package database {path}: {problem}", innerException)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The file inside the image.</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }
}

/// <summary>An image in a registry has no SBOM attached through the referrers API (or its fallback tag).</summary>
public sealed class SbomNotFoundException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.NotFound;

    /// <summary>Creates the exception.</summary>
    /// <param name="image">The image (its repository and manifest digest).</param>
    public SbomNotFoundException(string image)
        : base($"No SBOM ({Primitives.MediaTypes.SpdxJson}) is attached to {image}.")
    {
        Image = image;
    }

    /// <summary>The image looked at.</summary>
    public string Image { get; }
}
