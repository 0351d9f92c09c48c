using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// The build cache shared through a registry repository, so that fresh machines reuse the layers others made: cache
/// records (<see cref="CacheRecord"/>) kept as an OCI artifact under a tag (default <see cref="DefaultTag"/>) of
/// artifact type <see cref="MediaTypes.OciKitCache"/>, whose config is the empty descriptor and whose layers are the
/// records blob (<see cref="MediaTypes.OciKitCacheRecords"/>) and then every layer blob the records name, so that the
/// registry's garbage collection keeps them. No cache server: the registry is the cache.
/// </summary>
/// <remarks>
/// Reads are batched: one manifest and one records blob per repository for a whole build or publish. Nothing read is
/// trusted blindly: a corrupt records blob or record is ignored with a warning; a blob is checked (<c>HEAD</c>, size)
/// only when its record is about to be used (<see cref="IsUsableAsync"/>); a layer taken from the cache is verified
/// against its digest and DiffID when it is downloaded (<see cref="DownloadLayerAsync"/>). Requests use the client's
/// credentials with the scopes a push to the repository uses.
/// </remarks>
/// <param name="client">The registry client (its credentials are the push's).</param>
public sealed class RegistryCache(RegistryClient client)
{
    /// <summary>The tag the cache artifact is kept under when the repository names none.</summary>
    public const string DefaultTag = "ocikit-cache";

    /// <summary>The most records one cache repository keeps; a write drops the oldest beyond it.</summary>
    public const int MaxRecords = 5000;

    /// <summary>A records blob larger than this is not read (about 200 bytes a record).</summary>
    public const long MaxRecordsSize = 4L * 1024 * 1024;

    /// <summary>How many times a write re-reads, merges and puts again when another writer replaced the tag meanwhile.</summary>
    public const int MaxWriteAttempts = 5;

    /// <summary>
    /// How long before the manifest's put the tag may have been checked (read, or found unmoved) for the write to go
    /// unconfirmed. Tags have no compare-and-swap: a writer that checked before our put and puts after it replaces our
    /// records, and one that put between our check and our put is replaced by ours. Confirming after the put (a
    /// <c>HEAD</c>) catches only the first kind, and only within one round trip of the put; with a check this recent
    /// both windows are that short already, and the round trip is left off the publish's path. A lost record costs
    /// another agent a layer written again, never a wrong image.
    /// </summary>
    internal static readonly TimeSpan FreshCheck = TimeSpan.FromSeconds(1);

    /// <summary>The repository and tag a cache location names: <c>REGISTRY/REPOSITORY[:TAG]</c>, the tag <see cref="DefaultTag"/> when absent.</summary>
    /// <param name="text">The location, for example <c>registry.example/team/app</c> or <c>registry.example/team/cache:main</c>.</param>
    /// <returns>The reference (with a tag, without a digest).</returns>
    /// <exception cref="ArgumentException">The text is not a repository reference, or it names a digest.</exception>
    public static ImageReference ParseRepository(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var lastSlash = text.LastIndexOf('/');
        var tagged = text.IndexOf(':', lastSlash + 1) >= 0;
        if (text.Contains('@', StringComparison.Ordinal) || !ImageReference.TryParse(tagged ? text : text + ":" + DefaultTag, out var reference))
        {
            throw new ArgumentException($"'{text}' is not a cache repository (REGISTRY/REPOSITORY[:TAG]).", nameof(text));
        }

        return reference;
    }

