using System.Text.Encodings.Web;
using System.Text.Json;
using OciKit.Images;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// An image looked at closely: its top-level manifest or index, the manifest chosen for a platform, and its
/// configuration, each as the exact bytes stored.
/// </summary>
/// <param name="Name">The name it was found under (the store's name, or the canonical reference).</param>
/// <param name="Top">The top-level manifest or index; its digest is the image's digest.</param>
/// <param name="Manifest">The image manifest (the same as <paramref name="Top"/> unless that is an index).</param>
/// <param name="ConfigBytes">The configuration's exact bytes.</param>
/// <param name="Config">The parsed configuration.</param>
/// <param name="IsLocal">Whether it was read from the local store rather than a registry.</param>
public sealed record ImageInspection(string Name, ManifestDocument Top, ManifestDocument Manifest, ReadOnlyMemory<byte> ConfigBytes, ImageConfig Config, bool IsLocal)
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The image as <c>docker image inspect</c> describes it: <c>Id</c> (configuration digest), <c>RepoTags</c>,
    /// <c>RepoDigests</c>, <c>Digest</c>, <c>Created</c>, <c>Author</c>, <c>Architecture</c>, <c>Variant</c>, <c>Os</c>,
    /// <c>Config</c> (the container configuration: <c>Env</c>, <c>Cmd</c>, ...), <c>RootFS</c>, <c>Size</c>, plus a
    /// <c>Manifest</c> summary and the <c>History</c>.
    /// </summary>
    /// <returns>Indented UTF-8 JSON of one object.</returns>
    public byte[] ToJson()
    {
        using var config = JsonDocument.Parse(ConfigBytes);
        var manifest = Manifest.Manifest!;
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Indented))
        {
            w.WriteStartObject();
            w.WriteString("Id", manifest.Config.Digest.ToString());
            w.WriteStartArray("RepoTags");
            if (ImageReference.TryParse(Name, out var reference) && reference.Tag is not null)
            {
                w.WriteStringValue(reference.FamiliarString);
            }

            w.WriteEndArray();
            w.WriteStartArray("RepoDigests");
            if (reference is not null)
            {
                w.WriteStringValue(reference.FamiliarName + "@" + Top.Digest);
            }

            w.WriteEndArray();
            w.WriteString("Digest", Top.Digest.ToString());
            w.WriteString("MediaType", Top.MediaType);
            WriteOptional(w, "Created", config.RootElement, "created");
            WriteOptional(w, "Author", config.RootElement, "author");
            w.WriteString("Architecture", Config.Architecture);
            if (Config.Variant is { } variant)
            {
                w.WriteString("Variant", variant);
            }

            w.WriteString("Os", Config.Os);
            WriteOptional(w, "Config", config.RootElement, "config");
            w.WriteStartObject("RootFS");
            w.WriteString("Type", Config.RootFsType);
            w.WriteStartArray("Layers");
            foreach (var diffId in Config.DiffIds)
            {
                w.WriteStringValue(diffId.ToString());
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNumber("Size", manifest.Config.Size + manifest.Layers.Sum(static l => l.Size));
            w.WriteStartObject("Manifest");
            w.WriteString("MediaType", Manifest.MediaType);
            w.WriteString("Digest", Manifest.Digest.ToString());
            w.WriteStartArray("Layers");
            foreach (var layer in manifest.Layers)
            {
                w.WriteStartObject();
                w.WriteString("MediaType", layer.MediaType);
                w.WriteString("Digest", layer.Digest.ToString());
                w.WriteNumber("Size", layer.Size);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            WriteOptional(w, "History", config.RootElement, "history");
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, JsonElement root, string property)
    {
        if (root.TryGetProperty(property, out var value) && value.ValueKind != JsonValueKind.Null)
        {
            w.WritePropertyName(name);
            value.WriteTo(w);
        }
    }
}

/// <summary>
/// Reads an image for <c>inspect</c>, <c>manifest</c>, <c>config</c> and <c>digest</c>: from the local store when it
/// holds the name (as <c>docker image inspect</c> does), else from the registry the reference names.
/// </summary>
/// <param name="client">The registry client.</param>
/// <param name="local">The local store, or <see langword="null"/> to always ask the registry.</param>
public sealed class ImageInspector(RegistryClient client, LocalImages? local = null)
{
    /// <summary>
    /// Reads only an image's top-level manifest or index (for <c>digest</c> and <c>manifest</c>), which needs no
    /// platform: an index is returned as it is, even when it has no image for this machine.
    /// </summary>
    /// <param name="name">A name in the local store or an image reference.</param>
    /// <param name="remote">Ask the registry even when the local store holds the name.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document, its exact bytes.</returns>
    /// <exception cref="InvalidReferenceException">The name is not in the store and not a valid reference.</exception>
    /// <exception cref="RegistryException">The registry failed (for example <c>MANIFEST_UNKNOWN</c>).</exception>
    public async Task<ManifestDocument> ReadTopAsync(string name, bool remote = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!remote && local is not null && await local.FindAsync(name, cancellationToken).ConfigureAwait(false) is { } found)
        {
            return await local.Store.ReadManifestAsync(found.Descriptor with { Annotations = null }, cancellationToken).ConfigureAwait(false);
        }

        var content = await client.GetManifestAsync(ImageReference.Parse(name), cancellationToken).ConfigureAwait(false);
        return ManifestDocument.Parse(content.Bytes, content.MediaType);
    }

    /// <summary>Reads an image.</summary>
    /// <param name="name">A name in the local store or an image reference.</param>
    /// <param name="platform">The platform to pick from an index; default <see cref="Platform.Current"/>.</param>
    /// <param name="remote">Ask the registry even when the local store holds the name.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The image.</returns>
    /// <exception cref="InvalidReferenceException">The name is not in the store and not a valid reference.</exception>
    /// <exception cref="ImageNotFoundException">An index has no image for the platform.</exception>
    /// <exception cref="RegistryException">The registry failed (for example <c>MANIFEST_UNKNOWN</c>).</exception>
    /// <exception cref="RegistryDigestMismatchException">The registry served a configuration that is not the one the manifest names.</exception>
    public async Task<ImageInspection> InspectAsync(string name, Platform? platform = null, bool remote = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        platform ??= Platform.Current;
        if (!remote && local is not null && await local.FindAsync(name, cancellationToken).ConfigureAwait(false) is { } found)
        {
            var store = local.Store;
            var top = await store.ReadManifestAsync(found.Descriptor with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            var (_, manifest) = await store.ReadImageAsync(found.Descriptor with { Annotations = null }, platform, cancellationToken).ConfigureAwait(false);
            var bytes = await store.ReadBlobAsync(manifest.Manifest!.Config, cancellationToken).ConfigureAwait(false);
            return new ImageInspection(found.Name, top, manifest, bytes, ImageConfig.Parse(bytes), IsLocal: true);
        }

        var reference = ImageReference.Parse(name);
        var topDocument = await ReadTopAsync(reference.ToString(), remote: true, cancellationToken).ConfigureAwait(false);
        var document = await ImageSelection.PickPlatformAsync(new RegistryImageSource(client, reference), topDocument, platform, cancellationToken).ConfigureAwait(false);

        if (document.Manifest is not { } imageManifest)
        {
            throw new NotSupportedException($"'{reference}' is a {document.MediaType}, not an image.");
        }

        // Downloaded through the verifying path: the config shown is the one the manifest names, or an error.
        var buffer = new MemoryStream();
        await client.DownloadBlobAsync(reference, imageManifest.Config, buffer, cancellationToken: cancellationToken).ConfigureAwait(false);
        var configBytes = buffer.ToArray();
        return new ImageInspection(reference.ToString(), topDocument, document, configBytes, ImageConfig.Parse(configBytes), IsLocal: false);
    }
}
