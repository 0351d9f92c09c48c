using System.Collections.Immutable;
using OciKit.Build;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Publish;

/// <summary>One layer <see cref="Containerizer"/> added on top of the base image.</summary>
/// <param name="Kind">Which part of the application it holds.</param>
/// <param name="Layer">Its blob descriptor, diffID and uncompressed size.</param>
/// <param name="FileCount">How many files it holds.</param>
/// <param name="Reused">
/// Whether the layer was not written because an earlier publish made it from the same files (same paths, modes and
/// contents) with the same options: taken from the local store, or from the registry cache (<see cref="ContainerizedLayer.CacheSource"/>).
/// </param>
public sealed record ContainerizedLayer(PublishLayerKind Kind, LayerInfo Layer, int FileCount, bool Reused = false)
{
    /// <summary>
    /// For a reused layer: where its record came from, <c>local</c> (the store's own cache) or the registry cache
    /// repository (<see cref="ContainerizeRequest.CacheRepository"/>); null for a layer written.
    /// </summary>
    public string? CacheSource { get; init; }
}

/// <summary>One platform's image that <see cref="Containerizer"/> built.</summary>
/// <param name="Platform">Its platform.</param>
/// <param name="Manifest">Its manifest's descriptor.</param>
/// <param name="BaseManifest">The base image's (platform-specific) manifest it was built on.</param>
/// <param name="Layers">The layers added on top of the base, lowest first.</param>
public sealed record ContainerizedImage(Platform Platform, Descriptor Manifest, Descriptor BaseManifest, ImmutableArray<ContainerizedLayer> Layers);

/// <summary>What <see cref="Containerizer.ContainerizeAsync(ContainerizeRequest, IProgress{string}?, CancellationToken)"/> produced.</summary>
/// <param name="Manifest">The image manifest's descriptor (an index's for several platforms); its digest is the image's digest.</param>
/// <param name="LocalName">The image's name in the local store when <see cref="Stored"/> (else the name it was pushed as, not in the store).</param>
/// <param name="References">Every reference the image was pushed or tagged as, by tag (registry or local names).</param>
/// <param name="Images">The image of each platform, in request order.</param>
/// <param name="BlobsUploaded">Blobs whose bytes were sent to the registry (0 when nothing was pushed).</param>
/// <param name="BlobsReused">Blobs the registry already had or mounted from the base's repository.</param>
/// <param name="ArchivePath">The archive written, if one was asked for.</param>
public sealed record ContainerizeResult(
    Descriptor Manifest,
    string LocalName,
    ImmutableArray<string> References,
    ImmutableArray<ContainerizedImage> Images,
    int BlobsUploaded,
    int BlobsReused,
    string? ArchivePath)
{
    /// <summary>The signature manifest (<c>sha256-&lt;hex&gt;.sig</c>) the pushed image was signed into, with <see cref="ContainerizeRequest.SigningKey"/>; else null.</summary>
    public ContainerSignature? Signature { get; init; }

    /// <summary>The SBOM artifacts attached with <see cref="ContainerizeRequest.GenerateSbom"/>, one per platform image (empty without it).</summary>
    public ImmutableArray<ContainerSbom> Sboms { get; init; } = [];

    /// <summary>
    /// Whether the image was recorded in the local store under <see cref="LocalName"/>; false for an image only pushed
    /// (see <see cref="ContainerizeRequest.KeepInStore"/>), whose new layers are in the store's blobs but which the store
    /// does not list.
    /// </summary>
    public bool Stored { get; init; } = true;
}

/// <summary>A signature <see cref="Containerizer"/> made.</summary>
/// <param name="Reference">The signature manifest's reference (<c>registry/repository:sha256-&lt;hex&gt;.sig</c>).</param>
/// <param name="Manifest">The signature manifest's digest.</param>
/// <param name="KeyFingerprint">The signing key's public key fingerprint.</param>
public sealed record ContainerSignature(string Reference, Digest Manifest, Digest KeyFingerprint);

/// <summary>An SBOM <see cref="Containerizer"/> generated and attached.</summary>
/// <param name="Artifact">The SPDX artifact manifest's digest (the same in the store and the registry).</param>
/// <param name="Subject">The platform image manifest it describes.</param>
/// <param name="Packages">How many packages it lists.</param>
public sealed record ContainerSbom(Digest Artifact, Digest Subject, int Packages);

/// <summary>
/// Turns a published .NET application into an image, the way <c>dotnet publish -t:OciPublish</c> does: pulls (or
/// reuses) the base image, writes one deterministic layer per <see cref="PublishLayerKind"/>, applies the container
/// configuration and the standard OCI labels, stores the result in the local store, then pushes it and/or writes an
/// archive. An image only pushed (<see cref="ContainerizeRequest.KeepInStore"/>) is not stored and its base's layers are
/// not pulled: it is pushed from memory, the store's blobs and the base's repository (<see cref="ComposedImageSource"/>).
/// An unchanged application gives the same digest either way, and a push then uploads nothing.
/// </summary>
/// <param name="store">The local store the base is pulled into and the image is stored in.</param>
/// <param name="client">The registry client for the base and the push.</param>
public sealed class Containerizer(OciLayout store, RegistryClient client)
{
    // Layer entries get a fixed mtime, not the image's creation time: the creation time follows the last commit, and
    // mtimes that followed it would change the runtime and package layers' digests on every commit. Layers are written
    // with OCI media types whatever the image's format: the bytes are the same, and appending a layer to an image gives
    // it the image's flavor of media type.
    private static readonly LayerOptions LayerOptionsOci = new() { Timestamp = DateTimeOffset.UnixEpoch };

