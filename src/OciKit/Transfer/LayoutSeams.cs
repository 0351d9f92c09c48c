using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>An image in an OCI layout (the local store, an <c>oci:</c> directory) as an <see cref="IImageSource"/>.</summary>
public sealed class OciLayoutImageSource : IImageSource, IUnverifiedBlobSource
{
    private readonly OciLayout _layout;
    private readonly string? _localName;
    private readonly Func<ValueTask>? _dispose;
    private Descriptor? _top;

    /// <summary>Reads the image a layout holds under a name.</summary>
    /// <param name="layout">The layout.</param>
    /// <param name="name">The image's name in the layout (<c>org.opencontainers.image.ref.name</c>).</param>
    public OciLayoutImageSource(OciLayout layout, string name)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentException.ThrowIfNullOrEmpty(name);
        _layout = layout;
        _localName = name;
        Name = name;
    }

    internal OciLayoutImageSource(OciLayout layout, Descriptor top, string name, Func<ValueTask>? dispose = null)
    {
        _layout = layout;
        _top = top;
        _dispose = dispose;
        Name = name;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The layout read from.</summary>
    public OciLayout Layout => _layout;

    /// <summary>The name the chosen entry has in the layout's <c>index.json</c>, if any.</summary>
    internal string? EntryName => _top is { } top ? OciLayout.NameOf(top) : _localName;

    /// <inheritdoc/>
    /// <exception cref="ImageNotFoundException">The layout has no image of that name.</exception>
    public async Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default)
    {
        _top ??= await _layout.ResolveAsync(_localName!, cancellationToken).ConfigureAwait(false)
            ?? throw new ImageNotFoundException(_localName!, $"the local store at {_layout.Root}");
        return await _layout.ReadManifestAsync(_top with { Annotations = null }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return _layout.ReadManifestAsync(descriptor with { Annotations = null }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return Task.FromResult<Stream>(new VerifiedBlobStream(_layout.OpenBlob(descriptor.Digest), descriptor, _layout.Root));
    }

    /// <inheritdoc/>
    Stream IUnverifiedBlobSource.OpenUnverifiedBlob(Descriptor descriptor) => _layout.OpenBlob(descriptor.Digest);

    /// <inheritdoc/>
    Exception IUnverifiedBlobSource.Mismatch(DigestMismatchException mismatch, Descriptor descriptor) => mismatch;

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _dispose?.Invoke() ?? ValueTask.CompletedTask;
}

/// <summary>An OCI layout as an <see cref="IImageSink"/>: blobs verified into it, the top manifest named in <c>index.json</c>.</summary>
/// <param name="layout">The layout.</param>
/// <param name="name">The name to give the image (<c>org.opencontainers.image.ref.name</c>).</param>
/// <param name="progress">Receives a completed report for each blob the layout already has, optional.</param>
public sealed class OciLayoutImageSink(OciLayout layout, string name, IProgress<TransferProgress>? progress = null) : IImageSink
{
    /// <inheritdoc/>
    public string Name => $"{layout.Root}:{name}";

    /// <inheritdoc/>
    public Task<bool> HasBlobAsync(Descriptor blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        return Task.FromResult(Has(blob));
    }

    /// <inheritdoc/>
    public async Task<BlobUploadOutcome> PutBlobAsync(Descriptor blob, ImageManifest manifest, IImageSource from, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentNullException.ThrowIfNull(from);
        if (Has(blob))
        {
            progress?.Report(new TransferProgress(blob.Digest, blob.Size, blob.Size));
            return BlobUploadOutcome.AlreadyPresent;
        }

        // The store verifies what it writes (digest and size, before the blob becomes visible), so a source that can
        // skip its own check is read unchecked: one hash per byte, not two; a mismatch is still the source's error.
        var unverified = from as IUnverifiedBlobSource;
        var stream = unverified?.OpenUnverifiedBlob(blob) ?? await from.OpenBlobAsync(blob, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                await layout.WriteBlobAsync(stream, blob with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            }
            catch (DigestMismatchException e) when (unverified is not null)
            {
                throw unverified.Mismatch(e, blob);
            }
        }

        return BlobUploadOutcome.Uploaded;
    }

    /// <inheritdoc/>
    public async Task PutManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default) =>
        await layout.WriteManifestAsync(document, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public async Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(top);
        await layout.WriteManifestAsync(top, cancellationToken).ConfigureAwait(false);
        await layout.TagAsync(name, top.Descriptor, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task CompleteAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private bool Has(Descriptor blob) => layout.ContainsBlob(blob.Digest) && new FileInfo(layout.BlobPath(blob.Digest)).Length == blob.Size;
}

/// <summary>An image in a registry repository as an <see cref="IImageSource"/>.</summary>
/// <param name="client">The registry client.</param>
/// <param name="reference">The image (by tag or digest); blobs and manifests are read from its repository.</param>
/// <param name="progress">Receives per-blob download progress, optional.</param>
public sealed class RegistryImageSource(RegistryClient client, References.ImageReference reference, IProgress<TransferProgress>? progress = null) : IImageSource, IUnverifiedBlobSource, IBlobOrigin
{
    /// <summary>The image.</summary>
    public References.ImageReference Reference => reference;

    /// <inheritdoc/>
    public string Name => reference.ToString();

    /// <inheritdoc/>
    public async Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default)
    {
        var content = await client.GetManifestAsync(reference, cancellationToken).ConfigureAwait(false);
        return ManifestDocument.Parse(content.Bytes, content.MediaType);
    }

    /// <inheritdoc/>
    public async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var content = await client.GetManifestAsync(reference.WithDigest(descriptor.Digest), cancellationToken).ConfigureAwait(false);
        return ManifestDocument.Parse(content.Bytes, descriptor);
    }

    /// <inheritdoc/>
    /// <exception cref="RegistryDigestMismatchException">The registry served other bytes (when they are read).</exception>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return Task.FromResult<Stream>(new VerifiedBlobStream(
            client.OpenBlob(reference, descriptor, progress), descriptor, Name, e => ((IUnverifiedBlobSource)this).Mismatch(e, descriptor)));
    }

    /// <inheritdoc/>
    Stream IUnverifiedBlobSource.OpenUnverifiedBlob(Descriptor descriptor) => client.OpenBlob(reference, descriptor, progress);

    /// <inheritdoc/>
    References.ImageReference? IBlobOrigin.RepositoryOf(Descriptor blob) => reference;

    /// <inheritdoc/>
    Exception IUnverifiedBlobSource.Mismatch(DigestMismatchException mismatch, Descriptor descriptor) =>
        new RegistryDigestMismatchException($"blob {descriptor.Digest}", Name, mismatch.Expected, mismatch.Actual, "GET", null, mismatch);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// A registry repository as an <see cref="IImageSink"/>: blobs not there are mounted from a sibling repository when one
