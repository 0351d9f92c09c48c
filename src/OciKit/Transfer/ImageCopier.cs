using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>Options of <see cref="ImageCopier.CopyAsync(ImageLocation, ImageLocation, CopyOptions?, IProgress{TransferProgress}?, CancellationToken)"/>.</summary>
public sealed record CopyOptions
{
    /// <summary>
    /// Copy only this platform's image out of an index. When <see langword="null"/> (the default), an index is copied
    /// whole, every platform, so its digest is kept; a docker-archive destination, which holds single images, then
    /// gets <see cref="Platform.Current"/>'s image.
    /// </summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// Also copy the image's attachments (<see cref="ImageAttachments"/>): the cosign signature manifest
    /// (<c>sha256-&lt;hex&gt;.sig</c>) and the OCI 1.1 referrers (SBOMs, attestations) of every copied manifest digest,
    /// so signatures verify and attached SBOMs are found at the destination. Registry to registry only.
    /// </summary>
    public bool Attachments { get; init; }
}

/// <summary>What a copy did.</summary>
/// <param name="Descriptor">The copied top-level manifest or index; its digest is the image's digest at the destination.</param>
/// <param name="Destination">Where it was copied.</param>
public sealed record CopyResult(Descriptor Descriptor, ImageLocation Destination)
{
    /// <summary>The attachments copied with <see cref="CopyOptions.Attachments"/> (empty without it).</summary>
    public IReadOnlyList<CopiedAttachment> Attachments { get; init; } = [];
}

/// <summary>
/// Copies an image between any two <see cref="ImageLocation"/>s (registry, OCI layout, oci-archive, docker-archive),
/// preserving the manifest's exact bytes and so its digest, with one algorithm over an <see cref="IImageSource"/> and an
/// <see cref="IImageSink"/>: children of an index before the index, a manifest's blobs (several at once, those the
/// destination has skipped) before the manifest, the top manifest last under the destination's name. Archives are
/// written to a temporary file and renamed into place, so an interrupted copy leaves no half-written archive.
/// </summary>
/// <param name="client">The registry client used for registry locations; its <see cref="RegistryClientOptions.MaxConcurrentTransfers"/> bounds how many blobs move at once.</param>
public sealed class ImageCopier(RegistryClient client)
{
    private const string UnnamedArchiveImage = "ocikit-copy";

    /// <summary>Copies an image.</summary>
    /// <param name="source">The image to copy.</param>
    /// <param name="destination">Where to copy it.</param>
    /// <param name="options">Platform choice, optional.</param>
    /// <param name="progress">Per-blob progress of registry transfers, optional.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    /// <returns>What was copied.</returns>
    /// <exception cref="ImageNotFoundException">The source has no such image, or an archive or layout holds several and none was named.</exception>
    /// <exception cref="FileNotFoundException">A source archive does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">A source layout does not exist.</exception>
    /// <exception cref="RegistryException">A registry failed.</exception>
    public async Task<CopyResult> CopyAsync(ImageLocation source, ImageLocation destination, CopyOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        options ??= new CopyOptions();
        var fromRegistry = source.Transport == ImageTransport.Registry;
        var toRegistry = destination.Transport == ImageTransport.Registry;
        if (options.Attachments && !(fromRegistry && toRegistry))
        {
            throw new ArgumentException($"Attachments are copied between registries only; {(fromRegistry ? destination : source)} is not one.", nameof(options));
        }

        // Registry transfers report progress once: the upload's when the destination is a registry, else the download's.
        var from = await OpenSourceAsync(source, toRegistry ? null : progress, cancellationToken).ConfigureAwait(false);
        await using (from.ConfigureAwait(false))
        {
            var platform = options.Platform ?? (destination.Transport == ImageTransport.DockerArchive ? Platform.Current : null);
            // As a pull does, a manifest or configuration the store refuses is reported as the image's.
            var wrapAs = fromRegistry && !(toRegistry && options.Platform is null) ? source.Reference!.ToString() : null;
            var result = await CopyAsync(from, () => OpenSinkAsync(source, destination, from, options, fromRegistry ? progress : null, toRegistry ? progress : null, cancellationToken), platform, wrapAs, cancellationToken).ConfigureAwait(false);
            if (!options.Attachments)
            {
                return new CopyResult(result.Descriptor, destination);
            }

            // The attachments of the copied digest, and of each manifest of a copied index (cosign signs either).
            List<Digest> subjects = [result.Descriptor.Digest];
            if (MediaTypes.IsIndex(result.Descriptor.MediaType)
                && (await from.ReadManifestAsync(result.Descriptor, cancellationToken).ConfigureAwait(false)).Index is { } index)
            {
                subjects.AddRange(index.Manifests.Select(m => m.Digest));
            }

            var attachments = await new ImageAttachments(client).CopyAsync(source.Reference!, destination.Reference!, subjects, cancellationToken).ConfigureAwait(false);
            return new CopyResult(result.Descriptor, destination) { Attachments = attachments };
        }
    }