    /// <summary>Builds the image a request describes and delivers it where the request says.</summary>
    /// <param name="request">The files, base, configuration and destination.</param>
    /// <param name="progress">Receives one line per step (no secrets), optional.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The image's digest and what was done.</returns>
    /// <exception cref="ArgumentException">The request is invalid (no files, an invalid repository or tag, an entrypoint without command).</exception>
    /// <exception cref="ImageNotFoundException">The base image does not exist, or not for the platform.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    /// <exception cref="OciException">The base image or the store is unusable.</exception>
    public Task<ContainerizeResult> ContainerizeAsync(ContainerizeRequest request, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ContainerizeAsync([request], progress, cancellationToken);
    }

    /// <summary>
    /// Builds one image per platform (each request holds one platform's publish output) and delivers them as one
    /// multi-platform image index; a single request gives a plain image.
    /// </summary>
    /// <param name="requests">One request per platform; they must agree on where the result goes (repository, tags,
    /// registry, format, archive) and name distinct platforms.</param>
    /// <param name="progress">Receives one line per step (no secrets), optional.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The image's (or index's) digest and what was done.</returns>
    /// <exception cref="ArgumentException">The requests are invalid or disagree.</exception>
    /// <exception cref="NotSupportedException">Several platforms with a Docker archive, which holds single-platform images only.</exception>
    /// <exception cref="ImageNotFoundException">A base image does not exist, or not for its platform.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    /// <exception cref="OciException">A base image or the store is unusable.</exception>
    public Task<ContainerizeResult> ContainerizeAsync(IReadOnlyList<ContainerizeRequest> requests, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
        => ContainerizeAsync(requests, null, progress, cancellationToken);

    /// <summary>
    /// <see cref="ContainerizeAsync(IReadOnlyList{ContainerizeRequest}, IProgress{string}?, CancellationToken)"/>, taking
    /// the reads a <paramref name="prefetch"/> started for the same target, cache and base (made with this client and
    /// store); what it read for others is read afresh.
    /// </summary>
    /// <param name="requests">One request per platform (see the other overload).</param>
    /// <param name="prefetch">Reads started ahead, optional; its caller still disposes it.</param>
    /// <param name="progress">Receives one line per step (no secrets), optional.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The image's (or index's) digest and what was done.</returns>
    /// <exception cref="ArgumentException">The requests are invalid or disagree.</exception>
    /// <exception cref="NotSupportedException">Several platforms with a Docker archive, which holds single-platform images only.</exception>
    /// <exception cref="ImageNotFoundException">A base image does not exist, or not for its platform.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    /// <exception cref="OciException">A base image or the store is unusable.</exception>
    public async Task<ContainerizeResult> ContainerizeAsync(IReadOnlyList<ContainerizeRequest> requests, ContainerizePrefetch? prefetch, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var first = requests.Count > 0 ? requests[0] : throw new ArgumentException("At least one request is needed.", nameof(requests));
        ValidateTogether(requests);
        var targets = Targets(first);

        // With a registry to push to, blobs go up while the image is built (see EarlyUploads); the push below then
        // finds them there.
        var pushTarget = first.Registry is null ? null : ImageReference.Parse(targets[0]);
        var early = pushTarget is null ? null : prefetch?.TakeEarly(pushTarget) ?? StartEarlyUploads(client, pushTarget);

        // A publish uploads at least a new layer and its configuration: their upload sessions are opened now, beside
        // the first reads, unless a prefetch opened them already (ContainerizePrefetch.PrepareUploads).
        early?.PrepareSessions();
        try
        {
            return await ContainerizeAsync(requests, targets, early, prefetch, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (early is not null)
            {
                await early.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The early uploads of a push to <paramref name="target"/>, the target's manifest being read.</summary>
    internal static EarlyUploads StartEarlyUploads(RegistryClient client, ImageReference target)
    {
        var early = new EarlyUploads(client, target);
        early.ReadTargetManifest();
        return early;
    }

    private async Task<ContainerizeResult> ContainerizeAsync(IReadOnlyList<ContainerizeRequest> requests, ImmutableArray<string> targets, EarlyUploads? early, ContainerizePrefetch? prefetch, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var first = requests[0];
        var keep = KeepsStoreCopy(first);
        var images = ImmutableArray.CreateBuilder<ContainerizedImage>(requests.Count);
        var built = new List<BuiltImage>(requests.Count);
        var baseLayers = new Dictionary<Digest, BlobLocation>();
        var recorded = new List<(string Key, LayerInfo Info)>();
        // The registry cache's records are read (or were, by a prefetch) while the base is read and the files hashed:
        // only a layer that is neither small nor in the store's cache waits for them (WriteLayerAsync).
        var reading = prefetch?.TakeCache(first.CacheRepository, progress) ?? PublishCache.ReadAsync(client, first.CacheRepository, progress, cancellationToken);
        try
        {
            foreach (var request in requests)
            {
                var (image, result, baseSource, keys) = await BuildAsync(request, keep, early, reading, prefetch, progress, cancellationToken).ConfigureAwait(false);
                built.Add(image);
                images.Add(result);
                recorded.AddRange(keys);
                foreach (var layer in baseSource?.Image.Layers ?? [])
                {
                    baseLayers.TryAdd(layer.Digest, new BlobLocation.InRepository(baseSource!.Repository));
                }
            }
        }
        catch
        {
            // Not left running against a client the caller may dispose next; the build's failure is the one reported.
            await ((Task)reading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }

        // The registry cache records every layer but the small ones the store's cache found or the writer wrote, once
        // its records are read. Nothing else waits for them: the images were built (their configurations went up) and
        // the image is pushed meanwhile; only the cache's own write follows them. (A layer taken from the cache was
        // taken once they were read, so the blobs it left in the registry are known by now when there are any.)
        var cacheReady = RecordAsync(reading, recorded);
        var leftInRegistry = reading.IsCompletedSuccessfully ? reading.Result.LeftInRegistry : [];

        // The layers' records go to the registry cache, their blobs mounted from the target. The records name only this
        // publish's layers: once those uploads are confirmed they are written, beside the config's upload and the
        // manifest's put (a chain of round trips that otherwise followed both; records only name blobs the registry
        // holds, so they are right even should the push fail). When a layer's upload failed, they are written after the
        // push, which uploads what is missing.
        using var cacheCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var caching = early is null ? null : WriteCacheOnceLayersAreThereAsync(cacheReady, early, progress, cacheCancel.Token);
        if (caching is null)
        {
            await cacheReady.ConfigureAwait(false);
        }

        var localName = targets[0];
        IImageSource pushed;
        Descriptor manifest;
        if (keep)
        {
            try
            {
                manifest = built.Count == 1
                    ? await store.WriteImageAsync(built[0], localName, cancellationToken).ConfigureAwait(false)
                    : await store.WriteIndexAsync(built, localName, null, cancellationToken).ConfigureAwait(false);
                for (var i = 1; i < targets.Length && first.Registry is null; i++)
                {
                    await store.TagAsync(targets[i], manifest, cancellationToken).ConfigureAwait(false);
                }
            }
            catch when (caching is not null)
            {
                // The cache's write is not left running against a client the caller may dispose next.
                await cacheCancel.CancelAsync().ConfigureAwait(false);
                await ((Task)caching).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                throw;
            }

            progress?.Report($"Image {localName}@{manifest.Digest} stored in {store.Root}");
            pushed = new OciLayoutImageSource(store, localName);
        }
        else
        {
            // Only pushed: the manifests and configurations from memory, the new layers from the store's blobs, the base's
            // layers from its repository. The store records no image (one whose base layers it lacks would be half there).
            var top = built.Count == 1 ? built[0].Manifest : BuiltImage.IndexOf(built);
            manifest = top.Descriptor;
            var blobs = new Dictionary<Digest, BlobLocation>(baseLayers);
            foreach (var (digest, repository) in leftInRegistry)
            {
                blobs.TryAdd(digest, new BlobLocation.InRepository(repository));
            }

            foreach (var image in built)
            {
                blobs[image.Config.Digest] = new BlobLocation.InMemory(image.ConfigBytes);
                foreach (var layer in image.Layers)
                {
                    blobs.TryAdd(layer.Digest, new BlobLocation.InStore(store));
                }
            }

            pushed = new ComposedImageSource(client, localName, top, built.Count == 1 ? [] : built.Select(b => b.Manifest), blobs);
            progress?.Report($"Image {localName}@{manifest.Digest} built, not stored: only pushed (KeepInStore keeps a copy in {store.Root})");
        }

        int uploaded = 0, reused = 0;
        await using (pushed.ConfigureAwait(false))
        {
            if (early is not null && caching is not null)
            {
                var target = early.Target;
                var (earlyUploaded, confirmed, presumed, failures) = await early.CompleteAsync().ConfigureAwait(false);
                foreach (var failure in failures)
                {
                    progress?.Report($"Retrying in the push: {failure}");
                }

                // The one delivery step: the blobs the early uploads confirmed are not asked for again, anything else is
                // checked and uploaded if missing (with retries) before the manifest is put under the first name; the
                // other names are tags of the same repository.
                var pushing = PushAsync(pushed, targets, confirmed, presumed, progress, cancellationToken);
                var releasing = early.ReleaseSpareSessionsAsync();

                // All end before anything is reported; a failed push is the failure reported (the first of WhenAll's).
                await Task.WhenAll(pushing, caching, releasing).ConfigureAwait(false);
                var delivered = await pushing.ConfigureAwait(false);
                var push = delivered.Pushed;
                uploaded = push.BlobsUploaded + earlyUploaded;
                reused = Math.Max(0, push.BlobsMounted + push.BlobsPresent - earlyUploaded);
                progress?.Report($"Pushed {target}@{push.Descriptor.Digest}: {uploaded} blob(s) uploaded, {reused} reused");
                foreach (var reference in delivered.Tagged)
                {
                    progress?.Report($"Tagged {reference}");
                }

                if (!await caching.ConfigureAwait(false))
                {
                    await (await cacheReady.ConfigureAwait(false)).WriteAsync(client, store, target, progress, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        var sboms = first.GenerateSbom
            ? await AttachSbomsAsync(localName, images, early?.Target, progress, cancellationToken).ConfigureAwait(false)
            : [];
        ContainerSignature? signature = null;
        if (first.SigningKey is { } key && early is not null)
        {
            var signed = early.Target.WithDigest(manifest.Digest);
            var (_, signatureManifest) = await Signing.CosignSignatures.SignAsync(client, signed, key, cancellationToken).ConfigureAwait(false);
            var reference = Signing.CosignSignatures.SignatureReference(signed, manifest.Digest).ToString();
            signature = new ContainerSignature(reference, signatureManifest, key.PublicKey.Fingerprint);
            progress?.Report($"Signed {signed} with key {key.PublicKey.Fingerprint}: {reference} ({signatureManifest})");
        }

        string? archive = null;
        if (first.ArchiveOutputPath is { Length: > 0 } path)
        {
            var docker = built[0].Manifest.MediaType == MediaTypes.DockerManifest;
            archive = await WriteArchiveAsync(path, first.Repository, localName, docker, cancellationToken).ConfigureAwait(false);
            progress?.Report($"Archive written to {archive}");
        }

        return new ContainerizeResult(manifest, localName, targets, images.MoveToImmutable(), uploaded, reused, archive) { Signature = signature, Sboms = sboms, Stored = keep };
    }

    /// <summary>
    /// <see cref="ImageDelivery.PushAsync(RegistryClient, IImageSource, IReadOnlyList{string}, PushOptions?, CancellationToken)"/>
    /// with the blobs known to be there. Should the registry refuse the manifest for a blob that was only presumed there
    /// (named by the target's manifest, <see cref="EarlyUploads.ReadTargetManifest"/>), the push runs once more asking for
    /// each of those.
    /// </summary>
    private async Task<DeliveredPush> PushAsync(IImageSource pushed, ImmutableArray<string> targets, IReadOnlySet<Digest> confirmed, IReadOnlySet<Digest> presumed, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        try
        {
            return await ImageDelivery.PushAsync(client, pushed, targets, new PushOptions { KnownBlobs = confirmed }, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException ex) when (presumed.Count > 0 && ex.HasCode(RegistryErrorCodes.ManifestBlobUnknown))
        {
            progress?.Report($"The registry lacks a blob its manifest under {targets[0]} names ({ex.Message}); pushing again, asking for every blob");
            var known = confirmed.Except(presumed).ToHashSet();
            return await ImageDelivery.PushAsync(client, pushed, targets, new PushOptions { KnownBlobs = known }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the image is recorded in the local store: when asked, when there is no registry, and for the steps that
    /// read it from there (the archive, the SBOM); signing keeps it too, as it always has.
    /// </summary>
    internal static bool KeepsStoreCopy(ContainerizeRequest request) =>
        request.KeepInStore || request.Registry is null || request.ArchiveOutputPath is { Length: > 0 } || request.SigningKey is not null || request.GenerateSbom;

    /// <summary>Generates each platform image's SBOM from the store and attaches it there and, when pushed, in the registry.</summary>
    private async Task<ImmutableArray<ContainerSbom>> AttachSbomsAsync(string localName, ImmutableArray<ContainerizedImage>.Builder images, ImageReference? pushed, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var result = ImmutableArray.CreateBuilder<ContainerSbom>(images.Count);
        foreach (var image in images)
        {
            Sbom.SbomResult sbom;
            var source = new OciLayoutImageSource(store, localName);
            await using (source.ConfigureAwait(false))
            {
                var name = ImageReference.TryParse(pushed?.ToString() ?? localName, out var reference) ? Sbom.SbomGenerator.ImageNameOf(reference) : localName;
                sbom = await new Sbom.SbomGenerator().GenerateAsync(source, new Sbom.SbomOptions { Platform = image.Platform, ImageName = name }, cancellationToken).ConfigureAwait(false);
            }

            foreach (var warning in sbom.Warnings)
            {
                progress?.Report("SBOM warning: " + warning);
            }

            var artifact = await Sbom.SbomStore.AttachAsync(store, localName, sbom, cancellationToken).ConfigureAwait(false);
            if (pushed is not null)
            {
                await new Sbom.SbomReferrers(client).AttachAsync(pushed, sbom, cancellationToken).ConfigureAwait(false);
            }

            result.Add(new ContainerSbom(artifact.Digest, sbom.Image.Digest, sbom.Packages.Length));
            progress?.Report($"SBOM {artifact.Digest} ({sbom.Packages.Length} packages) attached to {sbom.Image.Digest}{(pushed is null ? " in the store" : $" in the store and {pushed.Registry}")}");
        }

        return result.ToImmutable();
    }

    private static void ValidateTogether(IReadOnlyList<ContainerizeRequest> requests)
    {
        var first = requests[0];
        var platforms = new HashSet<Platform>();
        foreach (var request in requests)
        {
            ArgumentNullException.ThrowIfNull(request, nameof(requests));
            if (requests.Count == 1)
            {
                break;
            }

            if (request.Platform is null || !platforms.Add(request.Platform))
            {
                throw new ArgumentException("Each platform of a multi-platform image needs a platform of its own.", nameof(requests));
            }

            if (request.Repository != first.Repository || request.Registry != first.Registry || request.Format != first.Format
                || request.ArchiveOutputPath != first.ArchiveOutputPath || !request.Tags.SequenceEqual(first.Tags))
            {
                throw new ArgumentException("The platforms of a multi-platform image must agree on repository, tags, registry, format and archive.", nameof(requests));
            }
        }

        if (first.SigningKey is not null && first.Registry is null)
        {
            throw new ArgumentException("A signing key needs a registry to push to: cosign signatures are stored beside the image there.", nameof(requests));
        }

        if (requests.Count > 1 && first.Format == ContainerImageFormat.Docker && first.ArchiveOutputPath is { Length: > 0 })
        {
            throw new NotSupportedException("A Docker archive holds single-platform images; write an OCI archive for several platforms.");
        }
    }

    /// <summary>
    /// Writes the registry cache's records as the early uploads of the layers they name go on (the records blob goes up
    /// meanwhile, the cache's manifest is put once they are confirmed); false, writing nothing, when one of them failed
    /// (the push uploads it, and the records follow the push).
    /// </summary>
    private async Task<bool> WriteCacheOnceLayersAreThereAsync(Task<PublishCache> ready, EarlyUploads early, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var cache = await ready.ConfigureAwait(false);
        return await cache.WriteAsync(client, store, early.Target, progress, cancellationToken, early.ConfirmedAsync(cache.LayerBlobs)).ConfigureAwait(false);
    }

    /// <summary>The registry cache once read, with the keys of this publish's layers recorded.</summary>
    private static async Task<PublishCache> RecordAsync(Task<PublishCache> reading, List<(string Key, LayerInfo Info)> recorded)
    {
        var cache = await reading.ConfigureAwait(false);
        foreach (var (key, info) in recorded)
        {
            cache.Add(key, info);
        }

        return cache;
    }

    private async Task<(BuiltImage Image, ContainerizedImage Result, RemoteImage? BaseSource, IReadOnlyList<(string Key, LayerInfo Info)> Recorded)> BuildAsync(ContainerizeRequest request, bool keep, EarlyUploads? early, Task<PublishCache> cache, ContainerizePrefetch? prefetch, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var layers = PublishLayers.Split(request.Files);
        if (layers.IsEmpty)
        {
            throw new ArgumentException("The publish output has no files.", nameof(request));
        }

        var platform = request.Platform ?? Platform.Current;
        progress?.Report($"{(keep ? "Pulling" : "Reading")} base image {request.BaseImage} ({platform})");
        var pull = keep ? PullBaseAsync(request.BaseImage, platform, request.TrustPolicy, cancellationToken)
            : prefetch?.TakeBase(request.BaseImage, platform, request.TrustPolicy) ?? ReadBaseAsync(client, store, request.BaseImage, platform, request.TrustPolicy, cancellationToken);

        // Content digests of the published files (for the layer keys), read while the base is pulled. They are
        // remembered in the store by path, size and mtime (shared with the build engine), so the files of an
        // unchanged publish output are not read again.
        var digests = new FileDigestCache(store.Root);
        var hashing = FileDigestsAsync(layers, digests, cancellationToken);

        // The new layers' bytes do not depend on the base (their media types follow the image's format when they are
        // appended), so they are written, and streamed to the registry, while the base is read; with a trust policy only
        // once the base is admitted. The base's layers go up as soon as the base is known.
        var basing = StartBaseUploadsAsync(pull, request.BaseImage, early);
        var writing = WriteLayersAsync(layers, request.WorkingDirectory, hashing, request.TrustPolicy is null ? Task.CompletedTask : pull, early, cache, keep, progress, cancellationToken);
        await Task.WhenAll(basing, writing).ConfigureAwait(false);
        var (baseDescriptor, baseImage, _, note) = await pull.ConfigureAwait(false);
        var (written, recorded) = await writing.ConfigureAwait(false);
        if (request.Platform is not null && !baseImage.Config.Platform.Satisfies(platform))
        {
            throw new ImageNotFoundException(request.BaseImage.ToString(), request.BaseImage.Registry, $"it is an image for {baseImage.Config.Platform}, not {platform}");
        }

        progress?.Report($"Base image {request.BaseImage}@{baseDescriptor.Digest}: {note}");
        var created = request.Created ?? ContainerizeRequest.DefaultCreated();
        var image = request.Format switch
        {
            ContainerImageFormat.Oci => baseImage.WithManifestMediaType(MediaTypes.OciManifest),
            ContainerImageFormat.Docker => baseImage.WithManifestMediaType(MediaTypes.DockerManifest),
            _ => baseImage,
        };

        var added = ImmutableArray.CreateBuilder<ContainerizedLayer>(layers.Length);
        for (var i = 0; i < layers.Length; i++)
        {
            var layer = layers[i];
            var (info, source) = written[i];
            var reused = source is not null;
            image = image.AppendLayer(info.Descriptor, info.DiffId, new HistoryEntry
            {
                Created = created,
                CreatedBy = $"ocikit publish: {layer.Kind} layer ({layer.Files.Length} files)",
            });
            added.Add(new ContainerizedLayer(layer.Kind, info with { Descriptor = image.Layers[^1] }, layer.Files.Length, reused) { CacheSource = source });
            progress?.Report($"Layer {layer.Kind}: {layer.Files.Length} file(s), {info.UncompressedSize} bytes → {info.Descriptor.Digest}{source switch { null => "", LocalCacheSource => " (unchanged, reused)", _ => $" (unchanged, reused from {source})" }}");
        }

        var built = Configure(image, request, baseImage, baseDescriptor.Digest, created).Build() with { Platform = baseImage.Config.Platform };
        early?.Start(built.Config, built.ConfigBytes);

        // After the configuration's upload has started: a file write that is not on the push's path.
        digests.Save();
        return (built, new ContainerizedImage(baseImage.Config.Platform, built.Manifest.Descriptor, baseDescriptor, added.MoveToImmutable()), (await pull.ConfigureAwait(false)).Remote, recorded);
    }

    /// <summary>Once the base is known, starts its layers' early uploads: mounted from its repository when it is on the target's registry, else read from the store (pulled) or streamed from its registry.</summary>
    private async Task StartBaseUploadsAsync(Task<(Descriptor Manifest, Image Image, RemoteImage? Remote, string Note)> pull, ImageReference reference, EarlyUploads? early)
    {
        var (_, baseImage, remote, _) = await pull.ConfigureAwait(false);
        if (early is null)
        {
            return;
        }

        var mountFrom = RegistryClient.MountSource(remote?.Repository ?? reference, early.Target);
        var from = remote is null ? null : new RegistryImageSource(client, remote.Repository);
        foreach (var baseLayer in baseImage.Layers)
        {
            if (from is null)
            {
                early.Start(baseLayer, store, mountFrom);
            }
            else
            {
                early.Start(baseLayer, from, mountFrom);
            }
        }
    }

    /// <summary>
    /// Writes (or finds unchanged in the store) every new layer, in order, once <paramref name="gate"/> has passed; with
    /// the keys the registry cache is to record them under (all but those taken from it).
    /// </summary>
    private async Task<((LayerInfo Info, string? Source)[] Written, List<(string Key, LayerInfo Info)> Recorded)> WriteLayersAsync(ImmutableArray<PublishLayer> layers, string workingDirectory, Task<string[][]> hashing, Task gate, EarlyUploads? early, Task<PublishCache> reading, bool keep, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        await gate.ConfigureAwait(false);
        var localEntries = new LayerCache(store.Root).HasEntries;
        var written = new (LayerInfo Info, string? Source)[layers.Length];
        var recorded = new List<(string Key, LayerInfo Info)>(layers.Length);
        for (var i = 0; i < layers.Length; i++)
        {
            var (info, source, key) = await WriteLayerAsync(layers[i], workingDirectory, LayerOptionsOci, hashing, i, localEntries, early, reading, keep, progress, cancellationToken).ConfigureAwait(false);
            written[i] = (info, source);
            if (key is not null)
            {
                recorded.Add((key, info));
            }
        }

        return (written, recorded);
    }

    /// <summary>Whether a layer's files hold at most <see cref="SmallLayerBytes"/> (one stat per file, stopping past the bound).</summary>
    private static bool IsSmall(PublishLayer layer)
    {
        long total = 0;
        foreach (var file in layer.Files)
        {
            var info = new FileInfo(file.SourcePath);
            total += info.Exists ? info.Length : 0;
            if (total > SmallLayerBytes)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The most a layer's files may hold for it to be left out of the registry cache (<see cref="WriteLayerAsync"/>).</summary>
    private const long SmallLayerBytes = 1024 * 1024;

    /// <summary>The base pulled into the store, layers and all (for an image that is stored).</summary>
    private async Task<(Descriptor Manifest, Image Image, RemoteImage? Remote, string Note)> PullBaseAsync(ImageReference reference, Platform platform, Signing.TrustPolicy? policy, CancellationToken cancellationToken)
    {
        var pulled = await new RegistryBaseImages(client).PullResultAsync(reference, platform, store, policy, cancellationToken).ConfigureAwait(false);
        var image = (await store.ReadImageAsync(pulled.Descriptor, platform, cancellationToken).ConfigureAwait(false)).Image;
        return (pulled.Descriptor, image, null, $"{pulled.BlobsDownloaded} blob(s) downloaded, {pulled.BlobsPresent} already stored");
    }

    /// <summary>The base's manifest and configuration only (for an image that is only pushed: its layers stay in the registry).</summary>
    internal static async Task<(Descriptor Manifest, Image Image, RemoteImage? Remote, string Note)> ReadBaseAsync(RegistryClient client, OciLayout store, ImageReference reference, Platform platform, Signing.TrustPolicy? policy, CancellationToken cancellationToken)
    {
        var remote = await new RegistryBaseImages(client) { Documents = store }.ReadAsync(reference, platform, policy, cancellationToken).ConfigureAwait(false);
        return (remote.Manifest.Descriptor, remote.Image, remote, $"manifest and configuration read, its {remote.Image.Layers.Length} layer(s) left in the registry");
    }

    /// <summary>The content digest of every file of every layer, in the order of the layers and of their files.</summary>
    private static async Task<string[][]> FileDigestsAsync(ImmutableArray<PublishLayer> layers, FileDigestCache digests, CancellationToken cancellationToken)
    {
        // Off the caller's thread, so the base's pull (started first) sends its requests meanwhile; on every core, as a
        // publish that looks its layers up waits for all of them (a self-contained app's 80 MB, unless remembered).
        await Task.Yield();
        var result = new string[layers.Length][];
        var files = new List<(int Layer, int File)>();
        for (var i = 0; i < layers.Length; i++)
        {
            result[i] = new string[layers[i].Files.Length];
            for (var j = 0; j < layers[i].Files.Length; j++)
            {
                files.Add((i, j));
            }
        }

        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(files, options, async (file, ct) =>
            result[file.Layer][file.File] = await digests.GetAsync(layers[file.Layer].Files[file.File].SourcePath, ct).ConfigureAwait(false)).ConfigureAwait(false);
        return result;
    }

    /// <summary>The names the image gets: <c>registry/repository:tag</c> per tag, or <c>repository:tag</c> in the local store.</summary>
    private static ImmutableArray<string> Targets(ContainerizeRequest request)
    {
        if (request.Tags.IsDefaultOrEmpty)
        {
            throw new ArgumentException("At least one tag is needed.", nameof(request));
        }

        var builder = ImmutableArray.CreateBuilder<string>(request.Tags.Length);
        foreach (var tag in request.Tags)
        {
            if (!ImageReference.IsValidTag(tag))
            {
                throw new ArgumentException($"'{tag}' is not a valid tag.", nameof(request));
            }

            var name = request.Registry is null ? $"{request.Repository}:{tag}" : $"{request.Registry}/{request.Repository}:{tag}";
            if (!ImageReference.TryParse(request.Registry is null ? "localhost/" + name : name, out _))
            {
                throw new ArgumentException($"'{request.Repository}' is not a valid repository name.", nameof(request));
            }

            builder.Add(name);
        }

        return builder.MoveToImmutable();
    }

    /// <summary>Applies the request's container configuration, labels and annotations on top of the layered image.</summary>
    internal static Image Configure(Image image, ContainerizeRequest request, Image baseImage, Digest baseDigest, DateTimeOffset created)
    {
        var baseConfig = baseImage.Config.Config;
        image = image.WithWorkingDir(request.WorkingDirectory).WithCreated(created);
        if (request.User is { Length: > 0 } user)
        {
            image = image.WithUser(user);
        }

        foreach (var (name, value) in request.Environment)
        {
            image = image.WithEnv(name, value);
        }

        foreach (var port in request.Ports)
        {
            image = image.WithExposedPort(port);
        }

        var (entrypoint, cmd) = request.Entrypoint.Resolve(baseConfig?.Entrypoint, baseConfig?.Cmd);
        image = image.WithEntrypoint(entrypoint).WithCmd(cmd);

        // The standard labels first, so a label the user sets explicitly wins.
        var baseName = request.BaseImage.Digest is null ? request.BaseImage.ToString() : request.BaseImage.Name;
        image = image
            .WithLabel(AnnotationKeys.Created, Rfc3339.Format(created))
            .WithLabel(AnnotationKeys.BaseName, baseName)
            .WithLabel(AnnotationKeys.BaseDigest, baseDigest.ToString())
            .WithAnnotation(AnnotationKeys.Created, Rfc3339.Format(created))
            .WithAnnotation(AnnotationKeys.BaseName, baseName)
            .WithAnnotation(AnnotationKeys.BaseDigest, baseDigest.ToString());
        if (request.SourceUrl is { Length: > 0 } source)
        {
            image = image.WithLabel(AnnotationKeys.Source, source).WithAnnotation(AnnotationKeys.Source, source);
        }

        if (request.Revision is { Length: > 0 } revision)
        {
            image = image.WithLabel(AnnotationKeys.Revision, revision).WithAnnotation(AnnotationKeys.Revision, revision);
        }

        foreach (var (key, value) in request.Labels)
        {
            image = image.WithLabel(key, value);
        }

        return image;
    }

    /// <summary>The <see cref="ContainerizedLayer.CacheSource"/> of a layer from the store's own cache.</summary>
    private const string LocalCacheSource = "local";

    /// <summary>
    /// The layer: from the store's cache (when it has entries), else from the registry cache's record, else written.
    /// Returns where a reused layer's record came from (null when written) and the key the registry cache is to record
    /// it under (null for a layer taken from that cache, and for a small one). <paramref name="hashing"/> gives the content digests of every
    /// layer's files (<see cref="FileDigestsAsync"/>), this layer's at <paramref name="index"/>.
    /// </summary>
    private async Task<(LayerInfo Info, string? Source, string? Key)> WriteLayerAsync(PublishLayer layer, string workingDirectory, LayerOptions options, Task<string[][]> hashing, int index, bool localEntries, EarlyUploads? early, Task<PublishCache> reading, bool keep, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        // A layer is a function of its files' paths, modes and contents and of the layer options. Keyed on those, an
        // unchanged layer (the runtime, the packages) is taken from the store instead of being re-tarred and
        // recompressed on every publish; hashing the files is a small fraction of compressing them.
        var local = new LayerCache(store.Root);
        string? key = null;

        // A small layer (the app's own, a few hundred KB) is left out of the registry cache: neither looked up there
        // nor recorded. A record could only name the very blob written here (the key holds every input of the
        // deterministic writer), and writing it costs less than the round trips of reading its record (and checking
        // its blob) on a fresh agent, and of writing the record (the records blob and the cache's manifest, the
        // registry's two costliest requests) on every publish that changes it: a one-line change. The store's own
        // cache still keeps it.
        var small = IsSmall(layer);
        if (localEntries)
        {
            key = LayerKey(layer, workingDirectory, options, (await hashing.ConfigureAwait(false))[index]);
            if (local.TryGet(key, store.ContainsBlob, out var hit) && hit is { Layer: { } cached, DiffId: { } diffId, UncompressedSize: { } size })
            {
                early?.Start(cached, store, null);
                return (new LayerInfo(cached, diffId, size), LocalCacheSource, small ? null : key);
            }
        }

        if (!small && await reading.ConfigureAwait(false) is { HasRecords: true } cache)
        {
            // A record in the registry cache: an image only pushed leaves the blob there (the push mounts it or finds it
            // present); a stored one downloads it, verified against digest and DiffID.
            key ??= LayerKey(layer, workingDirectory, options, (await hashing.ConfigureAwait(false))[index]);
            if (await cache.TryTakeAsync(client, key, keep ? store : null, early, progress, cancellationToken).ConfigureAwait(false) is var (remote, source))
            {
                if (keep)
                {
                    local.Put(key, new LayerCache.Entry(remote.Descriptor, remote.DiffId, remote.UncompressedSize));
                }

                return (remote, source, null);
            }
        }

        // The store's one way in for a new layer: written in a scratch directory, hashed while written, renamed into
        // blobs/ (neither copied nor read again, never half-written), streamed to the registry meanwhile when uploading
        // early. With no cache that could hold it (a cold publish: a new store, no registry cache or an empty one), no
        // key was needed first: the layer is written while the files are hashed (rather than one core idle while a
        // self-contained app's 80 MB are read and hashed), and recorded under its key afterwards.
        var entries = layer.ToEntries(workingDirectory);
        var info = await store.AddLayerAsync(
            (file, ct) => early is null
                ? LayerWriter.WriteAsync(entries, file, options, ct)
                : early.WriteAndUploadAsync(file, options.MediaType, (destination, c) => LayerWriter.WriteAsync(entries, destination, options, c), ct),
            cancellationToken).ConfigureAwait(false);

        key ??= LayerKey(layer, workingDirectory, options, (await hashing.ConfigureAwait(false))[index]);
        local.Put(key, new LayerCache.Entry(info.Descriptor, info.DiffId, info.UncompressedSize));
        return (info, null, small ? null : key);
    }

    private static string LayerKey(PublishLayer layer, string workingDirectory, LayerOptions options, string[] fileDigests)
    {
        // The options' cache identity, not their ToString(): that held the degree of parallelism (the machine's core
        // count, which does not change the bytes) and missed the compressor's version (which does).
        var parts = new List<string> { "ocikit-publish-layer/2", options.CacheIdentity };
        var index = 0;
        foreach (var entry in layer.ToEntries(workingDirectory))
        {
            // ToEntries yields one entry per file, in the order of Files.
            parts.Add(entry.Path);
            parts.Add(((int)entry.Mode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            parts.Add(fileDigests[index++]);
        }

        return LayerCache.Key(parts);
    }

    private async Task<string> WriteArchiveAsync(string path, string repository, string localName, bool docker, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        if (path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar) || Directory.Exists(full))
        {
            full = Path.Combine(full, repository.Replace('/', '-') + ".tar");
        }

        return await new ImageDelivery(store).WriteArchiveAsync(localName, [], full, docker ? ArchiveFormat.Docker : ArchiveFormat.Oci, cancellationToken).ConfigureAwait(false);
    }
}
