using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.Transfer;

/// <summary>
/// Where a build finds the base images (<c>FROM</c>, <c>COPY --from=IMAGE</c>) that its store does not hold: the
/// caller decides (a registry client with its credentials, or nothing, so that only the store is used).
/// </summary>
public interface IBaseImageResolver
{
    /// <summary>Brings the image a reference names into the store, for a platform.</summary>
    /// <param name="reference">The image.</param>
    /// <param name="platform">The platform wanted.</param>
    /// <param name="store">The store to bring it into.</param>
    /// <param name="policy">
    /// A trust policy the image must satisfy before anything of it is stored, or null for none. An implementation
    /// that cannot check it must refuse rather than ignore it.
    /// </param>
    /// <param name="cancellationToken">Cancels the transfer.</param>
    /// <returns>The descriptor of what was stored under <paramref name="reference"/>'s full name (an image manifest, or an index).</returns>
    /// <exception cref="ImageNotFoundException">There is no such image (or none for the platform).</exception>
    /// <exception cref="TrustPolicyRefusedException">The policy refuses the image; nothing was stored.</exception>
    Task<Descriptor> PullAsync(ImageReference reference, Platform platform, OciLayout store, TrustPolicy? policy, CancellationToken cancellationToken);
}

/// <summary>Base images from their registries, pulled into the store (and so found there by the next build).</summary>
/// <param name="client">The registry client (its options carry credentials, insecure registries and retries).</param>
public sealed class RegistryBaseImages(RegistryClient client) : IBaseImageResolver
{
    /// <inheritdoc/>
    /// <exception cref="RegistryException">The registry failed (a registry that answers is not "no such image").</exception>
    public async Task<Descriptor> PullAsync(ImageReference reference, Platform platform, OciLayout store, TrustPolicy? policy, CancellationToken cancellationToken)
        => (await PullResultAsync(reference, platform, store, policy, cancellationToken).ConfigureAwait(false)).Descriptor;

    /// <summary>As <see cref="PullAsync"/>, with the transfer's counts.</summary>
    /// <param name="reference">The image.</param>
    /// <param name="platform">The platform wanted.</param>
    /// <param name="store">The store to bring it into.</param>
    /// <param name="policy">
    /// A trust policy evaluated against the digest the reference resolves to before anything is stored (that digest
    /// is then what is pulled); null for none.
    /// </param>
    /// <param name="cancellationToken">Cancels the transfer.</param>
    /// <returns>What was stored.</returns>
    /// <exception cref="ImageNotFoundException">The registry has no such image, or none for the platform.</exception>
    /// <exception cref="TrustPolicyRefusedException">The policy refuses the image; nothing was stored.</exception>
    public async Task<PullResult> PullResultAsync(ImageReference reference, Platform platform, OciLayout store, TrustPolicy? policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(store);
        try
        {
            var source = policy is null ? reference : await policy.AdmitAsync(reference, client, cancellationToken).ConfigureAwait(false);
            return await new ImageTransfer(client).PullAsync(source, store, new PullOptions { Platform = platform, LocalName = reference.ToString() }, null, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (e.HasCode(RegistryErrorCodes.ManifestUnknown) || e.HasCode(RegistryErrorCodes.NameUnknown))
        {
            // Said as what it is for the caller: the base image does not exist (the registry itself worked).
            throw new ImageNotFoundException(reference.ToString(), reference.Registry, "the registry has no such image");
        }
    }

    /// <summary>
    /// A store whose blobs keep the content-addressed documents <see cref="ReadAsync"/> reads (the platform's manifest
    /// picked from an index, the configuration), so that reading the same base again asks the registry only what its
    /// tag names now: for a publish repeated on one machine, one request instead of two or three. Kept as blobs only
    /// (no image is recorded), verified when read back; null (the default) to fetch every document each time.
    /// </summary>
    public OciLayout? Documents { get; init; }

    /// <summary>
    /// Reads a base image's manifest and configuration from its registry, verified, for the platform — without its
    /// layers and without storing anything but, given <see cref="Documents"/>, those two documents: for a push that
    /// mounts (or streams) the base's layers from its repository instead of pulling them (<see cref="ComposedImageSource"/>).
    /// </summary>
    /// <param name="reference">The image.</param>
    /// <param name="platform">The platform wanted.</param>
    /// <param name="policy">A trust policy evaluated against the digest the reference resolves to (that digest is then what is read); null for none.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The image, its platform manifest and the repository its layers are in.</returns>
    /// <exception cref="ImageNotFoundException">The registry has no such image, or none for the platform.</exception>
    /// <exception cref="TrustPolicyRefusedException">The policy refuses the image.</exception>
    /// <exception cref="OciFormatException">The manifest or configuration is not a valid image's; the subject names the image.</exception>
    /// <exception cref="NotSupportedException">The reference names an artifact, not an image.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    public async Task<RemoteImage> ReadAsync(ImageReference reference, Platform platform, TrustPolicy? policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(platform);
        try
        {
            var source = policy is null ? reference : await policy.AdmitAsync(reference, client, cancellationToken).ConfigureAwait(false);
            var from = new RegistryImageSource(client, source);
            var top = await from.ResolveAsync(cancellationToken).ConfigureAwait(false);
            var document = await ImageSelection.PickPlatformAsync(Documents is { } store ? new StoredDocuments(from, store) : from, top, platform, cancellationToken).ConfigureAwait(false);
            var manifest = document.Manifest ?? throw new NotSupportedException($"'{reference}' refers to a {document.MediaType}, not an image.");
            if (manifest.Config.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig) && manifest.ArtifactType is not null)
            {
                throw new NotSupportedException($"'{reference}' refers to an artifact of type {manifest.ArtifactType}, not an image.");
            }

            if (await StoredDocuments.ReadAsync(Documents, manifest.Config, cancellationToken).ConfigureAwait(false) is not { } config)
            {
                var stream = await from.OpenBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    config = await ReadSmallAsync(stream, manifest.Config, reference, cancellationToken).ConfigureAwait(false);
                }

                await StoredDocuments.KeepAsync(Documents, config, manifest.Config, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                return new RemoteImage(source, Images.Image.FromManifest(document, config), document);
            }
            catch (Exception e) when (e is OciFormatException or ArgumentException)
            {
                throw new OciFormatException($"image {reference}", $"its configuration {manifest.Config.Digest} cannot be used: {e.Message}", e);
            }
        }
        catch (RegistryException e) when (e.HasCode(RegistryErrorCodes.ManifestUnknown) || e.HasCode(RegistryErrorCodes.NameUnknown))
        {
            throw new ImageNotFoundException(reference.ToString(), reference.Registry, "the registry has no such image");
        }
    }

