using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <content>Whole images: storing built images and indexes, reading images by name or descriptor, verifying them.</content>
public sealed partial class OciLayout
{
    /// <summary>
    /// Stores a built image: its configuration and manifest blobs (the layer blobs must already be stored), then
    /// records it under a name when one is given.
    /// </summary>
    /// <param name="image">The built image.</param>
    /// <param name="name">The name to tag it with, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The manifest's descriptor.</returns>
    /// <exception cref="BlobNotFoundException">A layer blob is not in the layout.</exception>
    public async Task<Descriptor> WriteImageAsync(BuiltImage image, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        foreach (var layer in image.Layers)
        {
            if (!ContainsBlob(layer.Digest))
            {
                throw new BlobNotFoundException(layer.Digest, Root);
            }
        }

        await WriteBlobAsync(image.ConfigBytes, image.Config.MediaType, cancellationToken).ConfigureAwait(false);
        var descriptor = await WriteManifestAsync(image.Manifest, cancellationToken).ConfigureAwait(false);
        if (name is not null)
        {
            await TagAsync(name, descriptor, cancellationToken).ConfigureAwait(false);
        }

        return descriptor;
    }

    /// <summary>
    /// Checks an image completely: its config and every layer are present and have their digests, and every layer
    /// decompresses (gzip, zstd or plain tar) to the DiffID its configuration records.
    /// </summary>
    /// <param name="image">The image, for example from <see cref="ReadImageAsync(string, Platform?, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when every layer has been checked.</returns>
    /// <exception cref="BlobNotFoundException">A blob is missing.</exception>
    /// <exception cref="DigestMismatchException">A blob or an uncompressed layer has another digest.</exception>
    /// <exception cref="NotSupportedException">A layer's media type is not a tar layer OciKit can decompress.</exception>
    public async Task VerifyImageAsync(Image image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        for (var i = 0; i < image.Layers.Length; i++)
        {
            var layer = image.Layers[i];
            var stream = OpenBlob(layer.Digest);
            await using (stream.ConfigureAwait(false))
            {
                var actual = await Digest.ComputeSha256Async(stream, cancellationToken).ConfigureAwait(false);
                if (!actual.Equals(layer.Digest))
                {
                    throw new DigestMismatchException($"layer {i} in {Root}", layer.Digest, actual);
                }

                stream.Position = 0;
                Stream uncompressed;
                try
                {
                    uncompressed = LayerReader.OpenDecompressed(stream, layer.MediaType, leaveOpen: true);
                }
                catch (NotSupportedException e)
                {
                    throw new NotSupportedException($"Layer {i} has media type '{layer.MediaType}', which is not a tar layer.", e);
                }

                await using (uncompressed.ConfigureAwait(false))
                {
                    var diffId = await Digest.ComputeSha256Async(uncompressed, cancellationToken).ConfigureAwait(false);
                    if (!diffId.Equals(image.Config.DiffIds[i]))
                    {
                        throw new DigestMismatchException($"uncompressed layer {i} ({layer.Digest}) in {Root}", image.Config.DiffIds[i], diffId);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Stores several built images (one per platform) and an index of them, then records the index under a name
    /// when one is given. The index is a Docker manifest list when every image has a Docker manifest, else an OCI
    /// image index.
    /// </summary>
    /// <param name="images">The images; each index entry carries its image's platform.</param>
    /// <param name="name">The name to tag the index with, or <see langword="null"/>.</param>
    /// <param name="annotations">Annotations of the index, if any.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The index's descriptor.</returns>
    /// <exception cref="BlobNotFoundException">A layer blob is not in the layout.</exception>
    /// <exception cref="ArgumentException">Annotations for a Docker manifest list, which has none.</exception>
    public async Task<Descriptor> WriteIndexAsync(
        IEnumerable<BuiltImage> images, string? name = null, IReadOnlyDictionary<string, string>? annotations = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var list = images.ToList();
        var index = BuiltImage.IndexOf(list, annotations);
        foreach (var image in list)
        {
            await WriteImageAsync(image, null, cancellationToken).ConfigureAwait(false);
        }

        var descriptor = await WriteManifestAsync(index, cancellationToken).ConfigureAwait(false);
        if (name is not null)
        {
            await TagAsync(name, descriptor, cancellationToken).ConfigureAwait(false);
        }

        return descriptor;
    }

    /// <summary>
    /// Reads the image recorded under a name; when the name refers to an index, the manifest for
    /// <paramref name="platform"/> (default <see cref="Platform.Current"/>) is chosen.
    /// </summary>
    /// <param name="name">The name.</param>
    /// <param name="platform">The platform to pick from an index.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The image and its manifest document.</returns>
    /// <exception cref="ImageNotFoundException">No entry has the name, or the index has no manifest for the platform.</exception>
    public async Task<StoredImage> ReadImageAsync(string name, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var descriptor = await ResolveAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new ImageNotFoundException(name, $"the layout at {Root}");
        return await ReadImageAsync(descriptor, platform, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the image a manifest (or index) descriptor refers to; from an index, the manifest for
    /// <paramref name="platform"/> (default <see cref="Platform.Current"/>) is chosen.
    /// </summary>
    /// <param name="descriptor">The manifest's or index's descriptor.</param>
    /// <param name="platform">The platform to pick from an index.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The image and its manifest document.</returns>
    /// <exception cref="ImageNotFoundException">The index has no manifest for the platform.</exception>
    /// <exception cref="BlobNotFoundException">A manifest or the configuration is not in the layout.</exception>
    /// <exception cref="OciFormatException">A manifest or the configuration is corrupt or invalid (for example not JSON); the subject names the image.</exception>
    /// <exception cref="NotSupportedException">The descriptor names an artifact (a manifest with an <c>artifactType</c> and no image configuration) or something else that is not an image.</exception>
    public async Task<StoredImage> ReadImageAsync(Descriptor descriptor, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var name = OciLayout.NameOf(descriptor) ?? descriptor.Digest.ToString();
        platform ??= Platform.Current;
        for (var depth = 0; depth <= ImageIndex.MaxDepth; depth++)
        {
            var document = await ReadManifestAsync(descriptor, cancellationToken).ConfigureAwait(false);
            if (document.Manifest is { } manifest)
            {
                if (manifest.Config.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig) && manifest.ArtifactType is not null)
                {
                    // An OCI 1.1 artifact (an SBOM, a signature kept beside an image): not an image, and not a broken one.
                    throw new NotSupportedException($"'{name}' refers to an artifact of type {manifest.ArtifactType}, not an image.");
                }

                var configBytes = await ReadBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false);
                try
                {
                    return new StoredImage(Image.FromManifest(document, configBytes), document);
                }
                catch (Exception e) when (e is OciFormatException or ArgumentException)
                {
                    throw new OciFormatException($"image {name}", $"its configuration {manifest.Config.Digest} cannot be used: {e.Message}", e);
                }
            }

            if (document.Index is not { } index)
            {
                throw new NotSupportedException($"'{name}' refers to a {document.MediaType}, not an image.");
            }

            descriptor = index.FindPlatform(platform)
                ?? throw new ImageNotFoundException(name, $"the layout at {Root}", $"its index has no manifest for {platform}");
        }

        throw new OciFormatException($"image '{name}'", "indexes are nested too deeply.");
    }

    /// <summary>
    /// Checks that a manifest or index can be read back as an image: of a known media type, and, for an image
    /// manifest whose configuration (of the OCI or Docker configuration type) is stored, with a configuration that
    /// parses and whose DiffIDs pair with the layers. A configuration not stored yet is checked when it is written.
    /// </summary>
    /// <param name="image">The image's name or digest, for the error.</param>
    /// <param name="document">The manifest or index.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <exception cref="OciFormatException">It cannot be read back; the subject names the image.</exception>
    private async Task CheckImageAsync(string image, ManifestDocument document, CancellationToken cancellationToken)
    {
        if (document.Manifest is null && document.Index is null)
        {
            throw new OciFormatException(
                $"image {image}", $"its manifest {document.Digest} has media type '{document.MediaType}', which is neither an image manifest nor an image index.");
        }

        if (document.Manifest is not { Config: { MediaType: MediaTypes.OciConfig or MediaTypes.DockerConfig } config } || !ContainsBlob(config.Digest))
        {
            return;
        }

        try
        {
            var configBytes = await ReadBlobAsync(config, cancellationToken).ConfigureAwait(false);
            _ = Image.FromManifest(document, configBytes);
        }
        catch (Exception e) when (e is OciFormatException or DigestMismatchException or ArgumentException)
        {
            throw new OciFormatException($"image {image}", $"its configuration {config.Digest} cannot be used: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks a blob about to become visible whose media type says it is a manifest, an index or an image
    /// configuration: it must parse as one (a manifest or index also as <see cref="CheckImageAsync"/> checks it).
    /// </summary>
    /// <param name="path">The verified temporary file.</param>
    /// <param name="blob">Its descriptor (media type, digest and size).</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    private async Task CheckDocumentAsync(string path, Descriptor blob, CancellationToken cancellationToken)
    {
        var isConfig = blob.MediaType is MediaTypes.OciConfig or MediaTypes.DockerConfig;
        var isManifest = MediaTypes.IsManifest(blob.MediaType) || MediaTypes.IsIndex(blob.MediaType);
        if (!isConfig && !isManifest)
        {
            return;
        }

        var limit = isManifest ? MaxManifestSize : MaxConfigSize;
        if (blob.Size > limit)
        {
            throw new OciFormatException($"{(isManifest ? "manifest" : "image configuration")} {blob.Digest}", $"is {blob.Size} bytes, more than the {limit} bytes the store reads into memory.");
        }

        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        if (isManifest)
        {
            await CheckImageAsync(blob.Digest.ToString(), ManifestDocument.Parse(bytes, blob.MediaType), cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            _ = ImageConfig.Parse(bytes);
        }
        catch (OciFormatException e)
        {
            // The parser's message without its own "Invalid image configuration: " prefix.
            var prefix = $"Invalid {e.Subject}: ";
            var detail = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
            throw new OciFormatException($"image configuration {blob.Digest}", detail, e);
        }
    }
}
