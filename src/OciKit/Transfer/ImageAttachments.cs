using System.Collections.Immutable;
using System.Net;
using OciKit.Images;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.Transfer;

/// <summary>One attachment <see cref="ImageAttachments.CopyAsync"/> copied.</summary>
/// <param name="Subject">The digest it is attached to.</param>
/// <param name="Manifest">The attachment's manifest (or index), the same digest in both repositories.</param>
/// <param name="Tag">For a cosign signature manifest, its tag (<c>sha256-&lt;hex&gt;.sig</c>); null for a referrer.</param>
public sealed record CopiedAttachment(Digest Subject, Descriptor Manifest, string? Tag);

/// <summary>
/// The manifests attached to an image in a registry and what copies them to another repository: the cosign signature
/// manifest tagged <c>&lt;alg&gt;-&lt;hex&gt;.sig</c>, and the OCI 1.1 referrers (artifacts whose <c>subject</c> is the
/// image: SBOMs, attestations), listed by the referrers API or the <c>&lt;alg&gt;-&lt;hex&gt;</c> fallback tag's
/// index. Referrers of referrers (a signed SBOM) are followed, up to <see cref="MaxDepth"/> levels.
/// </summary>
/// <param name="client">The registry client (both repositories are reached through it).</param>
public sealed class ImageAttachments(RegistryClient client)
{
    /// <summary>How many levels of referrers of referrers are followed.</summary>
    public const int MaxDepth = 4;

    /// <summary>
    /// Copies the attachments of each subject digest from one repository to another, after the subjects themselves
    /// were copied (with their digests kept): each manifest with its blobs, by digest, a signature manifest under its
    /// tag; then, when the destination's referrers API does not list the copied referrers (a registry without it), the
    /// destination's fallback tag index is extended with them, as distribution-spec asks of a client.
    /// </summary>
    /// <param name="source">The source repository (a tag or digest in it is ignored).</param>
    /// <param name="destination">The destination repository (a tag or digest in it is ignored).</param>
    /// <param name="subjects">The digests whose attachments are copied (an image's manifest, an index and its children).</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    /// <returns>What was copied, in order.</returns>
    /// <exception cref="RegistryException">A registry failed.</exception>
    /// <exception cref="OciFormatException">An attachment, or the destination's fallback tag, is not a valid manifest or index.</exception>
    public async Task<IReadOnlyList<CopiedAttachment>> CopyAsync(ImageReference source, ImageReference destination, IEnumerable<Digest> subjects, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(subjects);
        var from = ImageReference.Create(source.Registry, source.Repository);
        var to = ImageReference.Create(destination.Registry, destination.Repository);
        var copier = new ImageCopier(client);
        var copied = new List<CopiedAttachment>();
        var seen = new HashSet<Digest>();
        var pending = new Queue<(Digest Subject, int Depth)>(subjects.Select(s => (s, 0)));
        while (pending.TryDequeue(out var next))
        {
            var (subject, depth) = next;
            if (!seen.Add(subject))
            {
                continue;
            }

            var signatureTag = CosignSignatures.SignatureTag(subject);
            if (await ExistsAsync(from.WithTag(signatureTag), cancellationToken).ConfigureAwait(false))
            {
                var signature = await copier.CopyAsync(new RegistryImageSource(client, from.WithTag(signatureTag)), new RegistryImageSink(client, to.WithTag(signatureTag)), null, cancellationToken).ConfigureAwait(false);
                copied.Add(new CopiedAttachment(subject, signature.Descriptor, signatureTag));
            }

            var referrers = await client.GetReferrersAsync(from, subject, null, cancellationToken).ConfigureAwait(false);
            if (referrers.Count == 0)
            {
                continue;
            }

            foreach (var referrer in referrers)
            {
                await copier.CopyAsync(new RegistryImageSource(client, from.WithDigest(referrer.Digest)), new RegistryImageSink(client, to.WithDigest(referrer.Digest)), null, cancellationToken).ConfigureAwait(false);
                copied.Add(new CopiedAttachment(subject, referrer, null));
                if (depth + 1 < MaxDepth)
                {
                    pending.Enqueue((referrer.Digest, depth + 1));
                }
            }

            // A registry with the referrers API lists what was pushed with a subject; one without it needs the index.
            var listed = await client.GetReferrersAsync(to, subject, null, cancellationToken).ConfigureAwait(false);
            var unlisted = referrers.Where(r => !listed.Any(l => l.Digest == r.Digest)).ToList();
            if (unlisted.Count > 0)
            {
                await ReferrersFallback.AppendAsync(client, to, subject, unlisted, cancellationToken).ConfigureAwait(false);
            }
        }

        return copied;
    }

    private async Task<bool> ExistsAsync(ImageReference reference, CancellationToken cancellationToken)
        => await client.HeadManifestAsync(reference, cancellationToken).ConfigureAwait(false) is not null;
}

/// <summary>The referrers tag schema of distribution-spec v1.1, kept by clients for registries without the referrers API.</summary>
internal static class ReferrersFallback
{
    /// <summary>The fallback tag of a subject: its digest with <c>:</c> replaced by <c>-</c>.</summary>
    public static string Tag(Digest subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        return subject.Algorithm + "-" + subject.Encoded;
    }

    /// <summary>Reads the subject's fallback index (none yet: an empty one), appends the descriptors it does not list, and puts it back.</summary>
    public static async Task AppendAsync(RegistryClient client, ImageReference repository, Digest subject, IReadOnlyList<Descriptor> referrers, CancellationToken cancellationToken)
    {
        var tag = ImageReference.Create(repository.Registry, repository.Repository, Tag(subject));
        ImmutableArray<Descriptor> manifests = [];
        try
        {
            var existing = await client.GetManifestAsync(tag, cancellationToken).ConfigureAwait(false);
            var document = ManifestDocument.Parse(existing.Bytes, existing.MediaType);
            manifests = document.Index?.Manifests
                ?? throw new OciFormatException($"referrers tag {tag}", $"it names a {document.MediaType}, not an index");
        }
        catch (RegistryException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // No referrer yet: the index starts empty.
        }

        var added = referrers.Where(r => !manifests.Any(d => d.Digest == r.Digest)).DistinctBy(r => r.Digest).ToList();
        if (added.Count == 0)
        {
            return;
        }

        var index = ManifestDocument.FromIndex(new ImageIndex(manifests.AddRange(added)));
        await client.PutManifestAsync(tag, index.Bytes, index.MediaType, cancellationToken).ConfigureAwait(false);
    }
}
