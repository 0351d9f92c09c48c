using System.Collections.Immutable;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// An index of manifests: an OCI image index or a Docker manifest list, told apart only by <see cref="MediaType"/>
/// (<see href="https://github.com/opencontainers/image-spec/blob/main/image-index.md">image-spec, Image Index</see>).
/// An image layout's <c>index.json</c> is one too.
/// </summary>
/// <remarks>Records compare collections by reference; to compare two indexes by content compare their <see cref="ToJson"/> bytes.</remarks>
/// <param name="Manifests">The referenced manifests (and nested indexes), each possibly with a platform.</param>
public sealed record ImageIndex(ImmutableArray<Descriptor> Manifests)
{
    /// <summary>The only schema version this model reads and writes.</summary>
    public const int SchemaVersion = 2;

    /// <summary>
    /// How many indexes deep OciKit follows an index of indexes before calling the nesting a format error: the one
    /// limit every walk from an index down to an image keeps.
    /// </summary>
    public const int MaxDepth = 4;

    /// <summary>The declared media type (<see cref="MediaTypes.OciIndex"/> or <see cref="MediaTypes.DockerManifestList"/>), if any.</summary>
    public string? MediaType { get; init; } = MediaTypes.OciIndex;

    /// <summary>The type of an artifact when the index is used for one.</summary>
    public string? ArtifactType { get; init; }

    /// <summary>The manifest this one refers to (referrers API).</summary>
    public Descriptor? Subject { get; init; }

    /// <summary>Arbitrary metadata.</summary>
    public ImmutableSortedDictionary<string, string>? Annotations { get; init; }

    /// <summary>
    /// The entry (an image manifest or a nested index) for a platform: the first whose platform
    /// <see cref="Platform.Satisfies">satisfies</see> the one wanted, or the only entry when the index has one and it
    /// names no platform.
    /// </summary>
    /// <param name="wanted">The platform asked for.</param>
    /// <returns>The entry, or <see langword="null"/> when the index has none for the platform.</returns>
    public Descriptor? FindPlatform(Platform wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        foreach (var entry in Manifests)
        {
            if ((MediaTypes.IsManifest(entry.MediaType) || MediaTypes.IsIndex(entry.MediaType)) && entry.Platform is { } platform && platform.Satisfies(wanted))
            {
                return entry;
            }
        }

        return Manifests is [{ Platform: null } only] && (MediaTypes.IsManifest(only.MediaType) || MediaTypes.IsIndex(only.MediaType)) ? only : null;
    }

    /// <summary>The platforms the index's entries name, for messages (<c>linux/amd64, linux/arm64/v8</c>, or <c>no platforms</c>).</summary>
    /// <returns>The platforms, comma-separated, each once.</returns>
    public string DescribePlatforms()
    {
        var offered = string.Join(", ", Manifests.Where(static m => m.Platform is not null).Select(static m => m.Platform!.ToString()).Distinct());
        return offered.Length == 0 ? "no platforms" : offered;
    }

    /// <summary>Parses an index.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <returns>The index.</returns>
    /// <exception cref="OciFormatException">The JSON is malformed or breaks a rule of the spec.</exception>
    public static ImageIndex Parse(ReadOnlyMemory<byte> utf8) => JsonIn.Read(utf8, "index", Read);

    /// <summary>Tries to parse an index.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <param name="index">The index, when the bytes are a valid one.</param>
    /// <returns><see langword="true"/> when the bytes are a valid index.</returns>
    public static bool TryParse(ReadOnlyMemory<byte> utf8, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ImageIndex? index) =>
        JsonIn.TryRead(() => Parse(utf8), out index);

    /// <summary>Serializes the index in canonical form.</summary>
    /// <returns>The UTF-8 JSON bytes.</returns>
    /// <exception cref="ArgumentException">A descriptor has an invalid media type or a negative size.</exception>
    public byte[] ToJson()
    {
        var manifests = Manifests.IsDefault ? [] : Manifests;
        foreach (var m in manifests)
        {
            DescriptorJson.Validate(m, "index", "manifest");
        }

        return JsonOut.ManifestShaped(SchemaVersion, MediaType, ArtifactType, before: null, "manifests", manifests, Subject, Annotations);
    }

    internal static ImageIndex Read(JsonIn json)
    {
        ManifestDocument.CheckSchemaVersion(json);
        var mediaType = json.OptionalMediaType("mediaType");
        if (mediaType is not null && MediaTypes.IsManifest(mediaType))
        {
            throw json.Error($"the media type '{mediaType}' is a manifest, not an index");
        }

        return new ImageIndex(json.Required("manifests").Array(DescriptorJson.Read))
        {
            MediaType = mediaType,
            ArtifactType = json.OptionalMediaType("artifactType"),
            Subject = json.OptionalObject("subject") is { } s ? DescriptorJson.Read(s) : null,
            Annotations = json.OptionalStringMap("annotations"),
        };
    }
}
