using System.Collections.Concurrent;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Publish;

/// <summary>
/// A publish's registry reads started before its files exist: by a process started while the project is still being
/// compiled (the OciKit.MSBuild task's host), so that by the time the files are published the target's manifest, the
/// registry cache's records and the base image are read. Only reads are started: nothing is written before the publish
/// itself. Once a publish is known to follow (the project was compiled anew), <see cref="PrepareUploads"/> opens the
/// upload sessions its new layer and configuration will take; a prefetch disposed without a publish cancels them, so it
/// leaves nothing behind. <see cref="Containerizer"/> takes each read made for the target, cache and base (for this
/// machine's platform, without a trust policy) its requests name, and reads afresh whatever differs. What was read is
/// as old as the prefetch: a tag moved meanwhile is met as a tag moved during a publish is (the push's checks, the
/// cache's merge).
/// </summary>
public sealed class ContainerizePrefetch : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _messages = new();
    private readonly ImageReference? _target;
    private readonly ImageReference? _cacheRepository;
    private readonly ImageReference? _baseImage;
    private EarlyUploads? _early;
    private Task<PublishCache>? _cache;
    private Task<(Descriptor Manifest, Images.Image Image, Transfer.RemoteImage? Remote, string Note)>? _base;

    private ContainerizePrefetch(ImageReference? target, ImageReference? cacheRepository, ImageReference? baseImage)
    {
        _target = target;
        _cacheRepository = cacheRepository;
        _baseImage = baseImage;
    }

    /// <summary>Starts the reads.</summary>
    /// <param name="client">The client the publish will use.</param>
    /// <param name="store">The store the publish will use.</param>
    /// <param name="target">Where the image will be pushed (registry, repository, first tag), optional.</param>
    /// <param name="cacheRepository">The registry cache (<see cref="ContainerizeRequest.CacheRepository"/>), optional.</param>
    /// <param name="baseImage">The base image, optional: read for this machine's platform.</param>
    /// <returns>The reads under way.</returns>
    public static ContainerizePrefetch Start(RegistryClient client, OciLayout store, ImageReference? target, ImageReference? cacheRepository, ImageReference? baseImage)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(store);
        var prefetch = new ContainerizePrefetch(target, cacheRepository, baseImage);
        var progress = new Collecting(prefetch._messages);
        if (target is not null)
        {
            prefetch._early = Containerizer.StartEarlyUploads(client, target);
        }

        if (cacheRepository is not null)
        {
            prefetch._cache = PublishCache.ReadAsync(client, cacheRepository, progress, CancellationToken.None);
        }

        if (baseImage is not null)
        {
            prefetch._base = Containerizer.ReadBaseAsync(client, store, baseImage, Platform.Current, null, CancellationToken.None);
        }

        return prefetch;
    }

    /// <summary>
    /// Opens the upload sessions a publish to the target takes (its new layer's and its configuration's): called once a
    /// publish is known to follow, so that its first uploads do not wait for a round trip each. Nothing without a
    /// target, or once the publish has taken the target's uploads; <see cref="DisposeAsync"/> cancels those no publish took.
    /// </summary>
    public void PrepareUploads() => _early?.PrepareSessions();

    /// <summary>The early uploads started for <paramref name="target"/>, now the caller's; null when made for another.</summary>
    internal EarlyUploads? TakeEarly(ImageReference target)
    {
        if (_early is null || _target is null || _target.ToString() != target.ToString())
        {
            return null;
        }

        var early = _early;
        _early = null;
        return early;
    }

    /// <summary>The cache's read for <paramref name="repository"/> (its progress lines replayed to <paramref name="progress"/> once read); null when made for another.</summary>
    internal Task<PublishCache>? TakeCache(ImageReference? repository, IProgress<string>? progress)
    {
        if (_cache is null || repository is null || _cacheRepository?.ToString() != repository.ToString())
        {
            return null;
        }

        var cache = _cache;
        _cache = null;
        return ReplayAsync(cache, progress);
    }

    /// <summary>The base's read for <paramref name="reference"/> and <paramref name="platform"/>; null when made for another, or with a trust policy to apply.</summary>
    internal Task<(Descriptor Manifest, Images.Image Image, Transfer.RemoteImage? Remote, string Note)>? TakeBase(ImageReference reference, Platform platform, Signing.TrustPolicy? policy)
    {
        if (_base is null || policy is not null || _baseImage?.ToString() != reference.ToString() || platform.ToString() != Platform.Current.ToString())
        {
            return null;
        }

        var read = _base;
        _base = null;
        return read;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_early is { } early)
        {
            _early = null;
            await early.ReleaseSpareSessionsAsync().ConfigureAwait(false);
            await early.DisposeAsync().ConfigureAwait(false);
        }

        // Reads nobody took are waited for (their failures are nobody's), so none outlives the client.
        await (_cache ?? Task.CompletedTask).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await (_base ?? Task.CompletedTask).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task<PublishCache> ReplayAsync(Task<PublishCache> reading, IProgress<string>? progress)
    {
        try
        {
            return await reading.ConfigureAwait(false);
        }
        finally
        {
            while (_messages.TryDequeue(out var message))
            {
                progress?.Report(message);
            }
        }
    }

    private sealed class Collecting(ConcurrentQueue<string> messages) : IProgress<string>
    {
        public void Report(string value) => messages.Enqueue(value);
    }
}