    /// <summary>Reads a configuration blob whole, refusing one larger than a manifest may be (the store's limit for documents).</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadSmallAsync(Stream stream, Descriptor blob, ImageReference reference, CancellationToken cancellationToken)
    {
        if (blob.Size is < 0 or > Images.ManifestDocument.MaxSize)
        {
            throw new OciFormatException($"image {reference}", $"its configuration {blob.Digest} is {blob.Size} bytes, more than the {Images.ManifestDocument.MaxSize} accepted.");
        }

        var buffer = new byte[blob.Size];
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        // Reading on to the end lets the verifying stream check the digest (and that nothing follows).
        if (await stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new OciFormatException($"image {reference}", $"its configuration {blob.Digest} is longer than its descriptor says.");
        }

        return buffer;
    }
}

/// <summary>
/// A registry image source whose content-addressed manifests (those read by digest) come from a store's blobs when it
/// has them, and are kept there when fetched (<see cref="RegistryBaseImages.Documents"/>).
/// </summary>
internal sealed class StoredDocuments(RegistryImageSource from, OciLayout store) : IImageSource
{
    /// <inheritdoc/>
    public string Name => from.Name;

    /// <inheritdoc/>
    public Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default) => from.ResolveAsync(cancellationToken);

    /// <inheritdoc/>
    public async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        if (await ReadAsync(store, descriptor, cancellationToken).ConfigureAwait(false) is { } bytes)
        {
            return ManifestDocument.Parse(bytes, descriptor);
        }

        var document = await from.ReadManifestAsync(descriptor, cancellationToken).ConfigureAwait(false);
        await KeepAsync(store, document.Bytes, descriptor, cancellationToken).ConfigureAwait(false);
        return document;
    }

    /// <inheritdoc/>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default) => from.OpenBlobAsync(descriptor, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => from.DisposeAsync();

    /// <summary>A document the store holds, verified; null when it has none (or a damaged one: it is fetched again).</summary>
    internal static async Task<ReadOnlyMemory<byte>?> ReadAsync(OciLayout? store, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (store is null || !store.ContainsBlob(descriptor.Digest))
        {
            return null;
        }

        try
        {
            return await store.ReadBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Keeps a fetched document in the store; one that cannot be written is only not kept.</summary>
    internal static async Task KeepAsync(OciLayout? store, ReadOnlyMemory<byte> bytes, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return;
        }

        try
        {
            await store.WriteBlobAsync(bytes, descriptor.MediaType, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException)
        {
            // A full or read-only store: the next read fetches it again.
        }
    }
}

/// <summary>An image read from a registry without its layers (<see cref="RegistryBaseImages.ReadAsync"/>).</summary>
/// <param name="Repository">Where it was read: the reference (pinned to the digest a trust policy admitted), whose repository holds its layers.</param>
/// <param name="Image">The image (configuration and layer descriptors).</param>
/// <param name="Manifest">Its platform manifest, exact bytes.</param>
public sealed record RemoteImage(ImageReference Repository, Images.Image Image, Images.ManifestDocument Manifest);
