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
    /// <summary>Writes the image to an archive: an oci-archive names it by the first tag, a docker archive by every tag.</summary>
    /// <param name="tags">The names the image is stored under; at least one.</param>
    /// <param name="path">The archive file.</param>
    /// <param name="format">The archive format.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The archive's full path.</returns>
    /// <exception cref="ArgumentException">No tag names the image in the archive.</exception>
    public Task<string> WriteArchiveAsync(IReadOnlyList<string> tags, string path, ArchiveFormat format, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (tags.Count == 0)
        {
            throw new ArgumentException("Writing an archive needs at least one tag.", nameof(tags));
        }

        return AtomicFile.WriteAsync(
            path,
            (output, ct) => format == ArchiveFormat.Docker
                ? DockerArchive.WriteAsync(store, [new DockerArchiveImage(tags[0], [.. tags])], output, ct)
                : OciArchive.WriteAsync(store, [tags[0]], output, ct),
            cancellationToken);
    }

    /// <summary>Pushes the image to the registry each tag names (blobs a registry has are not sent again).</summary>
    /// <param name="client">The registry client.</param>
    /// <param name="tags">The names the image is stored under, each a registry reference; at least one.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>What each push did.</returns>
    /// <exception cref="ArgumentException">No tag.</exception>
    /// <exception cref="RegistryException">A registry failed.</exception>
    public async Task<IReadOnlyList<PushResult>> PushAsync(RegistryClient client, IReadOnlyList<string> tags, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(tags);
        if (tags.Count == 0)
        {
            throw new ArgumentException("Pushing needs at least one tag.", nameof(tags));
        }

        var transfer = new ImageTransfer(client);
        var results = new List<PushResult>(tags.Count);
        foreach (var tag in tags)
        {
            results.Add(await transfer.PushAsync(store, tag, ImageReference.Parse(tag), null, null, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }
}
