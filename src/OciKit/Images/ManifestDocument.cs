using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>What a <see cref="ManifestDocument"/> holds.</summary>
public enum ManifestKind
{
    /// <summary>A media type OciKit does not model; the bytes pass through untouched.</summary>
    Unknown,

    /// <summary>An image manifest (OCI or Docker schema 2).</summary>
    Manifest,

    /// <summary>An index (OCI image index or Docker manifest list).</summary>
    Index,
}

/// <summary>
/// A manifest or index exactly as written or received: its bytes, their digest and size, its media type and the
/// parsed model. The digest is always that of <see cref="Bytes"/>; the model is never re-serialized to compute it.
/// </summary>
/// <remarks>Equality compares the model and the memory by reference; compare <see cref="Digest"/> to compare content.</remarks>
public sealed record ManifestDocument
{
    /// <summary>
    /// The largest manifest or index OciKit accepts, 4 MiB: what containerd accepts, and the size the distribution spec
    /// asks registries to accept at least. One limit for every door a manifest comes in by (a registry, an OCI or Docker
    /// archive) and for the local store that reads it back, so a manifest that was accepted can always be read again.
    /// </summary>
    public const int MaxSize = 4 * 1024 * 1024;

    private ManifestDocument(ReadOnlyMemory<byte> bytes, Digest digest, string mediaType, ImageManifest? manifest, ImageIndex? index)
    {
        Bytes = bytes;
        Digest = digest;
        MediaType = mediaType;
        Manifest = manifest;
        Index = index;
    }

    /// <summary>The exact bytes.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary>The SHA-256 digest of <see cref="Bytes"/> (or the verified digest given when parsing).</summary>
    public Digest Digest { get; }

    /// <summary>The size of <see cref="Bytes"/>.</summary>
    public long Size => Bytes.Length;

    /// <summary>The media type: the one the document declares, else the one it was received with, else inferred from its fields.</summary>
    public string MediaType { get; }

    /// <summary>The parsed manifest, when <see cref="Kind"/> is <see cref="ManifestKind.Manifest"/>.</summary>
    public ImageManifest? Manifest { get; }

    /// <summary>The parsed index, when <see cref="Kind"/> is <see cref="ManifestKind.Index"/>.</summary>
    public ImageIndex? Index { get; }

    /// <summary>What the document holds.</summary>
    public ManifestKind Kind => Manifest is not null ? ManifestKind.Manifest : Index is not null ? ManifestKind.Index : ManifestKind.Unknown;

    /// <summary>A descriptor of this document (media type, digest, size).</summary>
    public Descriptor Descriptor => new(MediaType, Digest, Size);

    /// <summary>Parses received manifest bytes.</summary>
    /// <param name="bytes">The exact bytes; they are kept, not copied.</param>
    /// <param name="mediaType">The media type the bytes were received with (for example a Content-Type), if known.</param>
    /// <returns>The document.</returns>
    /// <exception cref="OciFormatException">The bytes are not a valid manifest or index, or contradict <paramref name="mediaType"/>.</exception>
    /// <exception cref="NotSupportedException">The bytes are a Docker schema 1 manifest.</exception>
    public static ManifestDocument Parse(ReadOnlyMemory<byte> bytes, string? mediaType = null) =>
        Parse(bytes, Digest.ComputeSha256(bytes.Span), mediaType);

    /// <summary>Parses received manifest bytes, verifying them against the descriptor they were fetched by.</summary>
    /// <param name="bytes">The exact bytes.</param>
    /// <param name="expected">The descriptor (digest, size and media type) the bytes must match.</param>
    /// <returns>The document.</returns>
    /// <exception cref="DigestMismatchException">The bytes do not have the expected digest.</exception>
    /// <exception cref="OciFormatException">The bytes have another size or are not a valid manifest or index.</exception>
    /// <exception cref="NotSupportedException">The bytes are a Docker schema 1 manifest, or the digest algorithm cannot be verified.</exception>
    public static ManifestDocument Parse(ReadOnlyMemory<byte> bytes, Descriptor expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (bytes.Length != expected.Size)
        {
            throw new OciFormatException($"manifest {expected.Digest}", $"expected {expected.Size} bytes, got {bytes.Length}.");
        }

        expected.Digest.Verify(bytes.Span, $"manifest {expected.Digest}");
        return Parse(bytes, expected.Digest, expected.MediaType);
    }

    /// <summary>Serializes a manifest and wraps the bytes.</summary>
    /// <param name="manifest">The manifest; its media type defaults to <see cref="MediaTypes.OciManifest"/> when unset.</param>
    /// <returns>The document.</returns>
    public static ManifestDocument FromManifest(ImageManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var bytes = manifest.ToJson();
        return new ManifestDocument(bytes, Digest.ComputeSha256(bytes), manifest.MediaType ?? MediaTypes.OciManifest, manifest, null);
    }

    /// <summary>Serializes an index and wraps the bytes.</summary>
    /// <param name="index">The index; its media type defaults to <see cref="MediaTypes.OciIndex"/> when unset.</param>
    /// <returns>The document.</returns>
    public static ManifestDocument FromIndex(ImageIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        var bytes = index.ToJson();
        return new ManifestDocument(bytes, Digest.ComputeSha256(bytes), index.MediaType ?? MediaTypes.OciIndex, null, index);
    }

    private static ManifestDocument Parse(ReadOnlyMemory<byte> bytes, Digest digest, string? mediaType)
    {
        // A Content-Type may carry parameters ("; charset=utf-8"); the media type is what precedes them.
        if (mediaType?.IndexOf(';', StringComparison.Ordinal) is int semicolon and >= 0)
        {
            mediaType = mediaType[..semicolon];
        }

        mediaType = string.IsNullOrWhiteSpace(mediaType) ? null : mediaType.Trim();
        if (mediaType is MediaTypes.DockerManifestSchema1 or MediaTypes.DockerManifestSchema1Signed)
        {
            throw Schema1();
        }

        var subject = $"manifest {digest}";
        return JsonIn.Read(bytes, subject, json =>
        {
            var declared = json.OptionalMediaType("mediaType");
            if (declared is not null && mediaType is not null && !string.Equals(declared, mediaType, StringComparison.Ordinal))
            {
                throw json.Error($"declares media type '{declared}' but was received as '{mediaType}'");
            }

            var effective = declared ?? mediaType;
            if (effective is null)
            {
                // Infer as the OCI spec allows for documents without a mediaType field.
                CheckSchemaVersion(json);
                effective = json.Has("manifests") ? MediaTypes.OciIndex
                    : json.Has("config") ? MediaTypes.OciManifest
                    : throw json.Error("has neither 'manifests' nor 'config' and no media type");
            }

            return MediaTypes.IsManifest(effective) ? new ManifestDocument(bytes, digest, effective, ImageManifest.Read(json), null)
                : MediaTypes.IsIndex(effective) ? new ManifestDocument(bytes, digest, effective, null, ImageIndex.Read(json))
                : effective is MediaTypes.DockerManifestSchema1 or MediaTypes.DockerManifestSchema1Signed ? throw Schema1()
                : new ManifestDocument(bytes, digest, effective, null, null);
        });
    }

    internal static void CheckSchemaVersion(JsonIn json)
    {
        var field = json.Required("schemaVersion");
        var version = field.AsInt64();
        if (version == 1)
        {
            throw Schema1();
        }

        if (version != 2)
        {
            throw field.Error($"schemaVersion must be 2, found {version}");
        }
    }

    private static NotSupportedException Schema1() =>
        new("Docker image manifest schema 1 is not supported (deprecated since 2017); pull the image as schema 2 or OCI.");
}
