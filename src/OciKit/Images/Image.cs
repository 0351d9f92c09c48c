using System.Collections.Immutable;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// An image as data: its configuration and its layer descriptors, plus the manifest's media type and annotations.
/// Every <c>With…</c>/<c>Append…</c>/<see cref="Rebase"/> method returns a new image and leaves this one untouched
/// (as go-containerregistry's <c>mutate</c> does); layers are referenced by descriptor and never re-read or recompressed.
/// <see cref="Build"/> produces the configuration and manifest bytes with their digests.
/// </summary>
/// <remarks>Records compare collections by reference; compare the built manifest digests to compare images.</remarks>
public sealed record Image
{
    /// <summary>Creates an image from a configuration and its layers.</summary>
    /// <param name="config">The configuration; its <see cref="ImageConfig.DiffIds"/> must pair with <paramref name="layers"/>.</param>
    /// <param name="layers">The layer descriptors, base first.</param>
    /// <param name="manifestMediaType"><see cref="MediaTypes.OciManifest"/> (default) or <see cref="MediaTypes.DockerManifest"/>.</param>
    /// <exception cref="ArgumentException">The counts of layers and DiffIDs differ, or the media type is not a manifest type.</exception>
    public Image(ImageConfig config, ImmutableArray<Descriptor> layers, string manifestMediaType = MediaTypes.OciManifest)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!MediaTypes.IsManifest(manifestMediaType))
        {
            throw new ArgumentException($"'{manifestMediaType}' is not an image manifest media type.", nameof(manifestMediaType));
        }

        layers = layers.IsDefault ? [] : layers;
        var diffIds = config.DiffIds.IsDefault ? [] : config.DiffIds;
        if (diffIds.Length != layers.Length)
        {
            throw new ArgumentException($"The configuration has {diffIds.Length} DiffIDs for {layers.Length} layers.", nameof(layers));
        }

        Config = config with { DiffIds = diffIds, History = config.History.IsDefault ? [] : config.History };
        ManifestMediaType = manifestMediaType;
        Layers = [.. layers.Select(l => l with { MediaType = LayerMediaTypeFor(manifestMediaType, l.MediaType) })];
    }

    /// <summary>The configuration.</summary>
    public ImageConfig Config { get; private init; }

    /// <summary>The layer descriptors, base first, paired with <see cref="ImageConfig.DiffIds"/>.</summary>
    public ImmutableArray<Descriptor> Layers { get; private init; }

    /// <summary>The manifest media type: <see cref="MediaTypes.OciManifest"/> or <see cref="MediaTypes.DockerManifest"/>.</summary>
    public string ManifestMediaType { get; private init; }

    /// <summary>The configuration media type that goes with <see cref="ManifestMediaType"/>.</summary>
    public string ConfigMediaType => ManifestMediaType == MediaTypes.DockerManifest ? MediaTypes.DockerConfig : MediaTypes.OciConfig;

    /// <summary>The manifest's annotations.</summary>
    public ImmutableSortedDictionary<string, string>? Annotations { get; private init; }

    /// <summary>An image with no layers and an empty configuration (<c>FROM scratch</c>).</summary>
    /// <param name="platform">The platform.</param>
    /// <param name="manifestMediaType">The manifest media type.</param>
    /// <returns>The image.</returns>
    public static Image Scratch(Platform platform, string manifestMediaType = MediaTypes.OciManifest) =>
        new(ImageConfig.Empty(platform), [], manifestMediaType);

    /// <summary>An image from a parsed manifest and its configuration (for example one read from a layout or a registry).</summary>
    /// <param name="manifest">The manifest.</param>
    /// <param name="config">The configuration the manifest references.</param>
    /// <returns>The image.</returns>
    /// <exception cref="ArgumentException">The layers and DiffIDs do not pair up.</exception>
    public static Image FromManifest(ImageManifest manifest, ImageConfig config)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return new Image(config, manifest.Layers, manifest.MediaType ?? MediaTypes.OciManifest) { Annotations = manifest.Annotations };
    }

    /// <summary>
    /// An image from a stored or received manifest document and the exact bytes of its configuration. Until the image
    /// is changed, <see cref="Build"/> returns those very bytes and that very manifest, so its digests stay the same.
    /// </summary>
    /// <param name="manifest">The manifest document (it must hold an image manifest).</param>
    /// <param name="configBytes">The exact configuration bytes the manifest references.</param>
    /// <returns>The image.</returns>
    /// <exception cref="ArgumentException">The document is not an image manifest, or the layers and DiffIDs do not pair up.</exception>
    /// <exception cref="DigestMismatchException">The configuration bytes are not the ones the manifest references.</exception>
    /// <exception cref="OciFormatException">The configuration is malformed.</exception>
    public static Image FromManifest(ManifestDocument manifest, ReadOnlyMemory<byte> configBytes)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var parsed = manifest.Manifest ?? throw new ArgumentException($"The document is a {manifest.MediaType}, not an image manifest.", nameof(manifest));
        parsed.Config.Digest.Verify(configBytes.Span, $"configuration {parsed.Config.Digest}");
        var image = FromManifest(parsed, ImageConfig.Parse(configBytes));
        return image with { _original = new Original(manifest, configBytes, image.Config, image.Layers, image.Annotations, image.ManifestMediaType) };
    }

    /// <summary>A copy with one more layer on top.</summary>
    /// <param name="layer">The layer's descriptor (digest and size of the compressed blob); the blob itself is not read.</param>
    /// <param name="diffId">The digest of the uncompressed layer tar.</param>
    /// <param name="history">Its history entry; when <see langword="null"/>, an entry is added only if the history pairs with the layers.</param>
    /// <returns>The new image.</returns>
    public Image AppendLayer(Descriptor layer, Digest diffId, HistoryEntry? history = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(diffId);
        var historyLayers = Config.History.Count(static h => !h.EmptyLayer);
        var entries = history is not null ? Config.History.Add(history with { EmptyLayer = false })
            : historyLayers == Layers.Length ? Config.History.Add(new HistoryEntry { Created = Config.Created })
            : Config.History;
        return this with
        {
            Layers = Layers.Add(layer with { MediaType = LayerMediaTypeFor(ManifestMediaType, layer.MediaType) }),
            Config = Config with { DiffIds = Config.DiffIds.Add(diffId), History = entries },
        };
    }

    /// <summary>A copy with a history entry that adds no layer (for a metadata step such as <c>ENV</c>).</summary>
    /// <param name="entry">The entry; it is recorded with <see cref="HistoryEntry.EmptyLayer"/> set.</param>
    /// <returns>The new image.</returns>
    public Image AddHistory(HistoryEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return this with { Config = Config with { History = Config.History.Add(entry with { EmptyLayer = true }) } };
    }

    /// <summary>A copy with the configuration replaced.</summary>
    /// <param name="change">Computes the new configuration; its DiffIDs must still pair with the layers.</param>
    /// <returns>The new image.</returns>
    public Image WithConfig(Func<ImageConfig, ImageConfig> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return new Image(change(Config), Layers, ManifestMediaType) { Annotations = Annotations };
    }

    /// <summary>A copy with the container configuration (the <c>config</c> section) changed.</summary>
    /// <param name="change">Computes the new section from the current one (an empty one when absent).</param>
    /// <returns>The new image.</returns>
    public Image WithContainerConfig(Func<ContainerConfig, ContainerConfig> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return this with { Config = Config with { Config = change(Config.Config ?? new ContainerConfig()) } };
    }

    /// <summary>A copy with an environment variable set.</summary>
    /// <param name="name">The name.</param>
    /// <param name="value">The value.</param>
    /// <returns>The new image.</returns>
    public Image WithEnv(string name, string value) => WithContainerConfig(c => c.WithEnv(name, value));

    /// <summary>A copy with the entrypoint set (<see langword="null"/> or empty clears it).</summary>
    /// <param name="entrypoint">The arguments.</param>
    /// <returns>The new image.</returns>
    public Image WithEntrypoint(IEnumerable<string>? entrypoint) =>
        WithContainerConfig(c => c with { Entrypoint = entrypoint is null ? null : [.. entrypoint] });

    /// <summary>A copy with the command set (<see langword="null"/> or empty clears it).</summary>
    /// <param name="cmd">The arguments.</param>
    /// <returns>The new image.</returns>
    public Image WithCmd(IEnumerable<string>? cmd) => WithContainerConfig(c => c with { Cmd = cmd is null ? null : [.. cmd] });

    /// <summary>A copy with the user set.</summary>
    /// <param name="user">The user, or <see langword="null"/> for the default (root).</param>
    /// <returns>The new image.</returns>
    public Image WithUser(string? user) => WithContainerConfig(c => c with { User = user });

    /// <summary>A copy with the working directory set.</summary>
    /// <param name="workingDir">The directory, or <see langword="null"/> for the default (<c>/</c>).</param>
    /// <returns>The new image.</returns>
    public Image WithWorkingDir(string? workingDir) => WithContainerConfig(c => c with { WorkingDir = workingDir });

    /// <summary>A copy with a label set.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <returns>The new image.</returns>
    public Image WithLabel(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        return WithContainerConfig(c => c with { Labels = (c.Labels ?? ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal)).SetItem(key, value) });
    }

    /// <summary>A copy with a port exposed.</summary>
    /// <param name="port">The port, as <c>80</c>, <c>80/tcp</c> or <c>53/udp</c>; a bare number means TCP.</param>
    /// <returns>The new image.</returns>
    public Image WithExposedPort(string port)
    {
        ArgumentException.ThrowIfNullOrEmpty(port);
        var normalized = port.Contains('/', StringComparison.Ordinal) ? port.ToLowerInvariant() : port + "/tcp";
        return WithContainerConfig(c => c with { ExposedPorts = (c.ExposedPorts ?? ImmutableSortedSet.Create<string>(StringComparer.Ordinal)).Add(normalized) });
    }

    /// <summary>A copy with a volume declared.</summary>
    /// <param name="path">The directory.</param>
    /// <returns>The new image.</returns>
    public Image WithVolume(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return WithContainerConfig(c => c with { Volumes = (c.Volumes ?? ImmutableSortedSet.Create<string>(StringComparer.Ordinal)).Add(path) });
    }

    /// <summary>A copy with a manifest annotation set.</summary>
    /// <param name="key">The key, for example one of <see cref="AnnotationKeys"/>.</param>
    /// <param name="value">The value.</param>
    /// <returns>The new image.</returns>
    public Image WithAnnotation(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        return this with { Annotations = (Annotations ?? ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal)).SetItem(key, value) };
    }

    /// <summary>A copy with the creation time set (<see langword="null"/> leaves it out, for reproducible images).</summary>
    /// <param name="created">The time.</param>
    /// <returns>The new image.</returns>
    public Image WithCreated(DateTimeOffset? created) => this with { Config = Config with { Created = created } };

    /// <summary>
    /// A copy with another manifest media type; layer media types follow (<c>…oci…tar+gzip</c> ⇄ <c>…docker…tar.gzip</c>),
    /// the bytes stay the same.
    /// </summary>
    /// <param name="manifestMediaType"><see cref="MediaTypes.OciManifest"/> or <see cref="MediaTypes.DockerManifest"/>.</param>
    /// <returns>The new image.</returns>
    public Image WithManifestMediaType(string manifestMediaType) =>
        new Image(Config, Layers, manifestMediaType) { Annotations = Annotations };

    /// <summary>
    /// A copy whose base layers are swapped: the layers (and history) of <paramref name="oldBase"/> at the bottom of
    /// this image are replaced by those of <paramref name="newBase"/>; the layers on top are reused as they are.
    /// </summary>
    /// <param name="oldBase">The base this image was built on.</param>
    /// <param name="newBase">The base to put under it instead.</param>
    /// <returns>The new image.</returns>
    /// <exception cref="ArgumentException">This image does not start with the old base's layers, or the platforms differ.</exception>
    public Image Rebase(Image oldBase, Image newBase)
    {
        ArgumentNullException.ThrowIfNull(oldBase);
        ArgumentNullException.ThrowIfNull(newBase);
        var count = oldBase.Layers.Length;
        if (count > Layers.Length)
        {
            throw new ArgumentException("The old base has more layers than the image.", nameof(oldBase));
        }

        for (var i = 0; i < count; i++)
        {
            if (!Layers[i].Digest.Equals(oldBase.Layers[i].Digest) || !Config.DiffIds[i].Equals(oldBase.Config.DiffIds[i]))
            {
                throw new ArgumentException($"Layer {i} of the image ({Layers[i].Digest}) is not layer {i} of the old base ({oldBase.Layers[i].Digest}).", nameof(oldBase));
            }
        }

        if (newBase.Config.Os != Config.Os || newBase.Config.Architecture != Config.Architecture)
        {
            throw new ArgumentException($"The new base is {newBase.Config.Platform}, the image is {Config.Platform}.", nameof(newBase));
        }

        var oldHistory = oldBase.Config.History;
        var history = Config.History.Length >= oldHistory.Length && Config.History.Take(oldHistory.Length).SequenceEqual(oldHistory)
            ? newBase.Config.History.AddRange(Config.History.Skip(oldHistory.Length))
            : Config.History;
        return this with
        {
            Layers = [.. newBase.Layers.Select(l => l with { MediaType = LayerMediaTypeFor(ManifestMediaType, l.MediaType) }), .. Layers.Skip(count)],
            Config = Config with
            {
                Variant = newBase.Config.Variant,
                DiffIds = [.. newBase.Config.DiffIds, .. Config.DiffIds.Skip(count)],
                History = history,
            },
        };
    }

    /// <summary>Serializes the configuration and the manifest.</summary>
    /// <returns>The bytes and descriptors to store or push (the layers are the caller's to store or push).</returns>
    public BuiltImage Build()
    {
        if (_original is { } o && ReferenceEquals(Config, o.Config))
        {
            // Unchanged since it was read: the exact bytes it came with, never a re-serialization.
            var same = o.Layers == Layers && ReferenceEquals(o.Annotations, Annotations) && o.MediaType == ManifestMediaType;
            var originalConfig = o.Document.Manifest!.Config;
            var document = same ? o.Document
                : ManifestDocument.FromManifest(new ImageManifest(originalConfig, Layers) { MediaType = ManifestMediaType, Annotations = Annotations });
            return new BuiltImage(document, o.ConfigBytes, originalConfig, Layers) { Platform = Config.Platform };
        }

        var configBytes = Config.ToJson();
        var config = new Descriptor(ConfigMediaType, Digest.ComputeSha256(configBytes), configBytes.Length);
        var manifest = new ImageManifest(config, Layers) { MediaType = ManifestMediaType, Annotations = Annotations };
        return new BuiltImage(ManifestDocument.FromManifest(manifest), configBytes, config, Layers) { Platform = Config.Platform };
    }

    // What FromManifest(ManifestDocument, …) read; compared by reference to know whether anything changed since.
    private Original? _original;

    private sealed record Original(
        ManifestDocument Document, ReadOnlyMemory<byte> ConfigBytes, ImageConfig Config, ImmutableArray<Descriptor> Layers,
        ImmutableSortedDictionary<string, string>? Annotations, string MediaType);

    private static string LayerMediaTypeFor(string manifestMediaType, string layerMediaType)
    {
        var docker = manifestMediaType == MediaTypes.DockerManifest;
        return layerMediaType switch
        {
            MediaTypes.OciLayerGzip or MediaTypes.DockerLayerGzip => docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip,
            MediaTypes.OciLayer or MediaTypes.DockerLayer => docker ? MediaTypes.DockerLayer : MediaTypes.OciLayer,
            MediaTypes.OciLayerZstd or MediaTypes.DockerLayerZstd => docker ? MediaTypes.DockerLayerZstd : MediaTypes.OciLayerZstd,
            MediaTypes.OciLayerNonDistributableGzip or MediaTypes.DockerForeignLayerGzip => docker ? MediaTypes.DockerForeignLayerGzip : MediaTypes.OciLayerNonDistributableGzip,
            _ => layerMediaType,
        };
    }
}

