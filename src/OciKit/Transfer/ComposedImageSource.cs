using System.Collections.Frozen;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// Where one blob of a <see cref="ComposedImageSource"/> is: in memory, in a local store, or in a registry repository.
/// A closed set; each is read verified against the blob's descriptor.
/// </summary>
public abstract record BlobLocation
{
    private protected BlobLocation()
    {
    }

    /// <summary>Bytes held in memory, such as an image configuration just built.</summary>
    /// <param name="Content">The exact bytes.</param>
    public sealed record InMemory(ReadOnlyMemory<byte> Content) : BlobLocation;

    /// <summary>A blob of an OCI layout, such as a layer just written into the local store.</summary>
    /// <param name="Store">The layout holding it.</param>
    public sealed record InStore(OciLayout Store) : BlobLocation;

    /// <summary>
    /// A blob of a registry repository, such as a base image's layer. It is read through the source's client; a
    /// <see cref="RegistryImageSink"/> on the same registry mounts it from this repository instead of reading it, and one
    /// on another registry has it streamed from here to there, never through the disk.
    /// </summary>
    /// <param name="Repository">The repository (its tag or digest is ignored for blobs).</param>
    public sealed record InRepository(ImageReference Repository) : BlobLocation;
}

/// <summary>
/// An image whose parts are in different places, as an <see cref="IImageSource"/> for the one copy
/// (<see cref="ImageCopier.CopyAsync(IImageSource, IImageSink, Platform?, CancellationToken)"/>,
/// <see cref="ImageDelivery.PushAsync(RegistryClient, IImageSource, IReadOnlyList{string}, PushOptions?, CancellationToken)"/>):
/// its manifests (and index) in memory, each blob where <see cref="BlobLocation"/> says — a configuration in memory, new
/// layers in the local store, a base image's layers in its registry repository. A publish pushes an image this way
/// without pulling its base's layers or writing the image into the store. Everything read is verified against the
/// descriptor asked for; a blob or manifest it was not given is a <see cref="BlobNotFoundException"/>.
/// </summary>
public sealed class ComposedImageSource : IImageSource, IBlobOrigin
{
    private readonly RegistryClient _client;
    private readonly ManifestDocument _top;
    private readonly FrozenDictionary<Digest, ManifestDocument> _manifests;
    private readonly FrozenDictionary<Digest, BlobLocation> _blobs;

    /// <summary>Composes an image.</summary>
    /// <param name="client">The client <see cref="BlobLocation.InRepository"/> blobs are read through.</param>
    /// <param name="name">What the image is, for messages.</param>
    /// <param name="top">The top manifest or index.</param>
    /// <param name="manifests">The manifests an index refers to (none for a single image); <paramref name="top"/> is added.</param>
    /// <param name="blobs">Where each blob (configurations and layers) is.</param>
    public ComposedImageSource(RegistryClient client, string name, ManifestDocument top, IEnumerable<ManifestDocument> manifests, IReadOnlyDictionary<Digest, BlobLocation> blobs)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(top);
        ArgumentNullException.ThrowIfNull(manifests);
        ArgumentNullException.ThrowIfNull(blobs);
        _client = client;
        Name = name;
        _top = top;
        var documents = new Dictionary<Digest, ManifestDocument> { [top.Digest] = top };
        foreach (var manifest in manifests)
        {
            documents[manifest.Digest] = manifest;
        }

        _manifests = documents.ToFrozenDictionary();
        _blobs = blobs.ToFrozenDictionary();
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default) => Task.FromResult(_top);

    /// <inheritdoc/>
    public Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return _manifests.TryGetValue(descriptor.Digest, out var document)
            ? Task.FromResult(document)
            : Task.FromException<ManifestDocument>(new BlobNotFoundException(descriptor.Digest, Name));
    }

    /// <inheritdoc/>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (!_blobs.TryGetValue(descriptor.Digest, out var location))
        {
            return Task.FromException<Stream>(new BlobNotFoundException(descriptor.Digest, Name));
        }

        return location switch
        {
            BlobLocation.InMemory memory => Task.FromResult<Stream>(new VerifiedBlobStream(new MemoryStream(memory.Content.ToArray(), writable: false), descriptor, Name)),
            BlobLocation.InStore store => new OciLayoutImageSource(store.Store, descriptor, Name).OpenBlobAsync(descriptor, cancellationToken),
            BlobLocation.InRepository repository => new RegistryImageSource(_client, repository.Repository).OpenBlobAsync(descriptor, cancellationToken),
            _ => throw new InvalidOperationException("Unknown blob location."),
        };
    }

    /// <inheritdoc/>
    ImageReference? IBlobOrigin.RepositoryOf(Descriptor blob) =>
        _blobs.TryGetValue(blob.Digest, out var location) && location is BlobLocation.InRepository repository ? repository.Repository : null;

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>A source that knows which registry repository holds a blob, so a registry sink can mount it from there.</summary>
internal interface IBlobOrigin
{
    /// <summary>The repository that holds the blob, or null when it is not in a registry.</summary>
    ImageReference? RepositoryOf(Descriptor blob);
}
