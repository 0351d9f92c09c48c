namespace OciKit.Primitives;

/// <summary>
/// A reference to content by media type, digest and size, as in
/// <see href="https://github.com/opencontainers/image-spec/blob/main/descriptor.md">image-spec, Descriptors</see>.
/// </summary>
/// <param name="MediaType">The media type of the referenced content.</param>
/// <param name="Digest">The digest of the exact referenced bytes.</param>
/// <param name="Size">The size of the referenced bytes.</param>
public sealed record Descriptor(string MediaType, Digest Digest, long Size)
{
    /// <summary>URLs the content may be downloaded from (non-distributable layers).</summary>
    public IReadOnlyList<string>? Urls { get; init; }

    /// <summary>Arbitrary metadata; keys in reverse-domain notation.</summary>
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>The platform of the referenced manifest (in an index).</summary>
    public Platform? Platform { get; init; }

    /// <summary>The artifact type of the referenced manifest (in an index or the referrers API).</summary>
    public string? ArtifactType { get; init; }

    /// <summary>The referenced content itself, embedded (the <c>data</c> field).</summary>
    public ReadOnlyMemory<byte>? Data { get; init; }
}
