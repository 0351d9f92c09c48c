using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Execution;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Transfer;

/// <summary>One named image in the local store, as <c>docker image ls</c> shows it.</summary>
/// <param name="Name">The name recorded in the store (<c>org.opencontainers.image.ref.name</c>).</param>
/// <param name="Repository">The repository in Docker's familiar form (<c>alpine</c>, <c>ghcr.io/org/app</c>), or the name when it is not a reference.</param>
/// <param name="Tag">The tag, or <see langword="null"/> when the name has none.</param>
/// <param name="ImageId">The image ID: the digest of the configuration (of <see cref="Platform.Current"/>'s image for an index).</param>
/// <param name="Digest">The digest of the stored manifest or index.</param>
/// <param name="Created">When the image was created, when its configuration says.</param>
/// <param name="Size">The bytes of its configuration and compressed layers; for an index without this platform's image, the index's own size.</param>
public sealed record ImageSummary(string Name, string Repository, string? Tag, Digest ImageId, Digest Digest, DateTimeOffset? Created, long Size);

/// <summary>What <see cref="LocalImages.InventoryAsync"/> found in the local store.</summary>
/// <param name="Images">The images that can be read, sorted by repository then tag.</param>
/// <param name="Broken">The named images that cannot be read, with what is wrong, sorted by name.</param>
public sealed record ImageInventory(ImmutableArray<ImageSummary> Images, ImmutableArray<BrokenImage> Broken);

/// <summary>Options of <see cref="LocalImages.CommitAsync"/>.</summary>
public sealed record CommitOptions
{
    /// <summary>How the layer is written (compression, timestamps, ownership); default <see cref="LayerOptions.Default"/>.</summary>
    public LayerOptions? Layer { get; init; }

    /// <summary>The history entry's <c>created_by</c>; default <c>ocikit commit</c>.</summary>
    public string? CreatedBy { get; init; }

    /// <summary>The history entry's comment (<c>docker commit -m</c>).</summary>
    public string? Comment { get; init; }

    /// <summary>The image's author (<c>docker commit -a</c>).</summary>
    public string? Author { get; init; }

    /// <summary>The creation time recorded in the configuration and history; default none, which keeps the result reproducible.</summary>
    public DateTimeOffset? Created { get; init; }
}

/// <summary>
/// The local image store as the CLI's <c>images</c>, <c>tag</c>, <c>rmi</c> and <c>prune</c> see it: an
/// <see cref="OciLayout"/> whose names are image references. A name is looked up as given, then in canonical
/// (<c>docker.io/library/alpine:latest</c>) and familiar (<c>alpine:latest</c>) form, so <c>alpine</c> finds what
/// <c>pull alpine</c> stored.
/// </summary>
/// <param name="store">The store.</param>
public sealed class LocalImages(OciLayout store)
{
    /// <summary>The store.</summary>
    public OciLayout Store { get; } = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>The name an image reference is stored under: its canonical form, as <see cref="ImageTransfer.PullAsync"/> records it.</summary>
    /// <param name="reference">The reference.</param>
    /// <returns>The name.</returns>
    public static string NameOf(ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return reference.ToString();
    }

    /// <summary>Finds the name under which the store holds an image.</summary>
    /// <param name="name">The name as the user wrote it, for example <c>alpine</c> or <c>hello:1</c>.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The stored name and its descriptor, or <see langword="null"/>.</returns>
    public async Task<(string Name, Descriptor Descriptor)?> FindAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (var candidate in ImageReference.LocalSpellings(name))
        {
            if (await Store.ResolveAsync(candidate, cancellationToken).ConfigureAwait(false) is { } descriptor)
            {
                return (Layout.OciLayout.NameOf(descriptor) ?? candidate, descriptor);
            }
        }