/// may hold them (<see cref="MountFrom"/>, the source's repository of the blob when it is in the same registry, or the
/// manifest's base-image annotation), else uploaded; manifests are put by digest, the top one under the target's tag
/// (or digest), once.
/// </summary>
/// <param name="client">The registry client.</param>
/// <param name="target">Where to put the image; its tag (or digest) names the top manifest.</param>
/// <param name="progress">Receives per-blob upload progress, optional.</param>
public sealed class RegistryImageSink(RegistryClient client, References.ImageReference target, IProgress<TransferProgress>? progress = null) : IImageSink
{
    /// <summary>A repository of the target registry to mount every blob from, overriding the other choices.</summary>
    public string? MountFrom { get; init; }

    /// <summary>
    /// Blobs the caller knows the target repository holds (it just uploaded, mounted or found them there, as a
    /// publish's early uploads do): they are taken as present without asking the registry again.
    /// </summary>
    public IReadOnlySet<Digest>? KnownBlobs { get; init; }

    /// <inheritdoc/>
    public string Name => target.ToString();

    /// <inheritdoc/>
    public async Task<bool> HasBlobAsync(Descriptor blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        return KnownBlobs?.Contains(blob.Digest) == true
            || await client.HeadBlobAsync(target, blob.Digest, cancellationToken).ConfigureAwait(false) is not null;
    }

