namespace OciKit.Primitives;

/// <summary>
/// Every annotation key OciKit reads or writes, in one place, as
/// <see href="https://github.com/opencontainers/image-spec/blob/main/annotations.md">image-spec, Annotations</see> defines them.
/// The same keys are used as image configuration labels.
/// </summary>
public static class AnnotationKeys
{
    /// <summary>Date and time the image was built (RFC 3339).</summary>
    public const string Created = "org.opencontainers.image.created";

    /// <summary>Contact details of the people or organization responsible for the image.</summary>
    public const string Authors = "org.opencontainers.image.authors";

    /// <summary>URL to find more information on the image.</summary>
    public const string Url = "org.opencontainers.image.url";

    /// <summary>URL to get documentation on the image.</summary>
    public const string Documentation = "org.opencontainers.image.documentation";

    /// <summary>URL to get the source code for building the image.</summary>
    public const string Source = "org.opencontainers.image.source";

    /// <summary>Version of the packaged software.</summary>
    public const string Version = "org.opencontainers.image.version";

    /// <summary>Source control revision identifier for the packaged software.</summary>
    public const string Revision = "org.opencontainers.image.revision";

    /// <summary>Name of the distributing entity, organization or individual.</summary>
    public const string Vendor = "org.opencontainers.image.vendor";

    /// <summary>License(s) under which the contained software is distributed (SPDX expression).</summary>
    public const string Licenses = "org.opencontainers.image.licenses";

    /// <summary>Name of the reference for a target; in an image layout's <c>index.json</c>, the image's name.</summary>
    public const string RefName = "org.opencontainers.image.ref.name";

    /// <summary>Human-readable title of the image.</summary>
    public const string Title = "org.opencontainers.image.title";

    /// <summary>Human-readable description of the software packaged in the image.</summary>
    public const string Description = "org.opencontainers.image.description";

    /// <summary>Digest of the image this image is based on.</summary>
    public const string BaseDigest = "org.opencontainers.image.base.digest";

    /// <summary>Image reference of the image this image is based on.</summary>
    public const string BaseName = "org.opencontainers.image.base.name";

    /// <summary>The full image name containerd and Docker record in an exported <c>index.json</c>.</summary>
    public const string ContainerdImageName = "io.containerd.image.name";
}
