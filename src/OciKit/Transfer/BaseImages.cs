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
}