    /// <summary>
    /// Copies the image a source names to a sink: resolves it, picks one platform's image out of an index when asked,
    /// copies every blob and manifest it reaches (children of an index first, a manifest's blobs in parallel up to
    /// <see cref="RegistryClientOptions.MaxConcurrentTransfers"/>, blobs the sink has skipped, each manifest after its
    /// blobs), puts the top under the sink's name last, and completes the sink. An index's children a layout or archive
    /// source does not hold (platforms never fetched) are left out; anything else missing fails the copy.
    /// </summary>
    /// <param name="source">Where to read the image.</param>
    /// <param name="sink">Where to write it; not disposed.</param>
    /// <param name="platform">Copy only this platform's image out of an index; <see langword="null"/> copies an index whole.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    /// <returns>The top manifest copied, and what happened to the blobs.</returns>
    /// <exception cref="ImageNotFoundException">An index has no image for the platform.</exception>
    /// <exception cref="BlobNotFoundException">A blob the image needs is missing from the source.</exception>
    /// <exception cref="OciFormatException">Indexes are nested more than <see cref="ImageIndex.MaxDepth"/> deep, or a document is not valid.</exception>
    public Task<PushResult> CopyAsync(IImageSource source, IImageSink sink, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sink);
        return CopyAsync(source, () => Task.FromResult(sink), platform, null, cancellationToken);
    }

    // The one copy. The sink is opened once the image (and platform) is found; when imageName is set, a manifest or
    // configuration the sink refuses (OciFormatException) is reported as that image's, as a pull always has.
    internal async Task<PushResult> CopyAsync(IImageSource source, Func<Task<IImageSink>> openSink, Platform? platform, string? imageName, CancellationToken cancellationToken)
    {
        var top = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        if (platform is not null)
        {
            top = await ImageSelection.PickPlatformAsync(source, top, platform, cancellationToken).ConfigureAwait(false);
        }

        // The sink is opened only once the image is found: a refused copy creates nothing.
        var sink = await openSink().ConfigureAwait(false);
        var counts = new Counts();
        try
        {
            await CopyTreeAsync(source, sink, top, counts, 0, isTop: true, cancellationToken).ConfigureAwait(false);
            await sink.TagAsync(top, cancellationToken).ConfigureAwait(false);
        }
        catch (OciFormatException e) when (imageName is not null && e.Subject != $"image {imageName}")
        {
            throw new OciFormatException($"image {imageName}", e.Message, e);
        }

        await sink.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return new PushResult(top.Descriptor, counts.Transferred, counts.Mounted, counts.Present);
    }

    private async Task CopyTreeAsync(IImageSource source, IImageSink sink, ManifestDocument document, Counts counts, int depth, bool isTop, CancellationToken cancellationToken)
    {
        if (depth > ImageIndex.MaxDepth)
        {
            throw new OciFormatException($"index {document.Digest}", "indexes are nested too deeply.");
        }

        if (document.Index is { } index)
        {
            foreach (var child in index.Manifests.Where(m => MediaTypes.IsManifest(m.MediaType) || MediaTypes.IsIndex(m.MediaType)))
            {
                ManifestDocument childDocument;
                try
                {
                    childDocument = await source.ReadManifestAsync(child with { Annotations = null, Platform = null }, cancellationToken).ConfigureAwait(false);
                }
                catch (BlobNotFoundException) when (sink is not RegistryImageSink)
                {
                    // A layout or archive may hold only some of an index's platforms (those that were fetched); a
                    // registry is never sent an index whose manifests it lacks.
                    continue;
                }

                await CopyTreeAsync(source, sink, childDocument, counts, depth + 1, isTop: false, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (document.Manifest is { } manifest)
        {
            await Parallel.ForEachAsync(
                new[] { manifest.Config }.Concat(manifest.Layers).DistinctBy(b => b.Digest),
                new ParallelOptions { MaxDegreeOfParallelism = client.Options.MaxConcurrentTransfers, CancellationToken = cancellationToken },
                async (blob, ct) =>
                {
                    BlobUploadOutcome outcome;
                    try
                    {
                        outcome = await sink.PutBlobAsync(blob, manifest, source, ct).ConfigureAwait(false);
                    }
                    catch (BlobNotFoundException) when (blob.Urls is { Count: > 0 })
                    {
                        // A non-distributable layer (it carries URLs) need not be in a layout or archive.
                        return;
                    }

                    switch (outcome)
                    {
                        case BlobUploadOutcome.Uploaded:
                            Interlocked.Increment(ref counts.Transferred);
                            break;
                        case BlobUploadOutcome.Mounted:
                            Interlocked.Increment(ref counts.Mounted);
                            break;
                        default:
                            Interlocked.Increment(ref counts.Present);
                            break;
                    }
                }).ConfigureAwait(false);
        }

        if (!isTop)
        {
            await sink.PutManifestAsync(document, cancellationToken).ConfigureAwait(false);
        }
    }

    internal async Task<IImageSource> OpenSourceAsync(ImageLocation source, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        switch (source.Transport)
        {
            case ImageTransport.Registry:
                return new RegistryImageSource(client, source.Reference!, progress);

            case ImageTransport.OciLayout:
                var layout = await OciLayout.OpenAsync(source.Path!, new OciLayoutOptions { CreateIfMissing = false }, cancellationToken).ConfigureAwait(false);
                var entry = ImageSelection.Select(await layout.ListImagesAsync(cancellationToken).ConfigureAwait(false), source.Tag, source.ToString(), source.Path!);
                return new OciLayoutImageSource(layout, entry, source.ToString());

            case ImageTransport.OciArchive:
                return await OciArchiveImageSource.OpenAsync(source.Path!, source.Tag, source.ToString(), cancellationToken).ConfigureAwait(false);

            default:
                return await DockerArchiveImageSource.OpenAsync(source.Path!, source.Reference, source.ToString(), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IImageSink> OpenSinkAsync(
        ImageLocation source, ImageLocation destination, IImageSource from, CopyOptions options, IProgress<TransferProgress>? layoutProgress, IProgress<TransferProgress>? registryProgress, CancellationToken cancellationToken)
    {
        switch (destination.Transport)
        {
            case ImageTransport.Registry:
                return new RegistryImageSink(client, destination.Reference!, registryProgress);

            case ImageTransport.OciLayout:
                var layout = await OciLayout.OpenAsync(destination.Path!, cancellationToken: cancellationToken).ConfigureAwait(false);
                return new OciLayoutImageSink(layout, destination.Tag ?? DefaultTag(source), layoutProgress);

            case ImageTransport.OciArchive:
                // A named layout image packed whole keeps its own name in the archive.
                var keptName = options.Platform is null && from is OciLayoutImageSource { EntryName: { } entryName } ? entryName : null;
                return new OciArchiveImageSink(destination.Path!, destination.Tag ?? keptName ?? DefaultTag(source));

            default:
                // A docker archive records a repository:tag: the destination's, else the source's own name.
                var archiveName = destination.Reference ?? (source.Transport is ImageTransport.Registry or ImageTransport.DockerArchive ? source.Reference : null);
                return new DockerArchiveImageSink(destination.Path!, archiveName?.FamiliarString ?? UnnamedArchiveImage);
        }
    }

    private static string DefaultTag(ImageLocation source) => source.Transport switch
    {
        ImageTransport.Registry or ImageTransport.DockerArchive when source.Reference?.Tag is { } tag => tag,
        ImageTransport.OciLayout or ImageTransport.OciArchive when source.Tag is { } tag => tag,
        _ => ImageReference.DefaultTag,
    };

    private sealed class Counts
    {
        public int Transferred;
        public int Mounted;
        public int Present;
    }
}
