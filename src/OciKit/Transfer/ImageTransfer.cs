using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>Options of <see cref="ImageTransfer.PullAsync"/>.</summary>
public sealed record PullOptions
{
    /// <summary>The platform to pick from an index; default <see cref="Platform.Current"/>.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Keep the whole index with every platform's image (digest-preserving), instead of one platform's image.</summary>
    public bool AllPlatforms { get; init; }

    /// <summary>The name to record the image under in the store; default the full reference.</summary>
    public string? LocalName { get; init; }
}

/// <summary>Options of <see cref="ImageTransfer.PushAsync"/> and <see cref="ImageTransfer.CopyAsync"/>.</summary>
public sealed record PushOptions
{
    /// <summary>
    /// A repository of the target registry to mount blobs from. By default the image's
    /// <c>org.opencontainers.image.base.name</c> annotation names it, when that base is on the same registry.
    /// </summary>
    public string? MountFrom { get; init; }

    /// <summary>
    /// Blobs the caller knows the target repository holds (just uploaded, mounted or found there): not checked again
    /// (see <see cref="RegistryImageSink.KnownBlobs"/>). Only for the repository they were confirmed in.
    /// </summary>
    public IReadOnlySet<Digest>? KnownBlobs { get; init; }
}

/// <summary>What a pull did.</summary>
/// <param name="Descriptor">The stored top-level manifest or index.</param>
/// <param name="LocalName">The name it is recorded under in the store.</param>
/// <param name="BlobsDownloaded">Blobs fetched from the registry.</param>
/// <param name="BlobsPresent">Blobs the store already had.</param>
public sealed record PullResult(Descriptor Descriptor, string LocalName, int BlobsDownloaded, int BlobsPresent);

/// <summary>What a push or copy did.</summary>
/// <param name="Descriptor">The pushed top-level manifest or index (its digest is the image's digest).</param>
/// <param name="BlobsUploaded">Blobs whose bytes were sent.</param>
/// <param name="BlobsMounted">Blobs mounted from another repository.</param>
/// <param name="BlobsPresent">Blobs the registry already had.</param>
public sealed record PushResult(Descriptor Descriptor, int BlobsUploaded, int BlobsMounted, int BlobsPresent);

/// <summary>
/// Moves images between registries and the local store, preserving digests: manifests travel as their exact
/// bytes, blobs are verified on arrival, blobs already present are not transferred, and several blobs move at once
/// (<see cref="RegistryClientOptions.MaxConcurrentTransfers"/>). Manifests are written last, so a reader never sees
/// an image whose blobs are missing.
/// </summary>
/// <param name="client">The registry client to use.</param>
public sealed class ImageTransfer(RegistryClient client)
{

    /// <summary>Pulls an image into the local store.</summary>
    /// <param name="source">The image in a registry.</param>
    /// <param name="store">The local store.</param>
    /// <param name="options">Platform and naming, optional.</param>
    /// <param name="progress">Per-blob progress, optional.</param>
    /// <param name="cancellationToken">Cancels the pull.</param>
    /// <returns>What was stored.</returns>
    /// <exception cref="ImageNotFoundException">An index has no image for the platform.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    /// <exception cref="RegistryDigestMismatchException">The registry served content with another digest; nothing of it is stored.</exception>
    /// <exception cref="OciFormatException">A manifest or configuration is not valid (a configuration that is not JSON, say); the subject names the image, and it is not stored.</exception>
    public async Task<PullResult> PullAsync(ImageReference source, OciLayout store, PullOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(store);
        options ??= new PullOptions();
        var localName = options.LocalName ?? source.ToString();

        // One pass per blob: network → store, verified while read (a registry serving other bytes fails as the registry's fault).
        var from = new RegistryImageSource(client, source, progress);
        var sink = new OciLayoutImageSink(store, localName, progress);
        var platform = options.AllPlatforms ? null : options.Platform ?? Platform.Current;
        var copied = await new ImageCopier(client).CopyAsync(from, () => Task.FromResult<IImageSink>(sink), platform, source.ToString(), cancellationToken).ConfigureAwait(false);
        return new PullResult(copied.Descriptor, localName, copied.BlobsUploaded, copied.BlobsPresent);
    }

    /// <summary>Pushes an image (or index) from the local store to a registry.</summary>
    /// <param name="store">The local store.</param>
    /// <param name="localName">The image's name in the store.</param>
    /// <param name="target">Where to push; its tag (or digest) names the result.</param>
    /// <param name="options">Mount source, optional.</param>
    /// <param name="progress">Per-blob progress, optional.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>What was pushed.</returns>
    /// <exception cref="ImageNotFoundException">The store has no image of that name.</exception>
    public async Task<PushResult> PushAsync(OciLayout store, string localName, ImageReference target, PushOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(localName);
        ArgumentNullException.ThrowIfNull(target);
        var source = new OciLayoutImageSource(store, localName);
        var sink = new RegistryImageSink(client, target, progress) { MountFrom = options?.MountFrom, KnownBlobs = options?.KnownBlobs };
        return await new ImageCopier(client).CopyAsync(source, sink, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies an image or index with every platform from one registry reference to another, preserving its digest.
    /// Within one registry, blobs are mounted instead of transferred.
    /// </summary>
    /// <param name="source">The image to copy.</param>
    /// <param name="target">Where to copy it; its tag (or digest) names the result.</param>
    /// <param name="progress">Per-blob progress, optional.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    /// <returns>What was copied.</returns>
    public async Task<PushResult> CopyAsync(ImageReference source, ImageReference target, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        // Within one registry, the sink mounts every blob from the source's repository.
        var from = new RegistryImageSource(client, source);
        return await new ImageCopier(client).CopyAsync(from, new RegistryImageSink(client, target, progress), null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gives an image in a registry another tag in the same repository, by re-putting its exact manifest bytes.</summary>
    /// <param name="source">The image (by tag or digest).</param>
    /// <param name="tag">The new tag.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The tagged manifest's descriptor (same digest as the source).</returns>
    /// <exception cref="ArgumentException">The tag is not a valid tag.</exception>
    public async Task<Descriptor> TagAsync(ImageReference source, string tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!ImageReference.IsValidTag(tag))
        {
            throw new ArgumentException($"'{tag}' is not a valid tag.", nameof(tag));
        }

        var content = await client.GetManifestAsync(source, cancellationToken).ConfigureAwait(false);
        await client.PutManifestAsync(ImageReference.Create(source.Registry, source.Repository, tag), content.Bytes, content.MediaType, cancellationToken).ConfigureAwait(false);
        return content.Descriptor;
    }

    /// <summary>Picks the manifest for a platform from an index, as Docker does (os, architecture, then variant).</summary>
    /// <param name="index">The index.</param>
    /// <param name="platform">The wanted platform.</param>
    /// <param name="name">The index's name, for the error.</param>
    /// <returns>The chosen manifest's descriptor.</returns>
    /// <exception cref="ImageNotFoundException">No manifest matches; the message lists what the index offers.</exception>
    public static Descriptor ChoosePlatform(ImageIndex index, Platform platform, string name)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(platform);
        return index.FindPlatform(platform)
            ?? throw new ImageNotFoundException(name, "its index", $"no image for {platform} (the index offers {index.DescribePlatforms()})");
    }
}
