using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Publish;

/// <summary>
/// One publish's use of the registry cache (<see cref="ContainerizeRequest.CacheRepository"/>): its records read once
/// before any layer is written, the layers taken from it, and the records of the layers the publish notes
/// (<see cref="Add"/>: all but the small ones) written back after the push.
/// </summary>
internal sealed class PublishCache
{
    private readonly ImageReference? _repository;
    private readonly CacheLookup _lookup;
    private readonly List<CacheRecord> _records = [];

    private PublishCache(ImageReference? repository, CacheLookup lookup)
    {
        _repository = repository;
        _lookup = lookup;
    }

    /// <summary>Layers taken from the cache whose blobs stay in the registry (an image only pushed), by digest: where they are.</summary>
    public Dictionary<Digest, ImageReference> LeftInRegistry { get; } = [];

    /// <summary>Reads the cache repository's records (one manifest and one records blob); no repository, no records.</summary>
    public static async Task<PublishCache> ReadAsync(RegistryClient client, ImageReference? repository, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (repository is null)
        {
            return new PublishCache(null, CacheLookup.Empty);
        }

        var lookup = await new RegistryCache(client).ReadAsync([repository], Warnings(progress), cancellationToken).ConfigureAwait(false);
        progress?.Report($"Cache {repository}: {lookup.Count} record(s) read");
        return new PublishCache(repository, lookup);
    }

    /// <summary>Whether the cache holds any record: without one, no layer can be taken from it.</summary>
    public bool HasRecords => _lookup.Count > 0;

    /// <summary>The layer blobs of the records this publish will write.</summary>
    public IEnumerable<Digest> LayerBlobs => _records.Where(r => r.Layer is not null).Select(r => r.Layer!.Digest);

    /// <summary>Notes a layer of this publish, to be recorded in the cache after the push.</summary>
    public void Add(string key, LayerInfo info)
    {
        if (_repository is not null)
        {
            _records.Add(new CacheRecord(key, info.Descriptor, info.DiffId, info.UncompressedSize));
        }
    }

    /// <summary>
    /// The layer of a key from the cache, when its record is usable (its blob there with its size): downloaded into
    /// <paramref name="store"/> (verified: digest, DiffID) when the image is stored, else left in the registry, and
    /// started towards the target by <paramref name="early"/>. A record that cannot be used is a warning and null.
    /// </summary>
    public async Task<(LayerInfo Info, string Source)?> TryTakeAsync(RegistryClient client, string key, OciLayout? store, EarlyUploads? early, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (!_lookup.TryGet(key, out var hit) || hit.Record is not { Layer: { } layer, DiffId: { } diffId, UncompressedSize: { } size })
        {
            return null;
        }

        var cache = new RegistryCache(client);
        if (!await cache.IsUsableAsync(hit, Warnings(progress), cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var info = new LayerInfo(layer, diffId, size);
        if (store is not null)
        {
            if (!store.ContainsBlob(layer.Digest))
            {
                using var scratch = store.CreateScratchDirectory();
                var path = Path.Combine(scratch.Path, "cached-layer");
                try
                {
                    info = await cache.DownloadLayerAsync(hit, path, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (RegistryCache.IsUnusableRecord(ex))
                {
                    progress?.Report($"Warning: cache record {key[..12]} in {hit.Repository}: {ex.Message}; ignored");
                    return null;
                }

                store.MoveBlobFromFile(path, layer);
            }

            early?.Start(layer, store, null);
        }
        else
        {
            LeftInRegistry[layer.Digest] = hit.Repository;
            if (early is not null)
            {
                early.Start(layer, new RegistryImageSource(client, hit.Repository), RegistryClient.MountSource(hit.Repository, early.Target));
            }
        }

        Add(key, info);
        return (info, hit.Repository.ToString());
    }

    /// <summary>
    /// Records this publish's layers in the cache once they are in <paramref name="pushedTo"/> (their blobs mounted
    /// from there; when the cache is in that repository, the push put them there). Nothing is written when the cache
    /// read before held every record already, with the same layer. A cache that cannot be written is a warning: the
    /// image is pushed.
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="store">Where blobs the cache's repository lacks can be read from.</param>
    /// <param name="pushedTo">Where the image was pushed.</param>
    /// <param name="progress">Receives what was written, and warnings.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <param name="layersThere">
    /// For a write that starts while the layers are still being uploaded: says whether they all reached
    /// <paramref name="pushedTo"/>. The records blob goes up meanwhile; on false nothing is put.
    /// </param>
    /// <returns>False when <paramref name="layersThere"/> said false (nothing written); true otherwise.</returns>
    public async Task<bool> WriteAsync(RegistryClient client, OciLayout store, ImageReference pushedTo, IProgress<string>? progress, CancellationToken cancellationToken, Task<bool>? layersThere = null)
    {
        if (_repository is null || _records.Count == 0)
        {
            return true;
        }

        if (_records.TrueForAll(r => _lookup.TryGet(r.Key, out var hit) && hit.Repository == _repository && hit.Record.Layer?.Digest == r.Layer?.Digest && hit.Record.DiffId == r.DiffId))
        {
            progress?.Report($"Cache {_repository}: all {_records.Count} record(s) held already, nothing written");
            return true;
        }

        try
        {
            // Newest first: the app's own layer, which changes most, ahead of the runtime's.
            var records = Enumerable.Reverse(_records);
            HashSet<Digest>? present = null;
            if (pushedTo.Registry == _repository.Registry && pushedTo.Repository == _repository.Repository)
            {
                // Every layer recorded here went to that repository with the image: confirmed there by its early upload
                // (the cache is written before the push ends only when all were), or by the accepted manifest.
                present = [.. LayerBlobs];
            }

            if (await new RegistryCache(client).WriteWhenReadyAsync(_repository, records, store, pushedTo, present, _lookup, layersThere, Warnings(progress), cancellationToken).ConfigureAwait(false) is not { } result)
            {
                return false;
            }

            progress?.Report($"Cache {_repository}: {result.Written} record(s) written, {result.Records} held");
        }
        catch (RegistryException ex)
        {
            progress?.Report($"Warning: cache {_repository} not written: {ex.Message}");
        }

        return true;
    }

    private static SynchronousWarnings? Warnings(IProgress<string>? progress) => progress is null ? null : new SynchronousWarnings(progress);

    /// <summary>The registry cache's warnings as the publish's progress lines.</summary>
    private sealed class SynchronousWarnings(IProgress<string> progress) : IProgress<string>
    {
        public void Report(string value) => progress.Report("Warning: " + value);
    }
}
