using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Sbom;

/// <summary>
/// An SBOM kept beside an image in a local OCI layout (the store), the way a registry without the referrers API keeps
/// it: the same OCI 1.1 artifact <see cref="SbomReferrers"/> pushes (artifactType <c>application/spdx+json</c>, the
/// empty config, the image as <c>subject</c>), listed by an index named after the referrers tag schema,
/// <c>REPOSITORY:sha256-&lt;hex&gt;</c> (as regclient's OCI layouts do). The artifact is therefore kept by the store's
/// garbage collection, removed with <c>rmi REPOSITORY:sha256-&lt;hex&gt;</c>, and copied with the layout by any tool.
/// </summary>
public static class SbomStore
{
    /// <summary>The layout name of the index that lists the referrers of an image stored under <paramref name="name"/>.</summary>
    /// <param name="name">The image's name in the layout (<c>repository[:tag]</c> or <c>repository@digest</c>).</param>
    /// <param name="subject">The image manifest's digest.</param>
    /// <returns><c>repository:sha256-&lt;hex&gt;</c>.</returns>
    public static string ReferrersName(string name, Digest subject)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(subject);
        return RepositoryOf(name) + ":" + SbomReferrers.FallbackTag(subject);
    }

    /// <summary>
    /// Stores an SBOM as an artifact referring to the image it describes and lists it in the image repository's
    /// referrers index (created, or extended when it lists other artifacts).
    /// </summary>
    /// <param name="store">The layout holding the image.</param>
    /// <param name="name">The image's name there (its repository names the referrers index).</param>
    /// <param name="sbom">The SBOM, generated from that image.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The artifact manifest's descriptor.</returns>
    /// <exception cref="OciFormatException">The referrers name holds something that is not an index.</exception>
    public static async Task<Descriptor> AttachAsync(OciLayout store, string name, SbomResult sbom, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(sbom);
        var config = await store.WriteBlobAsync(EmptyDescriptor.Bytes, MediaTypes.OciEmpty, cancellationToken).ConfigureAwait(false);
        var layer = await store.WriteBlobAsync(sbom.Json, MediaTypes.SpdxJson, cancellationToken).ConfigureAwait(false);
        var subject = new Descriptor(sbom.Image.MediaType, sbom.Image.Digest, sbom.Image.Size);
        var manifest = new ImageManifest(config, [layer]) { ArtifactType = MediaTypes.SpdxJson, Subject = subject };
        var document = ManifestDocument.FromManifest(manifest);
        await store.WriteManifestAsync(document, cancellationToken).ConfigureAwait(false);
        var artifact = document.Descriptor with { ArtifactType = MediaTypes.SpdxJson };

        var indexName = ReferrersName(name, subject.Digest);
        var listed = await ListAsync(store, indexName, cancellationToken).ConfigureAwait(false);
        if (!listed.Any(d => d.Digest == artifact.Digest))
        {
            var index = ManifestDocument.FromIndex(new ImageIndex(listed.Add(artifact)));
            var stored = await store.WriteManifestAsync(index, cancellationToken).ConfigureAwait(false);
            await store.TagAsync(indexName, stored, cancellationToken).ConfigureAwait(false);
        }

        return artifact;
    }

    /// <summary>Reads the SBOM attached in the layout to the image stored under a name: the last SPDX artifact its referrers index lists.</summary>
    /// <param name="store">The layout.</param>
    /// <param name="name">The image's name there.</param>
    /// <param name="platform">The platform to pick from an index; default <see cref="Platform.Current"/>.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The SPDX document's exact bytes.</returns>
    /// <exception cref="ImageNotFoundException">No image has the name, or an index has none for the platform.</exception>
    /// <exception cref="SbomNotFoundException">No SBOM refers to the image in the layout.</exception>
    /// <exception cref="OciFormatException">The artifact has no SPDX layer, or one larger than <see cref="SbomReferrers.MaxSbomSize"/>.</exception>
    public static async Task<ReadOnlyMemory<byte>> ReadAttachedAsync(OciLayout store, string name, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var descriptor = await store.ResolveAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new ImageNotFoundException(name, $"the local store at {store.Root}");
        var image = await store.ReadImageAsync(descriptor with { Annotations = null }, platform ?? Platform.Current, cancellationToken).ConfigureAwait(false);
        var subject = image.Manifest.Descriptor.Digest;
        var referrers = (await ListAsync(store, ReferrersName(name, subject), cancellationToken).ConfigureAwait(false))
            .Where(d => d.ArtifactType == MediaTypes.SpdxJson).ToList();
        if (referrers.Count == 0)
        {
            throw new SbomNotFoundException($"{RepositoryOf(name)}@{subject} in the local store at {store.Root}");
        }

        var artifact = await store.ReadManifestAsync(referrers[^1] with { Annotations = null }, cancellationToken).ConfigureAwait(false);
        var layer = artifact.Manifest?.Layers.FirstOrDefault(l => l.MediaType == MediaTypes.SpdxJson)
            ?? throw new OciFormatException($"artifact {referrers[^1].Digest}", $"it has no {MediaTypes.SpdxJson} layer");
        if (layer.Size > SbomReferrers.MaxSbomSize)
        {
            throw new OciFormatException($"artifact {referrers[^1].Digest}", $"its SBOM is {layer.Size} bytes, more than the {SbomReferrers.MaxSbomSize} read");
        }

        // Read whole and checked here: an SBOM may be larger than the configuration-sized blobs ReadBlobAsync reads.
        var buffer = new MemoryStream((int)layer.Size);
        var stream = store.OpenBlob(layer.Digest);
        await using (stream.ConfigureAwait(false))
        {
            if (stream.Length == layer.Size)
            {
                await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
        }

        var bytes = buffer.ToArray();
        return bytes.Length == layer.Size && layer.Digest.Matches(bytes)
            ? bytes
            : throw new DigestMismatchException($"SBOM blob in the local store at {store.Root}", layer.Digest, Digest.ComputeSha256(bytes));
    }

    private static async Task<ImmutableArray<Descriptor>> ListAsync(OciLayout store, string indexName, CancellationToken cancellationToken)
    {
        if (await store.ResolveAsync(indexName, cancellationToken).ConfigureAwait(false) is not { } existing)
        {
            return [];
        }

        var document = await store.ReadManifestAsync(existing with { Annotations = null }, cancellationToken).ConfigureAwait(false);
        return document.Index?.Manifests
            ?? throw new OciFormatException($"referrers index {indexName}", $"it names a {document.MediaType}, not an index");
    }

    // The name without its tag or digest: "host:5000/app:1" -> "host:5000/app".
    private static string RepositoryOf(string name)
    {
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            name = name[..at];
        }

        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }
}
