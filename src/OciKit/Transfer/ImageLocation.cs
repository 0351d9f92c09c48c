using System.Diagnostics.CodeAnalysis;
using OciKit.References;

namespace OciKit.Transfer;

/// <summary>Where an <see cref="ImageLocation"/> keeps its image (skopeo's transports).</summary>
public enum ImageTransport
{
    /// <summary><c>docker://REF</c> (or a bare reference): an image in a registry.</summary>
    Registry,

    /// <summary><c>oci:DIR[:TAG]</c>: an OCI image layout directory.</summary>
    OciLayout,

    /// <summary><c>oci-archive:FILE[:TAG]</c>: an OCI image layout packed in a tar.</summary>
    OciArchive,

    /// <summary><c>docker-archive:FILE[:REF]</c>: a <c>docker save</c> tar.</summary>
    DockerArchive,
}

/// <summary>
/// An image's location in skopeo's transport syntax: <c>docker://REF</c> or a bare reference, <c>oci:DIR[:TAG]</c>,
/// <c>oci-archive:FILE[:TAG]</c> and <c>docker-archive:FILE[:REF]</c>. As in skopeo, the path ends at the first
/// <c>:</c> after the transport; what follows names the image inside the directory or archive.
/// </summary>
public sealed record ImageLocation
{
    /// <summary>The prefix of the registry transport.</summary>
    public const string RegistryPrefix = "docker://";

    /// <summary>The prefix of the OCI layout transport.</summary>
    public const string OciLayoutPrefix = "oci:";

    /// <summary>The prefix of the oci-archive transport.</summary>
    public const string OciArchivePrefix = "oci-archive:";

    /// <summary>The prefix of the docker-archive transport.</summary>
    public const string DockerArchivePrefix = "docker-archive:";

    private ImageLocation(ImageTransport transport, ImageReference? reference, string? path, string? tag)
    {
        Transport = transport;
        Reference = reference;
        Path = path;
        Tag = tag;
    }

    /// <summary>The transport.</summary>
    public ImageTransport Transport { get; }

    /// <summary>
    /// The image reference: the image for <see cref="ImageTransport.Registry"/>, the name recorded in the archive for
    /// <see cref="ImageTransport.DockerArchive"/> (optional), otherwise <see langword="null"/>.
    /// </summary>
    public ImageReference? Reference { get; }

    /// <summary>The directory or file (absolute) for the layout and archive transports; <see langword="null"/> for a registry.</summary>
    public string? Path { get; }

    /// <summary>
    /// The image's name inside an OCI layout or oci-archive (<c>org.opencontainers.image.ref.name</c>), optional;
    /// <see langword="null"/> for the other transports.
    /// </summary>
    public string? Tag { get; }

    /// <summary>An image in a registry.</summary>
    /// <param name="reference">The image.</param>
    /// <returns>The location.</returns>
    public static ImageLocation ForRegistry(ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return new ImageLocation(ImageTransport.Registry, reference, null, null);
    }

    /// <summary>An image in an OCI layout directory.</summary>
    /// <param name="directory">The layout directory.</param>
    /// <param name="tag">Its name in the layout; <see langword="null"/> for the layout's only image.</param>
    /// <returns>The location.</returns>
    public static ImageLocation ForOciLayout(string directory, string? tag = null) => ForFile(ImageTransport.OciLayout, directory, tag, null);

    /// <summary>An image in an oci-archive.</summary>
    /// <param name="file">The tar file.</param>
    /// <param name="tag">Its name in the archive; <see langword="null"/> for the archive's only image.</param>
    /// <returns>The location.</returns>
    public static ImageLocation ForOciArchive(string file, string? tag = null) => ForFile(ImageTransport.OciArchive, file, tag, null);

    /// <summary>An image in a docker-archive.</summary>
    /// <param name="file">The tar file.</param>
    /// <param name="reference">Its name (<c>RepoTags</c>) in the archive; <see langword="null"/> for the archive's only image.</param>
    /// <returns>The location.</returns>
    /// <exception cref="ArgumentException">The reference has a digest (a docker archive names images by repository:tag).</exception>
    public static ImageLocation ForDockerArchive(string file, ImageReference? reference = null)
    {
        if (reference is { Digest: not null })
        {
            throw new ArgumentException($"'{reference}' has a digest; a docker archive names images by repository:tag.", nameof(reference));
        }

        return ForFile(ImageTransport.DockerArchive, file, null, reference);
    }