/// <summary>The serialized form of an <see cref="Image"/>.</summary>
/// <param name="Manifest">The manifest document (exact bytes, digest, media type).</param>
/// <param name="ConfigBytes">The exact configuration bytes.</param>
/// <param name="Config">The configuration's descriptor.</param>
/// <param name="Layers">The layer descriptors the manifest references.</param>
public sealed record BuiltImage(ManifestDocument Manifest, ReadOnlyMemory<byte> ConfigBytes, Descriptor Config, ImmutableArray<Descriptor> Layers)
{
    /// <summary>The platform the configuration declares.</summary>
    public Platform? Platform { get; init; }

    /// <summary>The manifest's descriptor with its platform, as an entry of a multi-platform <see cref="ImageIndex"/>.</summary>
    public Descriptor IndexEntry => Manifest.Descriptor with { Platform = Platform };

    /// <summary>
    /// The index of several built images (one per platform): a Docker manifest list when every image has a Docker
    /// manifest (as <c>docker buildx</c> and the SDK make it), else an OCI image index (also for a mix, which only an OCI
    /// index may hold).
    /// </summary>
    /// <param name="images">The images; each entry carries its image's platform.</param>
    /// <param name="annotations">Annotations of the index, if any.</param>
    /// <returns>The index document.</returns>
    /// <exception cref="ArgumentException">Annotations for a Docker manifest list, which has none.</exception>
    public static ManifestDocument IndexOf(IReadOnlyList<BuiltImage> images, IReadOnlyDictionary<string, string>? annotations = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        var docker = images.Count > 0 && images.All(i => i.Manifest.MediaType == MediaTypes.DockerManifest);
        if (docker && annotations is { Count: > 0 })
        {
            throw new ArgumentException("A Docker manifest list has no annotations; write OCI manifests to annotate their index.", nameof(annotations));
        }

        return ManifestDocument.FromIndex(new ImageIndex([.. images.Select(i => i.IndexEntry)])
        {
            MediaType = docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex,
            Annotations = annotations?.ToImmutableSortedDictionary(StringComparer.Ordinal),
        });
    }
}