    /// <summary>
    /// Reads the cache records of several repositories (one manifest and one records blob each); for a key in several,
    /// the first repository's record wins. A repository without a cache, or whose cache is damaged, is skipped with a
    /// warning; a registry that cannot be reached is a warning too (the build does the work itself).
    /// </summary>
    /// <param name="repositories">The cache repositories, with their tags (<see cref="ParseRepository"/>).</param>
    /// <param name="warnings">Receives a line per problem, optional.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The records found, by key.</returns>
    public async Task<CacheLookup> ReadAsync(IEnumerable<ImageReference> repositories, IProgress<string>? warnings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repositories);
        var found = new Dictionary<string, CacheHit>(StringComparer.Ordinal);
        var snapshots = new Dictionary<ImageReference, CacheSnapshot>();
        foreach (var repository in repositories)
        {
            var (records, digest, absent) = await ReadRecordsAsync(repository, warnings, cancellationToken).ConfigureAwait(false);
            foreach (var record in records)
            {
                found.TryAdd(record.Key, new CacheHit(record, repository));
            }

            if (digest is not null || absent)
            {
                snapshots.TryAdd(repository, new CacheSnapshot(digest, records));
            }
        }

        return new CacheLookup(found, snapshots);
    }

    /// <summary>
    /// Whether a record's layer blob is still in its repository with the record's size (<c>HEAD</c>); a record without
    /// a layer always is. A missing blob or another size is a warning: the step is done again.
    /// </summary>
    /// <param name="hit">The record and its repository.</param>
    /// <param name="warnings">Receives the reason a record is unusable, optional.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns><see langword="true"/> when the record can be used.</returns>
    public async Task<bool> IsUsableAsync(CacheHit hit, IProgress<string>? warnings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hit);
        if (hit.Record.Layer is not { } layer)
        {
            return true;
        }

        long? size;
        try
        {
            size = await client.HeadBlobAsync(hit.Repository, layer.Digest, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException ex)
        {
            warnings?.Report($"cache record {hit.Record.Key[..12]} in {hit.Repository}: could not look its blob up ({ex.Message}); ignored");
            return false;
        }

        if (size != layer.Size)
        {
            warnings?.Report(size is null
                ? $"cache record {hit.Record.Key[..12]} in {hit.Repository}: blob {layer.Digest} is missing; ignored"
                : $"cache record {hit.Record.Key[..12]} in {hit.Repository}: blob {layer.Digest} is {size} bytes, not {layer.Size}; ignored");
            return false;
        }

        return true;
    }

    /// <summary>
    /// Downloads a record's layer into a file, verified on the way: its digest and size against the record's
    /// descriptor, and the uncompressed stream against the record's DiffID (and uncompressed size, when recorded).
    /// </summary>
    /// <param name="hit">The record (with a layer) and its repository.</param>
    /// <param name="path">The file to write; created, or replaced.</param>
    /// <param name="cancellationToken">Cancels the download.</param>
    /// <returns>The layer, as verified.</returns>
    /// <exception cref="DigestMismatchException">The blob or its uncompressed stream does not match the record.</exception>
    /// <exception cref="RegistryException">The registry failed.</exception>
    public async Task<LayerInfo> DownloadLayerAsync(CacheHit hit, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hit);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var layer = hit.Record.Layer ?? throw new ArgumentException("The record has no layer.", nameof(hit));
        var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            await client.DownloadBlobAsync(hit.Repository, layer, file, cancellationToken: cancellationToken).ConfigureAwait(false);
            file.Position = 0;
            var uncompressed = LayerReader.OpenDecompressed(file, layer.MediaType, leaveOpen: true);
            await using (uncompressed.ConfigureAwait(false))
            {
                var counting = new HashingStream(Stream.Null, leaveOpen: true);
                await using (counting.ConfigureAwait(false))
                {
                    await uncompressed.CopyToAsync(counting, cancellationToken).ConfigureAwait(false);
                    var diffId = counting.GetDigest();
                    var where = $"cache record {hit.Record.Key[..12]} in {hit.Repository}";
                    if (diffId != hit.Record.DiffId)
                    {
                        throw new DigestMismatchException($"uncompressed layer {layer.Digest} ({where})", hit.Record.DiffId!, diffId);
                    }

                    if (hit.Record.UncompressedSize is { } expected && expected != counting.BytesWritten)
                    {
                        throw new OciFormatException($"uncompressed layer {layer.Digest} ({where})", $"is {counting.BytesWritten} bytes, not {expected}.");
                    }

                    return new LayerInfo(layer, diffId, counting.BytesWritten);
                }
            }
        }
    }

    /// <summary>
    /// Adds records to a cache repository: the blobs they name that the repository lacks are mounted from
    /// <paramref name="mountFrom"/> (a repository of the same registry they were pushed to) or uploaded from
    /// <paramref name="store"/>; a record whose blob can be neither is left out with a warning. The records are merged
    /// with those already there (read, merge, put; newest first, the oldest dropped beyond <see cref="MaxRecords"/>) and
    /// when another writer replaced the tag meanwhile without them, read, merged and put again, at most
    /// <see cref="MaxWriteAttempts"/> times.
    /// </summary>
    /// <remarks>
    /// What the writer already knows saves requests: with <paramref name="readBefore"/>, when the tag still names the
    /// manifest read then (one <c>HEAD</c>), its records are merged without being downloaded again; blobs in
    /// <paramref name="present"/> are not looked up. The records blob, new content, is uploaded without asking first.
    /// When the tag was checked long before the put (<see cref="FreshCheck"/>: the blobs took that long to get there),
    /// the write is confirmed by the digest the tag names afterwards (one <c>HEAD</c>); only when another writer
    /// replaced it are the records read back.
    /// </remarks>
    /// <param name="repository">The cache repository and tag (<see cref="ParseRepository"/>).</param>
    /// <param name="records">The records to add, newest first.</param>
    /// <param name="store">Where blobs the repository lacks can be read from, optional.</param>
    /// <param name="mountFrom">A repository of the same registry holding the blobs (where the image was pushed), optional.</param>
    /// <param name="present">Blobs known to be in <paramref name="repository"/> (say the layers of an image just pushed there), optional.</param>
    /// <param name="readBefore">What this writer read from the cache earlier (<see cref="ReadAsync"/>), optional.</param>
    /// <param name="warnings">Receives a line per record left out, optional.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>What the cache holds now.</returns>
    /// <exception cref="RegistryException">The registry refused the artifact (for example the credentials cannot push to the repository).</exception>
    public async Task<CacheWriteResult> WriteAsync(
        ImageReference repository,
        IEnumerable<CacheRecord> records,
        OciLayout? store = null,
        ImageReference? mountFrom = null,
        IReadOnlySet<Digest>? present = null,
        CacheLookup? readBefore = null,
        IProgress<string>? warnings = null,
        CancellationToken cancellationToken = default)
        => (await WriteWhenReadyAsync(repository, records, store, mountFrom, present, readBefore, null, warnings, cancellationToken).ConfigureAwait(false))!;

    /// <summary>
    /// <see cref="WriteAsync(ImageReference, IEnumerable{CacheRecord}, OciLayout?, ImageReference?, IReadOnlySet{Digest}?, CacheLookup?, IProgress{string}?, CancellationToken)"/>
    /// for a writer whose blobs are still on their way to the repository: the records blob goes up and the tag is
    /// checked while <paramref name="ready"/> runs; the blobs are looked up and the manifest put only once it says
    /// true. False: nothing is put, and the result is null.
    /// </summary>
    internal async Task<CacheWriteResult?> WriteWhenReadyAsync(
        ImageReference repository,
        IEnumerable<CacheRecord> records,
        OciLayout? store,
        ImageReference? mountFrom,
        IReadOnlySet<Digest>? present,
        CacheLookup? readBefore,
        Task<bool>? ready,
        IProgress<string>? warnings,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(records);
        var ours = new List<CacheRecord>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            if (keys.Add(record.Key))
            {
                ours.Add(record);
            }
        }

        // Every blob first, so that a record is written only once its blob is in the repository, and so that the
        // window between reading the cache and putting it back (where another writer can interleave) is short. Blobs
        // still on their way (ready) are looked up once there; when every one is known present, only the put waits.
        if (ready is not null && !ours.TrueForAll(r => r.Layer is not { } l || present?.Contains(l.Digest) == true))
        {
            if (!await ready.WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            ready = null;
        }

        var mountRepository = mountFrom is null ? null : RegistryClient.MountSource(mountFrom, repository);
        var skipped = 0;
        var ensured = new HashSet<Digest>();
        for (var i = 0; i < ours.Count; i++)
        {
            if (ours[i].Layer is not { } layer || ensured.Contains(layer.Digest))
            {
                continue;
            }

            if (present?.Contains(layer.Digest) == true)
            {
                ensured.Add(layer.Digest);
                continue;
            }

            if (await EnsureBlobAsync(repository, layer, store, mountRepository, cancellationToken).ConfigureAwait(false))
            {
                ensured.Add(layer.Digest);
                continue;
            }

            warnings?.Report($"cache record {ours[i].Key[..12]}: blob {layer.Digest} is not in {repository.Name} and could be neither mounted nor uploaded there; not recorded");
            keys.Remove(ours[i].Key);
            ours.RemoveAt(i--);
            skipped++;
        }

        for (var attempt = 1; ; attempt++)
        {
            List<CacheRecord> merged;
            Task<Descriptor> uploading;
            long checkedAt;
            if (attempt == 1 && readBefore?.Snapshot(repository) is { } snapshot)
            {
                // What was read before is most likely what is there still: the records blob merged with it goes up
                // while one HEAD checks that the tag still names the same manifest (or still none).
                merged = Merge(ours, keys, snapshot.Records);
                uploading = UploadBlobsAsync(repository, merged, configPresent: snapshot.Manifest is not null, cancellationToken);
                Descriptor? now;
                try
                {
                    now = await client.HeadManifestAsync(repository, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await ((Task)uploading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw;
                }

                checkedAt = Stopwatch.GetTimestamp();
                if (now?.Digest != snapshot.Manifest)
                {
                    // Another writer put the tag meanwhile: that upload was for nothing; read, merge, upload again.
                    await ((Task)uploading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    (merged, uploading) = await ReadAndMergeAsync(repository, ours, keys, warnings, cancellationToken).ConfigureAwait(false);
                    checkedAt = Stopwatch.GetTimestamp();
                }
            }
            else
            {
                (merged, uploading) = await ReadAndMergeAsync(repository, ours, keys, warnings, cancellationToken).ConfigureAwait(false);
                checkedAt = Stopwatch.GetTimestamp();
            }

            if (ready is not null)
            {
                var there = await ready.WaitAsync(cancellationToken).ConfigureAwait(false);
                ready = null;
                if (!there)
                {
                    await ((Task)uploading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    return null;
                }
            }

            Digest written;
            try
            {
                written = await PutManifestAsync(repository, merged, await uploading.ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException ex) when (ex.HasCode(RegistryErrorCodes.ManifestBlobUnknown))
            {
                // A blob of an earlier record is gone (garbage collected, deleted): those records go, then put again
                // (with the empty config: the missing blob may be it).
                await PruneMissingAsync(repository, merged, ensured, warnings, cancellationToken).ConfigureAwait(false);
                var recordsBlob = await UploadBlobsAsync(repository, merged, configPresent: false, cancellationToken).ConfigureAwait(false);
                written = await PutManifestAsync(repository, merged, recordsBlob, cancellationToken).ConfigureAwait(false);
            }

            // No compare-and-swap on tags: a writer that read before our put and puts after us replaces our records.
            // Checked just before the put, the window is a round trip either way (FreshCheck). Otherwise the tag still
            // naming what we put settles it; if it does not, read back, and when ours are missing from what is there
            // now, merge again.
            if (Stopwatch.GetElapsedTime(checkedAt) < FreshCheck
                || (await client.HeadManifestAsync(repository, cancellationToken).ConfigureAwait(false))?.Digest == written)
            {
                return new CacheWriteResult(written, merged.Count, ours.Count, skipped, attempt);
            }

            var (current, digest, _) = await ReadRecordsAsync(repository, warnings, cancellationToken).ConfigureAwait(false);
            if (digest == written || attempt >= MaxWriteAttempts || ContainsAll(current, ours))
            {
                return new CacheWriteResult(digest ?? written, current.Count, ours.Count, skipped, attempt);
            }
        }
    }

    /// <summary>Reads what the tag holds now, merges ours in, and starts the merged records' upload.</summary>
    private async Task<(List<CacheRecord> Merged, Task<Descriptor> Uploading)> ReadAndMergeAsync(
        ImageReference repository, List<CacheRecord> ours, HashSet<string> keys, IProgress<string>? warnings, CancellationToken cancellationToken)
    {
        var (existing, digest, _) = await ReadRecordsAsync(repository, warnings, cancellationToken).ConfigureAwait(false);
        var merged = Merge(ours, keys, existing);

        // The empty config is there when a cache artifact was (it is the artifact's config).
        return (merged, UploadBlobsAsync(repository, merged, configPresent: digest is not null, cancellationToken));
    }

    /// <summary>Ours first (newest first), then the others' not replaced by ours, at most <see cref="MaxRecords"/>.</summary>
    private static List<CacheRecord> Merge(List<CacheRecord> ours, HashSet<string> keys, IReadOnlyList<CacheRecord> existing)
    {
        var merged = new List<CacheRecord>(ours);
        foreach (var record in existing)
        {
            if (merged.Count >= MaxRecords)
            {
                break;
            }

            if (!keys.Contains(record.Key))
            {
                merged.Add(record);
            }
        }

        if (merged.Count > MaxRecords)
        {
            merged.RemoveRange(MaxRecords, merged.Count - MaxRecords);
        }

        return merged;
    }

    /// <summary>Leaves out the records whose blob the repository no longer has (with its size); ours were just checked.</summary>
    private async Task PruneMissingAsync(ImageReference repository, List<CacheRecord> records, HashSet<Digest> ensured, IProgress<string>? warnings, CancellationToken cancellationToken)
    {
        var present = new Dictionary<Digest, bool>();
        for (var i = records.Count - 1; i >= 0; i--)
        {
            if (records[i].Layer is not { } layer || ensured.Contains(layer.Digest))
            {
                continue;
            }

            if (!present.TryGetValue(layer.Digest, out var there))
            {
                there = await client.HeadBlobAsync(repository, layer.Digest, cancellationToken).ConfigureAwait(false) == layer.Size;
                present[layer.Digest] = there;
            }

            if (!there)
            {
                warnings?.Report($"cache {repository}: record {records[i].Key[..12]} names blob {layer.Digest}, which is gone; dropped");
                records.RemoveAt(i);
            }
        }
    }

    private static bool ContainsAll(List<CacheRecord> records, List<CacheRecord> ours)
    {
        // Beyond the bound the oldest are dropped by design; only a cache with room must hold ours.
        if (records.Count >= MaxRecords)
        {
            return true;
        }

        var keys = new HashSet<string>(records.Select(r => r.Key), StringComparer.Ordinal);
        return ours.All(r => keys.Contains(r.Key));
    }

    /// <summary>Makes sure the repository holds a blob: present, mounted, or uploaded from the store.</summary>
    private async Task<bool> EnsureBlobAsync(ImageReference repository, Descriptor blob, OciLayout? store, string? mountFrom, CancellationToken cancellationToken)
    {
        if (store is not null && store.ContainsBlob(blob.Digest))
        {
            var outcome = await client.UploadBlobAsync(repository, blob, _ => Task.FromResult(store.OpenBlob(blob.Digest)), mountFrom, cancellationToken: cancellationToken).ConfigureAwait(false);
            return outcome is BlobUploadOutcome.AlreadyPresent or BlobUploadOutcome.Mounted or BlobUploadOutcome.Uploaded;
        }

        if (await client.HeadBlobAsync(repository, blob.Digest, cancellationToken).ConfigureAwait(false) == blob.Size)
        {
            return true;
        }

        if (mountFrom is null)
        {
            return false;
        }

        try
        {
            var outcome = await client.UploadBlobAsync(repository, blob, _ => throw new BlobNotAvailableException(), mountFrom, cancellationToken: cancellationToken).ConfigureAwait(false);
            return outcome is BlobUploadOutcome.AlreadyPresent or BlobUploadOutcome.Mounted;
        }
        catch (BlobNotAvailableException)
        {
            // The registry did not mount it (another registry's blob, or one the source repository lost).
            return false;
        }
    }

    /// <summary>
    /// Uploads the records blob (new content: without asking first) and, unless known present, the empty config (two
    /// bytes: sending them costs less than asking), side by side; returns the records blob's descriptor.
    /// </summary>
    private async Task<Descriptor> UploadBlobsAsync(ImageReference repository, List<CacheRecord> records, bool configPresent, CancellationToken cancellationToken)
    {
        var bytes = CacheRecordJson.Serialize(records);
        var recordsBlob = new Descriptor(MediaTypes.OciKitCacheRecords, Digest.ComputeSha256(bytes), bytes.Length);
        var uploads = new List<Task> { client.UploadWithoutCheckAsync(repository, recordsBlob, bytes, cancellationToken) };
        if (!configPresent)
        {
            uploads.Add(client.UploadWithoutCheckAsync(repository, EmptyDescriptor.Descriptor, EmptyDescriptor.Bytes, cancellationToken));
        }

        await Task.WhenAll(uploads).ConfigureAwait(false);
        return recordsBlob;
    }

    /// <summary>Puts the artifact manifest (the records blob, then every layer blob the records name) under the repository's tag.</summary>
    private async Task<Digest> PutManifestAsync(ImageReference repository, List<CacheRecord> records, Descriptor recordsBlob, CancellationToken cancellationToken)
    {
        var layers = ImmutableArray.CreateBuilder<Descriptor>(records.Count + 1);
        layers.Add(recordsBlob);
        var listed = new HashSet<Digest>();
        foreach (var record in records)
        {
            if (record.Layer is { } layer && listed.Add(layer.Digest))
            {
                layers.Add(new Descriptor(layer.MediaType, layer.Digest, layer.Size));
            }
        }

        var manifest = new ImageManifest(EmptyDescriptor.Descriptor, layers.ToImmutable()) { ArtifactType = MediaTypes.OciKitCache };
        var document = ManifestDocument.FromManifest(manifest);
        return await client.PutManifestAsync(repository, document.Bytes, document.MediaType, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The records under a repository's tag and the manifest's digest; no records (and a warning for anything but
    /// "no cache yet") when there is no usable cache.
    /// </summary>
    private async Task<(List<CacheRecord> Records, Digest? Digest, bool Absent)> ReadRecordsAsync(ImageReference repository, IProgress<string>? warnings, CancellationToken cancellationToken)
    {
        ManifestContent content;
        try
        {
            content = await client.GetManifestAsync(repository, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return ([], null, true);
        }
        catch (RegistryException ex) when (ex is not RegistryAuthenticationException)
        {
            warnings?.Report($"cache {repository}: {ex.Message}; not used");
            return ([], null, false);
        }

        try
        {
            var manifest = ImageManifest.Parse(content.Bytes);
            if (manifest.ArtifactType != MediaTypes.OciKitCache || manifest.Layers.IsDefaultOrEmpty || manifest.Layers[0].MediaType != MediaTypes.OciKitCacheRecords)
            {
                throw new OciFormatException($"cache {repository}", $"is not an OciKit cache (artifact type '{manifest.ArtifactType}').");
            }

            var blob = manifest.Layers[0];
            if (blob.Size > MaxRecordsSize)
            {
                throw new OciFormatException($"cache {repository}", $"has a records blob of {blob.Size} bytes, more than the {MaxRecordsSize} read.");
            }

            using var buffer = new MemoryStream((int)blob.Size);
            await client.DownloadBlobAsync(repository, blob, buffer, cancellationToken: cancellationToken).ConfigureAwait(false);
            var records = CacheRecordJson.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), problem => warnings?.Report($"cache {repository}: {problem}; ignored"));
            return (records, content.Digest, false);
        }
        catch (Exception ex) when (ex is OciFormatException or RegistryException and not RegistryAuthenticationException)
        {
            warnings?.Report($"cache {repository}: {ex.Message}; not used");
            return ([], content.Digest, false);
        }
    }

    /// <summary>
    /// Whether a failure of <see cref="DownloadLayerAsync"/> means the record cannot be used (its blob or uncompressed
    /// stream does not match, the registry failed, the media type cannot be decompressed) rather than a bug.
    /// </summary>
    internal static bool IsUnusableRecord(Exception ex) =>
        ex is DigestMismatchException or OciFormatException or RegistryException or NotSupportedException;

    /// <summary>Thrown by the content opener of a mount-only upload: the blob is nowhere to upload from.</summary>
    private sealed class BlobNotAvailableException : Exception;
}

/// <summary>Cache records read from registry repositories, by key (<see cref="RegistryCache.ReadAsync"/>).</summary>
public sealed class CacheLookup
{
    private readonly Dictionary<string, CacheHit> _records;
    private readonly Dictionary<ImageReference, CacheSnapshot> _snapshots;

    internal CacheLookup(Dictionary<string, CacheHit> records, Dictionary<ImageReference, CacheSnapshot>? snapshots = null)
    {
        _records = records;
        _snapshots = snapshots ?? [];
    }

    /// <summary>No records.</summary>
    public static CacheLookup Empty { get; } = new([]);

    /// <summary>What was read from one repository: the manifest its tag named and all of its records; null when it could not be read.</summary>
    internal CacheSnapshot? Snapshot(ImageReference repository) => _snapshots.GetValueOrDefault(repository);

    /// <summary>How many records were read.</summary>
    public int Count => _records.Count;

    /// <summary>Finds the record of a key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="hit">The record and the repository it came from.</param>
    /// <returns><see langword="true"/> when a record has the key.</returns>
    public bool TryGet(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CacheHit? hit) => _records.TryGetValue(key, out hit);
}

/// <summary>A cache repository as read: the manifest its tag named (null: none, the tag did not exist), and its records.</summary>
/// <param name="Manifest">The cache artifact's digest, or null when there was no cache.</param>
/// <param name="Records">Its records, newest first.</param>
internal sealed record CacheSnapshot(Digest? Manifest, IReadOnlyList<CacheRecord> Records);

/// <summary>A cache record and the registry repository (and tag) it was read from.</summary>
/// <param name="Record">The record.</param>
/// <param name="Repository">Its cache repository; its layer blob is there.</param>
public sealed record CacheHit(CacheRecord Record, ImageReference Repository);

/// <summary>What a cache write left in the repository.</summary>
/// <param name="Manifest">The digest of the cache artifact under the tag now.</param>
/// <param name="Records">How many records the cache holds now.</param>
/// <param name="Written">How many of the given records were written.</param>
/// <param name="Skipped">How many were left out because their blob could not be put into the repository.</param>
/// <param name="Attempts">How many read-merge-put rounds it took (more than one when another writer raced).</param>
public sealed record CacheWriteResult(Digest Manifest, int Records, int Written, int Skipped, int Attempts);