    /// <summary>Parses a location.</summary>
    /// <param name="text">For example <c>docker://ghcr.io/org/app:1</c>, <c>alpine</c>, <c>oci:/tmp/layout:v1</c> or <c>docker-archive:app.tar:app:1</c>.</param>
    /// <returns>The location.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidReferenceException">The text is not a valid location.</exception>
    public static ImageLocation Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var location, out var error) ? location : throw new InvalidReferenceException(text, error);
    }

    /// <summary>Tries to parse a location.</summary>
    /// <param name="text">The text.</param>
    /// <param name="location">The location, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a valid location.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out ImageLocation? location) => TryParse(text, out location, out _);

    /// <summary>The location in skopeo's syntax, which <see cref="Parse"/> reads back.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => Transport switch
    {
        ImageTransport.Registry => RegistryPrefix + Reference,
        ImageTransport.OciLayout => OciLayoutPrefix + Path + (Tag is null ? "" : ":" + Tag),
        ImageTransport.OciArchive => OciArchivePrefix + Path + (Tag is null ? "" : ":" + Tag),
        _ => DockerArchivePrefix + Path + (Reference is null ? "" : ":" + Reference),
    };

    private static ImageLocation ForFile(ImageTransport transport, string path, string? tag, ImageReference? reference)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The path '{path}' contains ':', which the transport syntax uses to separate the image's name.", nameof(path));
        }

        if (tag is not null && !IsValidTag(tag))
        {
            throw new ArgumentException($"'{tag}' is not a valid image name in a layout.", nameof(tag));
        }

        return new ImageLocation(transport, reference, System.IO.Path.GetFullPath(path), tag);
    }

    private static bool TryParse(string? text, [NotNullWhen(true)] out ImageLocation? location, out string error)
    {
        location = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "empty location";
            return false;
        }

        ImageTransport transport;
        string rest;
        if (text.StartsWith(RegistryPrefix, StringComparison.Ordinal))
        {
            return TryRegistry(text[RegistryPrefix.Length..], out location, out error);
        }
        else if (text.StartsWith(OciLayoutPrefix, StringComparison.Ordinal))
        {
            (transport, rest) = (ImageTransport.OciLayout, text[OciLayoutPrefix.Length..]);
        }
        else if (text.StartsWith(OciArchivePrefix, StringComparison.Ordinal))
        {
            (transport, rest) = (ImageTransport.OciArchive, text[OciArchivePrefix.Length..]);
        }
        else if (text.StartsWith(DockerArchivePrefix, StringComparison.Ordinal))
        {
            (transport, rest) = (ImageTransport.DockerArchive, text[DockerArchivePrefix.Length..]);
        }
        else
        {
            return TryRegistry(text, out location, out error);
        }

        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        var path = colon < 0 ? rest : rest[..colon];
        var name = colon < 0 ? null : rest[(colon + 1)..];
        if (path.Length == 0)
        {
            error = "the path is empty";
            return false;
        }

        if (name is { Length: 0 })
        {
            error = "the name after the path is empty";
            return false;
        }

        if (transport == ImageTransport.DockerArchive)
        {
            ImageReference? reference = null;
            if (name is not null && (!ImageReference.TryParse(name, out reference) || reference.Digest is not null))
            {
                error = $"'{name}' is not a tagged image reference (a docker archive names images by repository:tag)";
                return false;
            }

            location = new ImageLocation(transport, reference, System.IO.Path.GetFullPath(path), null);
            error = string.Empty;
            return true;
        }

        if (name is not null && !IsValidTag(name))
        {
            error = $"'{name}' is not a valid image name in a layout";
            return false;
        }

        location = new ImageLocation(transport, null, System.IO.Path.GetFullPath(path), name);
        error = string.Empty;
        return true;
    }

    private static bool TryRegistry(string text, [NotNullWhen(true)] out ImageLocation? location, out string error)
    {
        location = null;
        if (!ImageReference.TryParse(text, out var reference))
        {
            error = "not a transport (docker://, oci:, oci-archive:, docker-archive:) nor a valid image reference";
            return false;
        }

        location = new ImageLocation(ImageTransport.Registry, reference, null, null);
        error = string.Empty;
        return true;
    }

    // The image-spec's ref.name grammar, less strict than a tag: components of alphanumerics joined by -._:@/+.
    private static bool IsValidTag(string tag)
    {
        if (tag.Length == 0 || !char.IsAsciiLetterOrDigit(tag[0]) || !char.IsAsciiLetterOrDigit(tag[^1]))
        {
            return false;
        }

        foreach (var c in tag)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_' or ':' or '@' or '/' or '+'))
            {
                return false;
            }
        }

        return true;
    }
}
