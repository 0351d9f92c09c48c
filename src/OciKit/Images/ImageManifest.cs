using System.Collections.Immutable;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// An image manifest: an OCI image manifest or a Docker v2 schema 2 manifest, told apart only by
/// <see cref="MediaType"/> (<see href="https://github.com/opencontainers/image-spec/blob/main/manifest.md">image-spec, Image Manifest</see>).
/// </summary>
/// <remarks>
/// Records compare collections by reference; to compare two manifests by content compare their <see cref="ToJson"/> bytes.
/// A manifest read from somewhere keeps its exact bytes in a <see cref="ManifestDocument"/>; never re-serialize it to digest it.
/// </remarks>
/// <param name="Config">The descriptor of the image configuration (or an artifact's config).</param>
/// <param name="Layers">The layers, base first.</param>
public sealed record ImageManifest(Descriptor Config, ImmutableArray<Descriptor> Layers)
{
    /// <summary>The only schema version this model reads and writes.</summary>
    public const int SchemaVersion = 2;

    /// <summary>
    /// The declared media type (<see cref="MediaTypes.OciManifest"/> or <see cref="MediaTypes.DockerManifest"/>);
    /// <see langword="null"/> when the document does not declare one (older OCI manifests).
    /// </summary>
    public string? MediaType { get; init; } = MediaTypes.OciManifest;

    /// <summary>The type of an artifact when the manifest is used for one.</summary>
    public string? ArtifactType { get; init; }

    /// <summary>The manifest this one refers to (referrers API).</summary>
    public Descriptor? Subject { get; init; }

    /// <summary>Arbitrary metadata (keys in <see cref="AnnotationKeys"/> and reverse-domain notation).</summary>
    public ImmutableSortedDictionary<string, string>? Annotations { get; init; }

    /// <summary>Parses a manifest.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="OciFormatException">The JSON is malformed or breaks a rule of the spec.</exception>
    /// <exception cref="NotSupportedException">The document is a Docker schema 1 manifest.</exception>
    public static ImageManifest Parse(ReadOnlyMemory<byte> utf8) => JsonIn.Read(utf8, "manifest", Read);

    /// <summary>Tries to parse a manifest.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <param name="manifest">The manifest, when the bytes are a valid one.</param>
    /// <returns><see langword="true"/> when the bytes are a valid manifest.</returns>
    public static bool TryParse(ReadOnlyMemory<byte> utf8, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ImageManifest? manifest) =>
        JsonIn.TryRead(() => Parse(utf8), out manifest);

    /// <summary>Serializes the manifest in canonical form (compact, fixed member order, empty optional members omitted).</summary>
    /// <returns>The UTF-8 JSON bytes.</returns>
    /// <exception cref="ArgumentException">A descriptor has an invalid media type or a negative size.</exception>
    /// <exception cref="InvalidOperationException">The config descriptor is missing.</exception>
    public byte[] ToJson()
    {
        if (Config is null)
        {
            throw new InvalidOperationException("A manifest needs a config descriptor.");
        }

        DescriptorJson.Validate(Config, "manifest", "config");
        var layers = Layers.IsDefault ? [] : Layers;
        foreach (var layer in layers)
        {
            DescriptorJson.Validate(layer, "manifest", "layer");
        }

        return JsonOut.ManifestShaped(SchemaVersion, MediaType, ArtifactType, w => JsonOut.Descriptor(w, "config", Config), "layers", layers, Subject, Annotations);
    }

    internal static ImageManifest Read(JsonIn json)
    {
        ManifestDocument.CheckSchemaVersion(json);
        var mediaType = json.OptionalMediaType("mediaType");
        if (mediaType is not null && MediaTypes.IsIndex(mediaType))
        {
            throw json.Error($"the media type '{mediaType}' is an index, not a manifest");
        }

        // The schema asks for at least one layer, but the spec text only says SHOULD and Docker writes
        // "layers": [] for images built FROM scratch without files, so an empty list is read.
        return new ImageManifest(
            DescriptorJson.Read(json.RequiredObject("config")),
            json.Required("layers").Array(DescriptorJson.Read))
        {
            MediaType = mediaType,
            ArtifactType = json.OptionalMediaType("artifactType"),
            Subject = json.OptionalObject("subject") is { } s ? DescriptorJson.Read(s) : null,
            Annotations = json.OptionalStringMap("annotations"),
        };
    }
}