    /// <inheritdoc/>
    public Task<BlobUploadOutcome> PutBlobAsync(Descriptor blob, ImageManifest manifest, IImageSource from, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(from);
        if (KnownBlobs?.Contains(blob.Digest) == true)
        {
            progress?.Report(new TransferProgress(blob.Digest, blob.Size, blob.Size));
            return Task.FromResult(BlobUploadOutcome.AlreadyPresent);
        }

        var mount = MountFrom
            ?? (from is IBlobOrigin origin && origin.RepositoryOf(blob) is { } repository ? RegistryClient.MountSource(repository, target) : null)
            ?? MountSourceOf(manifest);
        return client.UploadBlobAsync(target, blob, c => from.OpenBlobAsync(blob, c), mount, progress, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task PutManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        var reference = References.ImageReference.Create(target.Registry, target.Repository, digest: document.Digest);
        await client.PutManifestAsync(reference, document.Bytes, document.MediaType, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(top);
        await client.PutManifestAsync(target, top.Bytes, top.MediaType, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task CompleteAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string? MountSourceOf(ImageManifest manifest)
    {
        return manifest.Annotations is { } annotations && annotations.TryGetValue(AnnotationKeys.BaseName, out var baseName)
            && References.ImageReference.TryParse(baseName, out var baseReference)
            ? RegistryClient.MountSource(baseReference, target)
            : null;
    }
}

/// <summary>Picks the image a layout or archive location names among the images it holds.</summary>
internal static class ImageSelection
{
    /// <summary>
    /// Walks from an index down to the image for a platform (at most <see cref="ImageIndex.MaxDepth"/> indexes deep):
    /// the one walk the copy, inspect and the SBOM take; an image manifest is returned as it is.
    /// </summary>
    /// <exception cref="ImageNotFoundException">An index has no image for the platform.</exception>
    public static async Task<ManifestDocument> PickPlatformAsync(IImageSource source, ManifestDocument top, Platform platform, CancellationToken cancellationToken)
    {
        for (var depth = 0; depth < ImageIndex.MaxDepth && top.Index is { } index; depth++)
        {
            var chosen = ImageTransfer.ChoosePlatform(index, platform, source.Name);
            top = await source.ReadManifestAsync(chosen with { Annotations = null, Platform = null }, cancellationToken).ConfigureAwait(false);
        }

        return top;
    }

    public static Descriptor Select(IReadOnlyCollection<LayoutImage> images, string? name, string location, string path)
    {
        if (name is not null)
        {
            return images.LastOrDefault(i => string.Equals(i.Name, name, StringComparison.Ordinal))?.Descriptor
                ?? throw new ImageNotFoundException(name, path, $"it holds {Names(images)}");
        }

        var distinct = images.Select(i => i.Descriptor.Digest).Distinct().Count();
        return distinct == 1 ? images.First().Descriptor
            : throw new ImageNotFoundException(location, path, distinct == 0 ? "it holds no image" : $"it holds several images ({Names(images)}); name one after the path");
    }

    private static string Names(IEnumerable<LayoutImage> images)
    {
        var names = images.Select(i => i.Name ?? i.Descriptor.Digest.ToString()).Distinct().ToList();
        return names.Count == 0 ? "no image" : string.Join(", ", names);
    }

    public static ImmutableSortedDictionary<string, string> RefName(string name) =>
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal).Add(AnnotationKeys.RefName, name);
}
