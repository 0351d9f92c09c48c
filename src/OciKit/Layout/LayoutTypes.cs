using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>An image (or index) recorded in a layout's <c>index.json</c>.</summary>
/// <param name="Name">Its <c>org.opencontainers.image.ref.name</c>, or <see langword="null"/> for an untagged entry.</param>
/// <param name="Descriptor">The descriptor of its manifest or index.</param>
public sealed record LayoutImage(string? Name, Descriptor Descriptor);

/// <summary>An image read from a layout.</summary>
/// <param name="Image">The image (configuration and layers), ready to mutate.</param>
/// <param name="Manifest">Its manifest exactly as stored.</param>
public sealed record StoredImage(Image Image, ManifestDocument Manifest);

/// <summary>What a garbage collection removed.</summary>
/// <param name="RemovedBlobs">How many blobs were deleted.</param>
/// <param name="RemovedBytes">How many bytes they held.</param>
/// <param name="KeptBlobs">How many blobs were kept (referenced, or younger than the grace period).</param>
public sealed record GarbageCollectionResult(int RemovedBlobs, long RemovedBytes, int KeptBlobs)
{
    /// <summary>
    /// How many scratch directories and temporary files of writers that died (a build or pull killed half-way) were
    /// deleted; see <see cref="ScratchDirectory"/>.
    /// </summary>
    public int InterruptedWriters { get; init; }

    /// <summary>How many bytes the <see cref="InterruptedWriters"/>' leftovers held.</summary>
    public long InterruptedWriterBytes { get; init; }

    /// <summary>
    /// Named images whose manifest could not be read (corrupt, or not a manifest). Collection went on: such an image
    /// keeps its manifest blob and every blob its bytes name as a descriptor would, nothing more.
    /// </summary>
    public ImmutableArray<BrokenImage> BrokenImages { get; init; } = [];
}

/// <summary>An image recorded in a store that cannot be read (written by another tool or an older version, or damaged on disk).</summary>
/// <param name="Name">Its name, or its digest when it has none.</param>
/// <param name="Digest">The digest of its manifest or index.</param>
/// <param name="Problem">What is wrong with it.</param>
public sealed record BrokenImage(string Name, Digest Digest, string Problem);

/// <summary>Options of an <see cref="OciLayout"/>.</summary>
public sealed record OciLayoutOptions
{
    /// <summary>How long to wait for another writer's lock on <c>index.json</c> before giving up.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How old an unreferenced blob must be before garbage collection deletes it; zero (the default) deletes every
    /// unreferenced blob. Give a store shared by concurrent builds a grace period such as an hour.
    /// </summary>
    public TimeSpan GarbageCollectionGracePeriod { get; init; } = TimeSpan.Zero;

    /// <summary>Whether to create the layout when the directory has none.</summary>
    public bool CreateIfMissing { get; init; } = true;
}

/// <summary>A blob the layout was asked for is not in it.</summary>
public sealed class BlobNotFoundException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Content;

    /// <summary>Creates the exception.</summary>
    /// <param name="digest">The missing blob's digest.</param>
    /// <param name="layoutPath">The layout directory.</param>
    public BlobNotFoundException(Digest digest, string layoutPath)
        : base($"Blob {digest} is not in the image layout at {layoutPath}.")
    {
        Digest = digest;
    }

    /// <summary>The missing blob's digest.</summary>
    public Digest Digest { get; }
}