        return null;
    }

    /// <summary>Finds an image or fails.</summary>
    /// <param name="name">The name as the user wrote it.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The stored name and its descriptor.</returns>
    /// <exception cref="ImageNotFoundException">The store has no image of that name.</exception>
    public async Task<(string Name, Descriptor Descriptor)> RequireAsync(string name, CancellationToken cancellationToken = default) =>
        await FindAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new ImageNotFoundException(name, $"the local store at {Store.Root}");

    /// <summary>Lists the named images that can be read, sorted by repository then tag; see <see cref="InventoryAsync"/> for the broken ones too.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The images.</returns>
    public async Task<ImmutableArray<ImageSummary>> ListAsync(CancellationToken cancellationToken = default) =>
        (await InventoryAsync(cancellationToken).ConfigureAwait(false)).Images;

    /// <summary>
    /// Lists the named images, sorted by repository then tag, and the named images that cannot be read (a corrupt
    /// manifest, a configuration that is not JSON, written by another tool or damaged on disk): one broken image does
    /// not hide the others.
    /// </summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The readable images and the broken ones.</returns>
    /// <exception cref="OciFormatException">The store's <c>index.json</c> itself is malformed.</exception>
    public async Task<ImageInventory> InventoryAsync(CancellationToken cancellationToken = default)
    {
        var result = ImmutableArray.CreateBuilder<ImageSummary>();
        var broken = ImmutableArray.CreateBuilder<BrokenImage>();
        foreach (var entry in await Store.ListImagesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (entry.Name is not { } name)
            {
                continue;
            }

            var (repository, tag) = ImageReference.TryParse(name, out var reference) ? (reference.FamiliarName, reference.Tag) : (name, null);
            var descriptor = entry.Descriptor with { Annotations = null };
            try
            {
                var (image, manifest) = await Store.ReadImageAsync(descriptor, null, cancellationToken).ConfigureAwait(false);
                var m = manifest.Manifest!;
                var size = m.Config.Size + m.Layers.Sum(static l => l.Size);
                result.Add(new ImageSummary(name, repository, tag, m.Config.Digest, descriptor.Digest, image.Config.Created, size));
            }
            catch (Exception e) when (e is ImageNotFoundException or BlobNotFoundException or NotSupportedException)
            {
                // An index without this platform's image, or an artifact: list it by its own digest.
                result.Add(new ImageSummary(name, repository, tag, descriptor.Digest, descriptor.Digest, null, descriptor.Size));
            }
            catch (Exception e) when (e is OciException or ArgumentException)
            {
                // Corrupt or invalid (OciFormatException, DigestMismatchException; ArgumentException when its layers
                // and DiffIDs do not pair): reported, and the others are still listed.
                broken.Add(new BrokenImage(name, descriptor.Digest, e.Message));
            }
        }

        return new ImageInventory(
            [.. result.OrderBy(static s => s.Repository, StringComparer.Ordinal).ThenBy(static s => s.Tag, StringComparer.Ordinal)],
            [.. broken.OrderBy(static b => b.Name, StringComparer.Ordinal)]);
    }

    /// <summary>Gives a stored image another name (what <c>docker tag</c> does).</summary>
    /// <param name="source">The image's name as the user wrote it.</param>
    /// <param name="target">The new reference; recorded in canonical form.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The image's descriptor.</returns>
    /// <exception cref="ImageNotFoundException">The store has no image named <paramref name="source"/>.</exception>
    public async Task<Descriptor> TagAsync(string source, ImageReference target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var (_, descriptor) = await RequireAsync(source, cancellationToken).ConfigureAwait(false);
        var plain = descriptor with { Annotations = null };
        await Store.TagAsync(NameOf(target), plain, cancellationToken).ConfigureAwait(false);
        return plain;
    }

    /// <summary>Removes a name (what <c>docker rmi</c> does); the blobs stay until <see cref="PruneAsync"/>.</summary>
    /// <param name="name">The name as the user wrote it.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The removed name.</returns>
    /// <exception cref="ImageNotFoundException">The store has no image of that name.</exception>
    public async Task<string> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        var (stored, _) = await RequireAsync(name, cancellationToken).ConfigureAwait(false);
        await Store.RemoveAsync(stored, cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <summary>
    /// Appends a layer holding the difference between two directories to a stored image and stores the result under a
    /// new name (the daemonless <c>docker commit</c>). Added and changed files are in the layer, deleted ones become
    /// whiteouts.
    /// </summary>
    /// <param name="baseName">The image to extend, as the user wrote its name (an index gives <see cref="Platform.Current"/>'s image).</param>
    /// <param name="lowerDirectory">The tree before the change.</param>
    /// <param name="upperDirectory">The tree after the change.</param>
    /// <param name="target">The new image's name; recorded in canonical form.</param>
    /// <param name="options">Layer and history details, optional.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The new image's manifest descriptor.</returns>
    /// <exception cref="ImageNotFoundException">The store has no image named <paramref name="baseName"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">A directory does not exist.</exception>
    public async Task<Descriptor> CommitAsync(
        string baseName, string lowerDirectory, string upperDirectory, ImageReference target, CommitOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(lowerDirectory);
        ArgumentException.ThrowIfNullOrEmpty(upperDirectory);
        ArgumentNullException.ThrowIfNull(target);
        options ??= new CommitOptions();
        var (_, descriptor) = await RequireAsync(baseName, cancellationToken).ConfigureAwait(false);
        var (baseImage, _) = await Store.ReadImageAsync(descriptor with { Annotations = null }, null, cancellationToken).ConfigureAwait(false);

        // The store's one way in for a new layer: hashed while written in a scratch directory, then a blob by a rename
        // (nothing half-written is visible; a commit killed half-way leaves only what prune reclaims).
        var layer = await Store.AddLayerAsync(
            (stream, ct) => LayerWriter.WriteDiffAsync(lowerDirectory, upperDirectory, stream, options.Layer, ct), cancellationToken).ConfigureAwait(false);
        var history = new HistoryEntry { CreatedBy = options.CreatedBy ?? "ocikit commit", Comment = options.Comment, Author = options.Author, Created = options.Created };
        var image = baseImage.AppendLayer(layer.Descriptor, layer.DiffId, history).WithCreated(options.Created);
        if (options.Author is not null)
        {
            image = image.WithConfig(c => c with { Author = options.Author });
        }

        return await Store.WriteImageAsync(image.Build(), NameOf(target), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the blobs no named image reaches (an image that cannot be read keeps only what its manifest's bytes
    /// name, and is reported in <see cref="GarbageCollectionResult.BrokenImages"/>), and the scratch directories and temporary files of writers that died
    /// (a build or pull killed half-way), judged by their lock (see <see cref="ScratchDirectory"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What was removed.</returns>
    /// <remarks>The images of containers kept in the store (<see cref="LocalContainers"/>) are kept, named or not, so they can still be committed.</remarks>
    public async Task<GarbageCollectionResult> PruneAsync(CancellationToken cancellationToken = default) =>
        await Store.CollectGarbageAsync(await new LocalContainers(Store).ImagesInUseAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Deletes the extracted layers (<see cref="OciLayout.ExtractedLayersDirectory"/>) that no image of the store
    /// (named, or a kept container's) needs and that no build or container is using now (see <see cref="CacheFolder"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the prune.</param>
    /// <returns>What was deleted and kept.</returns>
    public async Task<CachePruneResult> PruneExtractedLayersAsync(CancellationToken cancellationToken = default)
    {
        var images = new List<IReadOnlyList<Descriptor>>();
        var index = await Store.ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        var pending = new Stack<Descriptor>([.. index.Manifests, .. await new LocalContainers(Store).ImagesInUseAsync(cancellationToken).ConfigureAwait(false)]);
        var seen = new HashSet<Digest>();
        while (pending.TryPop(out var descriptor))
        {
            if (!seen.Add(descriptor.Digest) || !(MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType)) || !Store.ContainsBlob(descriptor.Digest))
            {
                continue;
            }

            try
            {
                var document = await Store.ReadManifestAsync(descriptor, cancellationToken).ConfigureAwait(false);
                if (document.Manifest is { } manifest)
                {
                    images.Add(manifest.Layers);
                }

                foreach (var child in document.Index?.Manifests ?? [])
                {
                    pending.Push(child);
                }
            }
            catch (Exception e) when (e is OciException or NotSupportedException)
            {
                // An unreadable image keeps nothing extracted: the cache is rebuilt from blobs when it is needed.
            }
        }

        return await CacheFolder.PruneExtractedLayersAsync(Store.ExtractedLayersDirectory, images, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the build cache, as <c>docker builder prune</c> does: every <c>RUN --mount=type=cache</c> directory no
    /// build is using now, and every build-cache record (the next build runs its steps again; the layers they named
    /// become garbage for <see cref="PruneAsync"/> unless an image uses them).
    /// </summary>
    /// <param name="cancellationToken">Cancels the prune.</param>
    /// <returns>What was deleted.</returns>
    public async Task<BuildCachePruneResult> PruneBuildCacheAsync(CancellationToken cancellationToken = default)
    {
        var mounts = await CacheFolder.PruneUnusedAsync(Store.CacheMountsDirectory, cancellationToken).ConfigureAwait(false);
        var (records, bytes) = new LayerCache(Store.Root).Clear();
        return new BuildCachePruneResult(mounts, records, bytes);
    }
}

/// <summary>What <see cref="LocalImages.PruneBuildCacheAsync"/> deleted.</summary>
/// <param name="CacheMounts">The <c>RUN --mount=type=cache</c> directories (those in use are kept).</param>
/// <param name="Records">Build-cache records deleted.</param>
/// <param name="RecordBytes">The bytes the records held (their layers are blobs, collected by <see cref="LocalImages.PruneAsync"/>).</param>
public sealed record BuildCachePruneResult(CachePruneResult CacheMounts, int Records, long RecordBytes);
