using OciKit.Layout;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>The archive formats an image can be delivered in.</summary>
public enum ArchiveFormat
{
    /// <summary>An OCI image layout in a tar file (<c>oci-archive:</c>).</summary>
    Oci,

    /// <summary>A <c>docker save</c> tarball (<c>docker load</c>, <c>podman load</c>).</summary>
    Docker,
}

/// <summary>
/// Delivers an image the store holds under its tags to where its caller wants it, after a build: an archive file
/// (never half-written) and the registries its tags name. The build itself only stores; this is the step after it.
/// </summary>
/// <param name="store">The store holding the image under <c>tags</c>.</param>
public sealed class ImageDelivery(OciLayout store)
{
    /// <summary>
    /// Writes a stored image to an archive file, never half-written (<see cref="AtomicFile"/>): an oci-archive names it
    /// <paramref name="name"/>; a docker archive records <paramref name="repoTags"/> (none: <paramref name="name"/>).
    /// </summary>
    /// <param name="name">The name the image is stored under.</param>
    /// <param name="repoTags">The names a docker archive records for it (<c>RepoTags</c>); empty for just <paramref name="name"/>.</param>
    /// <param name="path">The archive file.</param>
    /// <param name="format">The archive format.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The archive's full path.</returns>
    public Task<string> WriteArchiveAsync(string name, IReadOnlyList<string> repoTags, string path, ArchiveFormat format, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(repoTags);
        ArgumentException.ThrowIfNullOrEmpty(path);
        return AtomicFile.WriteAsync(
            path,
            (output, ct) => format == ArchiveFormat.Docker
                ? DockerArchive.WriteAsync(store, [new DockerArchiveImage(name, [.. repoTags])], output, ct)
                : OciArchive.WriteAsync(store, [name], output, ct),
            cancellationToken);
    }

    /// <summary>
    /// Pushes a stored image to the registries its names say: pushed once under the first name (blobs the registry has
    /// are not sent again), then every other name in the same repository is only tagged (its manifest put again);
    /// a name in another repository or registry is pushed to as well (blobs mounted where the registry allows).
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="names">The names the image is stored under, each a registry reference; at least one. The first is pushed from the store.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>What the push of the first name did, and the names only tagged.</returns>
    /// <exception cref="ArgumentException">No name.</exception>
    /// <exception cref="RegistryException">A registry failed.</exception>
    public async Task<DeliveredPush> PushAsync(RegistryClient client, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count == 0)
        {
            throw new ArgumentException("Pushing needs at least one tag.", nameof(names));
        }

        var source = new OciLayoutImageSource(store, names[0]);
        await using (source.ConfigureAwait(false))
        {
            return await PushAsync(client, source, names, null, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Pushes the image a source holds — from anywhere: the store, an archive, or an image composed of blobs in several
    /// places (<see cref="ComposedImageSource"/>) — to the registries its names say, with the one copy: pushed once under
    /// the first name (blobs the registry has are not sent again, blobs of a repository of the same registry mounted),
    /// then every other name in the same repository is only tagged; a name in another repository or registry is
    /// pushed to as well.
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="source">The image; not disposed.</param>
    /// <param name="names">Registry references to push to; at least one.</param>
    /// <param name="options">For the first name's repository: a repository to mount from, blobs known to be there.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>What the push of the first name did, and the names only tagged.</returns>
    /// <exception cref="ArgumentException">No name.</exception>
    /// <exception cref="RegistryException">A registry failed.</exception>
    public static async Task<DeliveredPush> PushAsync(RegistryClient client, IImageSource source, IReadOnlyList<string> names, PushOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count == 0)
        {
            throw new ArgumentException("Pushing needs at least one tag.", nameof(names));
        }

        var transfer = new ImageTransfer(client);
        var copier = new ImageCopier(client);
        var first = ImageReference.Parse(names[0]);
        var pushed = await copier.CopyAsync(source, new RegistryImageSink(client, first) { MountFrom = options?.MountFrom, KnownBlobs = options?.KnownBlobs }, null, cancellationToken).ConfigureAwait(false);
        var tagged = new List<ImageReference>();
        foreach (var name in names.Skip(1))
        {
            var reference = ImageReference.Parse(name);
            if (string.Equals(reference.Registry, first.Registry, StringComparison.OrdinalIgnoreCase) && reference.Repository == first.Repository && reference.Tag is { } tag)
            {
                await transfer.TagAsync(first.WithDigest(pushed.Descriptor.Digest), tag, cancellationToken).ConfigureAwait(false);
                tagged.Add(reference);
            }
            else
            {
                await copier.CopyAsync(source, new RegistryImageSink(client, reference), null, cancellationToken).ConfigureAwait(false);
            }
        }

        return new DeliveredPush(pushed, [.. tagged]);
    }
}

/// <summary>What <see cref="ImageDelivery.PushAsync(RegistryClient, IImageSource, IReadOnlyList{string}, PushOptions?, CancellationToken)"/> did.</summary>
/// <param name="Pushed">The push under the first name.</param>
/// <param name="Tagged">The other names of the same repository, which were only tagged.</param>
public sealed record DeliveredPush(PushResult Pushed, System.Collections.Immutable.ImmutableArray<ImageReference> Tagged);
