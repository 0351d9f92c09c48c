using OciKit.Images;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Sbom;

/// <summary>What <see cref="SbomReferrers.AttachAsync"/> stored.</summary>
/// <param name="Artifact">The SBOM artifact manifest's descriptor (pushed by digest).</param>
/// <param name="Subject">The image manifest it refers to.</param>
/// <param name="FallbackTag">
/// The referrers fallback tag (<c>sha256-&lt;hex&gt;</c>) whose index was updated, or <see langword="null"/> when the
/// artifact was listed already (by the registry's referrers API, or by an earlier attach of the same SBOM).
/// </param>
public sealed record SbomAttachment(Descriptor Artifact, Descriptor Subject, string? FallbackTag);

/// <summary>
/// Stores an SBOM beside an image in a registry, and reads it back, as an OCI 1.1 artifact that refers to the image
/// (<see href="https://github.com/opencontainers/image-spec/blob/main/manifest.md#guidelines-for-artifact-usage">image-spec,
/// artifact usage</see>): a manifest with <c>artifactType</c> <c>application/spdx+json</c>, the empty config and one
/// <c>application/spdx+json</c> layer, and the image as its <c>subject</c>. Registries without the referrers API get the
/// fallback tag schema of <see href="https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema">distribution-spec</see>.
/// </summary>
/// <param name="client">The registry client.</param>
public sealed class SbomReferrers(RegistryClient client)
{
    /// <summary>An attached SBOM larger than this is refused rather than read into memory.</summary>
    public const long MaxSbomSize = 64L * 1024 * 1024;

    /// <summary>
    /// Pushes an SBOM as an artifact referring to the image it describes: the empty config and the document as blobs,
    /// the artifact manifest by digest, then — unless the registry's referrers API already lists it — the referrers
    /// fallback tag's index read, extended with the artifact and put back.
    /// </summary>
    /// <param name="repository">The image's repository (a tag or digest in it is ignored: the SBOM names its image).</param>
    /// <param name="sbom">The SBOM, generated from this repository's image.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>What was stored.</returns>
    /// <exception cref="RegistryException">The registry refused a blob or manifest.</exception>
    /// <exception cref="OciFormatException">The fallback tag names something that is not an index.</exception>
    public async Task<SbomAttachment> AttachAsync(ImageReference repository, SbomResult sbom, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(sbom);
        var repo = ImageReference.Create(repository.Registry, repository.Repository);
        var config = EmptyDescriptor.Descriptor;
        var layer = new Descriptor(MediaTypes.SpdxJson, Digest.ComputeSha256(sbom.Json.Span), sbom.Json.Length);
        await client.UploadBytesAsync(repo, config, EmptyDescriptor.Bytes, cancellationToken).ConfigureAwait(false);
        await client.UploadBytesAsync(repo, layer, sbom.Json, cancellationToken).ConfigureAwait(false);

        var subject = new Descriptor(sbom.Image.MediaType, sbom.Image.Digest, sbom.Image.Size);
        var manifest = new ImageManifest(config, [layer]) { ArtifactType = MediaTypes.SpdxJson, Subject = subject };
        var document = ManifestDocument.FromManifest(manifest);
        await client.PutManifestAsync(repo.WithDigest(document.Digest), document.Bytes, document.MediaType, cancellationToken).ConfigureAwait(false);
        var artifact = document.Descriptor with { ArtifactType = MediaTypes.SpdxJson };

        // A registry with the referrers API lists the artifact as soon as it is stored (distribution-spec: "pushing
        // manifests with subject"); one without it needs the client to keep the fallback tag's index.
        var listed = await client.GetReferrersAsync(repo, subject.Digest, MediaTypes.SpdxJson, cancellationToken).ConfigureAwait(false);
        if (listed.Any(d => d.Digest == artifact.Digest))
        {
            return new SbomAttachment(artifact, subject, null);
        }

        var tag = FallbackTag(subject.Digest);
        await ReferrersFallback.AppendAsync(client, repo, subject.Digest, [artifact], cancellationToken).ConfigureAwait(false);
        return new SbomAttachment(artifact, subject, tag);
    }

    /// <summary>
    /// Reads the SBOM attached to an image: the image's manifest (chosen from an index for the platform), its referrers
    /// of artifact type <c>application/spdx+json</c> (through the referrers API or the fallback tag), the last one
    /// listed (the newest, in a fallback index), and that artifact's SPDX layer.
    /// </summary>
    /// <param name="image">The image, by tag or digest.</param>
    /// <param name="platform">The platform to pick from an index; default <see cref="Platform.Current"/>.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The SPDX document's exact bytes.</returns>
    /// <exception cref="SbomNotFoundException">No SBOM refers to the image.</exception>
    /// <exception cref="ImageNotFoundException">An index has no image for the platform.</exception>
    /// <exception cref="OciFormatException">The artifact has no SPDX layer, or one larger than <see cref="MaxSbomSize"/>.</exception>
    /// <exception cref="RegistryException">The registry failed (for example <c>MANIFEST_UNKNOWN</c> for the image).</exception>
    public async Task<ReadOnlyMemory<byte>> ReadAttachedAsync(ImageReference image, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var repo = ImageReference.Create(image.Registry, image.Repository);
        var source = new RegistryImageSource(client, image);
        var document = await ImageSelection.PickPlatformAsync(
            source, await source.ResolveAsync(cancellationToken).ConfigureAwait(false), platform ?? Platform.Current, cancellationToken).ConfigureAwait(false);

        var referrers = await client.GetReferrersAsync(repo, document.Digest, MediaTypes.SpdxJson, cancellationToken).ConfigureAwait(false);
        if (referrers.Count == 0)
        {
            throw new SbomNotFoundException(repo.WithDigest(document.Digest).ToString());
        }

        var artifactReference = repo.WithDigest(referrers[^1].Digest);
        var artifact = await client.GetManifestAsync(artifactReference, cancellationToken).ConfigureAwait(false);
        var manifest = ImageManifest.Parse(artifact.Bytes);
        var layer = manifest.Layers.FirstOrDefault(l => l.MediaType == MediaTypes.SpdxJson)
            ?? throw new OciFormatException($"artifact {artifactReference}", $"it has no {MediaTypes.SpdxJson} layer");
        if (layer.Size > MaxSbomSize)
        {
            throw new OciFormatException($"artifact {artifactReference}", $"its SBOM is {layer.Size} bytes, more than the {MaxSbomSize} read");
        }

        var buffer = new MemoryStream((int)layer.Size);
        await client.DownloadBlobAsync(repo, layer, buffer, cancellationToken: cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>The referrers fallback tag of a subject: its digest with <c>:</c> replaced by <c>-</c> (distribution-spec, referrers tag schema).</summary>
    /// <param name="subject">The subject manifest's digest.</param>
    /// <returns>For example <c>sha256-0123…</c>.</returns>
    public static string FallbackTag(Digest subject) => ReferrersFallback.Tag(subject);
}
