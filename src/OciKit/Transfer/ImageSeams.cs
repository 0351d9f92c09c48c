using OciKit.Images;
using OciKit.Primitives;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// Where an image is read from: one image (or index) that a location names, its manifests by descriptor and its blobs
/// as streams. Read-only; implemented by an OCI layout, a registry repository, an oci-archive and a docker-archive.
/// Everything read is verified against the descriptor it was asked for.
/// </summary>
public interface IImageSource : IAsyncDisposable
{
    /// <summary>What the source is, for messages (a reference or a location).</summary>
    string Name { get; }

    /// <summary>The top-level manifest or index of the image the source names, as its exact bytes and media type.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document.</returns>
    /// <exception cref="ImageNotFoundException">The source has no such image, or holds several and none was named.</exception>
    Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default);

    /// <summary>Reads a manifest or index by descriptor, verified against its digest and size.</summary>
    /// <param name="descriptor">Its descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document.</returns>
    /// <exception cref="Layout.BlobNotFoundException">A layout or archive source does not hold it.</exception>
    /// <exception cref="DigestMismatchException">The bytes do not have the descriptor's digest.</exception>
    Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens a blob by descriptor. The stream is verified while it is read: when the descriptor's size is reached
    /// (or the stream ends early, or runs past it) a wrong digest or size fails the read, with
    /// <see cref="DigestMismatchException"/> (<see cref="RegistryDigestMismatchException"/> from a registry) or
    /// <see cref="OciFormatException"/>.
    /// </summary>
    /// <param name="descriptor">The blob's descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The stream, owned by the caller.</returns>
    /// <exception cref="Layout.BlobNotFoundException">A layout or archive source does not hold it.</exception>
    Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default);
}

/// <summary>
/// Where an image is written: blobs (uploaded, or mounted from a sibling repository of the same registry), manifests
/// by digest, then the top manifest under the destination's name, then completion. Implemented by an OCI layout, a
/// registry repository, an oci-archive and a docker-archive; an archive is written to a temporary file and renamed into
/// place by <see cref="CompleteAsync"/> only, so a failed copy leaves nothing half-written.
/// </summary>
public interface IImageSink : IAsyncDisposable
{
    /// <summary>What the sink is, for messages.</summary>
    string Name { get; }

    /// <summary>Whether the sink already holds a blob.</summary>
    /// <param name="blob">The blob's descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns><see langword="true"/> when the blob need not be sent.</returns>
    Task<bool> HasBlobAsync(Descriptor blob, CancellationToken cancellationToken = default);

    /// <summary>Puts a blob unless the sink holds it already, reading it from a source (or mounting it, in a registry).</summary>
    /// <param name="blob">The blob's descriptor.</param>
    /// <param name="manifest">The manifest that refers to it (a registry sink mounts from the repository its base-image annotation names).</param>
    /// <param name="from">The source to read it from.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What was done.</returns>
    Task<BlobUploadOutcome> PutBlobAsync(Descriptor blob, ImageManifest manifest, IImageSource from, CancellationToken cancellationToken = default);

    /// <summary>Puts a manifest or index by its digest; everything it refers to was put before.</summary>
    /// <param name="document">The document, exact bytes.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the manifest is stored.</returns>
    Task PutManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default);

    /// <summary>Puts the top manifest or index under the destination's name (a tag, a digest, an archive's name).</summary>
    /// <param name="top">The top document, exact bytes; everything it refers to was put before.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the image is named.</returns>
    Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default);

    /// <summary>Finishes the destination: an archive is written and renamed into place. Nothing is visible before.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the destination is complete.</returns>
    Task CompleteAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// A source whose blobs can also be opened without its own digest check, for a sink that checks what it writes itself
/// (the store): the bytes are then hashed once, not twice.
/// </summary>
internal interface IUnverifiedBlobSource
{
    /// <summary>Opens a blob without checking it; the caller must check digest and size itself.</summary>
    Stream OpenUnverifiedBlob(Descriptor descriptor);

    /// <summary>The error a mismatch the caller found is reported as (a registry's, for a registry source).</summary>
    Exception Mismatch(DigestMismatchException mismatch, Descriptor descriptor);
}
