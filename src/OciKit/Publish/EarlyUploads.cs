using System.Collections.Concurrent;
using System.IO.Pipelines;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Publish;

/// <summary>
/// Starts a push's blob uploads while the image is still being built: the base's layers are mounted (or checked)
/// as soon as the base is pulled, a reused layer as soon as it is found, and a new layer is uploaded while it is being
/// compressed, from the same bytes that go to the store. It only gets ahead: the push that follows
/// (<see cref="ImageDelivery.PushAsync(RegistryClient, IImageSource, IReadOnlyList{string}, PushOptions?, CancellationToken)"/>)
/// takes the blobs an early upload confirmed (uploaded, mounted or found in the target repository) as present without
/// asking again, checks every other blob, uploads what is missing with its retries, and is the one that puts the
/// manifest, so a failed early upload costs time, never correctness, and no manifest ever names a blob the registry lacks.
/// </summary>
internal sealed class EarlyUploads(RegistryClient client, ImageReference target) : IAsyncDisposable
{
    // Enough buffered compressed bytes that a slow request does not stall the compressor at once, bounded so a slow
    // registry cannot make the layer's bytes pile up in memory.
    private const long PauseWriterThreshold = 8 * 1024 * 1024;
    private const long ResumeWriterThreshold = 4 * 1024 * 1024;

    // How many image manifests of an index under the target's tag are read for the blobs they name (a multi-platform
    // image's platforms; past that, blobs are asked for one by one).
    private const int MaxListedManifests = 8;

    private readonly CancellationTokenSource _cancel = new();
    private readonly ConcurrentDictionary<Digest, Task<BlobUploadOutcome?>> _uploads = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<Digest, byte> _presumed = new();
    private Task<IReadOnlySet<Digest>> _listed = Task.FromResult<IReadOnlySet<Digest>>(new HashSet<Digest>());
    private int _sessionsPrepared;

    /// <summary>Where the image is pushed.</summary>
    public ImageReference Target => target;

    /// <summary>
    /// Starts reading the manifest the target's tag names now (or an index's image manifests): the blobs it names are
    /// then taken as present, without a <c>HEAD</c> each, as a registry stores a manifest only once it holds every blob
    /// the manifest names (distribution-spec: <c>MANIFEST_BLOB_UNKNOWN</c>). For a republished image (a one-line change)
    /// that is one request instead of one per base layer, unchanged layer and configuration. Should a registry not keep
    /// that promise, the push's manifest put says which blob is missing and the push asks for every presumed blob again
    /// (<see cref="CompleteAsync"/>'s presumed set). Called before the first <c>Start</c>; a tag that is not there yet
    /// (or cannot be read) presumes nothing.
    /// </summary>
    public void ReadTargetManifest() => _listed = ListedAsync();

    /// <summary>
    /// Opens upload sessions in the target now, once, for the uploads sure to come: a new layer's and the configuration's
    /// (the cache's records, written only when a large layer changed, open their own beside that layer's upload). Each
    /// then takes one instead of asking for its own once its content is ready, a round trip off the path to the
    /// manifest. <see cref="ReleaseSpareSessionsAsync"/> cancels the ones left over. Later calls do nothing.
    /// </summary>
    public void PrepareSessions()
    {
        if (Interlocked.Exchange(ref _sessionsPrepared, 1) == 0)
        {
            client.PrepareUploadSessions(target, 2);
        }
    }

    /// <summary>Cancels the sessions <see cref="PrepareSessions"/> opened that no upload took.</summary>
    /// <returns>When they are cancelled (failures ignored).</returns>
    public Task ReleaseSpareSessionsAsync() => client.ReleasePreparedUploadSessionsAsync(target, _cancel.Token);

    /// <summary>Starts uploading (or mounting from <paramref name="mountFrom"/>) a blob of the store, unless it was started already.</summary>
    public void Start(Descriptor blob, OciLayout store, string? mountFrom) => Start(blob, _ => Task.FromResult(store.OpenBlob(blob.Digest)), mountFrom);

    /// <summary>
    /// Starts uploading (or mounting from <paramref name="mountFrom"/>) a blob read from a source (a base image's
    /// repository, streamed registry to registry when it cannot be mounted), unless it was started already.
    /// </summary>
    public void Start(Descriptor blob, IImageSource from, string? mountFrom) => Start(blob, c => from.OpenBlobAsync(blob, c), mountFrom);

    /// <summary>
    /// Starts uploading a small blob held in memory (an image config), unless it was started already or the target's
    /// manifest names it. Sent without asking first: a new image's configuration is new content (it names the new
    /// layers), and sending a small blob the registry has costs no more than asking.
    /// </summary>
    public void Start(Descriptor blob, ReadOnlyMemory<byte> content) =>
        _uploads.GetOrAdd(blob.Digest, _ => RecordAsync(blob.Digest, UploadUnlessListedAsync(blob.Digest, () => client.UploadWithoutCheckAsync(target, blob, content, _cancel.Token))));

    private void Start(Descriptor blob, Func<CancellationToken, Task<Stream>> open, string? mountFrom) =>
        _uploads.GetOrAdd(blob.Digest, _ => RecordAsync(blob.Digest, UploadUnlessListedAsync(blob.Digest, () => client.UploadBlobAsync(target, blob, open, mountFrom, null, _cancel.Token))));

    private async Task<BlobUploadOutcome> UploadUnlessListedAsync(Digest digest, Func<Task<BlobUploadOutcome>> upload)
    {
        if ((await _listed.ConfigureAwait(false)).Contains(digest))
        {
            _presumed.TryAdd(digest, 0);
            return BlobUploadOutcome.AlreadyPresent;
        }

        return await upload().ConfigureAwait(false);
    }

    /// <summary>The config and layers of the manifest under the target's tag, and of an index's image manifests; none when it cannot be read.</summary>
    private async Task<IReadOnlySet<Digest>> ListedAsync()
    {
        var listed = new HashSet<Digest>();
        try
        {
            var top = await client.GetManifestAsync(target, _cancel.Token).ConfigureAwait(false);
            var document = ManifestDocument.Parse(top.Bytes, top.MediaType);
            var manifests = new List<ImageManifest>();
            if (document.Manifest is { } manifest)
            {
                manifests.Add(manifest);
            }
            else if (document.Index is { } index)
            {
                var children = index.Manifests.Where(m => m.MediaType is MediaTypes.OciManifest or MediaTypes.DockerManifest).Take(MaxListedManifests);
                foreach (var child in await Task.WhenAll(children.Select(ReadImageManifestAsync)).ConfigureAwait(false))
                {
                    if (child is not null)
                    {
                        manifests.Add(child);
                    }
                }
            }

            foreach (var each in manifests)
            {
                listed.Add(each.Config.Digest);
                listed.UnionWith(each.Layers.Select(l => l.Digest));
            }
        }
        catch (Exception ex) when (ex is OciException or HttpRequestException or IOException or OperationCanceledException)
        {
            // No such tag yet (a first push), or unreadable: every blob is asked for, as without this.
        }

        return listed;
    }

    private async Task<ImageManifest?> ReadImageManifestAsync(Descriptor descriptor)
    {
        try
        {
            return (await new RegistryImageSource(client, target).ReadManifestAsync(descriptor, _cancel.Token).ConfigureAwait(false)).Manifest;
        }
        catch (Exception ex) when (ex is OciException or HttpRequestException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> with a stream that writes to <paramref name="file"/> and, at the same time, into
    /// one streamed upload, finished with the digest the writer computed (the registry checks the bytes against it). A
    /// small layer (up to <see cref="RegistryClient.SingleRequestUploadBytes"/>) goes in a single <c>PUT</c> once written,
    /// or not at all when the target's manifest names it (<see cref="ReadTargetManifest"/>).
    /// </summary>
    public async Task<LayerInfo> WriteAndUploadAsync(Stream file, string mediaType, Func<Stream, CancellationToken, Task<LayerInfo>> write, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: PauseWriterThreshold, resumeWriterThreshold: ResumeWriterThreshold, useSynchronizationContext: false));
        var written = new TaskCompletionSource<Descriptor>(TaskCreationOptions.RunContinuationsAsynchronously);
        var upload = UploadStreamAsync(pipe.Reader, written.Task);
        LayerInfo info;
        try
        {
            var tee = new TeeStream(file, pipe.Writer);
            await using (tee.ConfigureAwait(false))
            {
                info = await write(tee, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // The upload sees a failed stream and ends; its session is left for the registry to purge.
            written.TrySetException(ex);
            await pipe.Writer.CompleteAsync(ex).ConfigureAwait(false);
            await upload.ConfigureAwait(false);
            throw;
        }

        // Known before the pipe ends: the upload finishes with the digest the writer computed.
        written.SetResult(info.Descriptor with { MediaType = mediaType });
        await pipe.Writer.CompleteAsync().ConfigureAwait(false);
        _uploads.TryAdd(info.Descriptor.Digest, CheckAsync(upload, info.Descriptor));
        return info;
    }

    /// <summary>
    /// Waits for the uploads of some blobs: whether every one of them was started and is confirmed in the target
    /// (uploaded, mounted or found there).
    /// </summary>
    /// <param name="blobs">The blobs.</param>
    /// <returns><see langword="true"/> when all are there.</returns>
    public async Task<bool> ConfirmedAsync(IEnumerable<Digest> blobs)
    {
        foreach (var digest in blobs)
        {
            // RecordAsync and CheckAsync never throw: a failed upload is null.
            if (!_uploads.TryGetValue(digest, out var upload) || await upload.ConfigureAwait(false) is null)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Waits for every upload started.</summary>
    /// <returns>
    /// How many blobs were uploaded (sent, not mounted or found present); the blobs the target repository is now known
    /// to hold (uploaded, mounted or found there: the push need not check them again); of those, the ones only presumed
    /// there because the target's manifest names them (<see cref="ReadTargetManifest"/>); and one line per upload that
    /// failed (the push retries those).
    /// </returns>
    public async Task<(int Uploaded, IReadOnlySet<Digest> Confirmed, IReadOnlySet<Digest> Presumed, IReadOnlyList<string> Failures)> CompleteAsync()
    {
        await Task.WhenAll(_uploads.Values).ConfigureAwait(false);
        var uploaded = 0;
        var confirmed = new HashSet<Digest>();
        foreach (var (digest, upload) in _uploads)
        {
            if (upload.Result is { } outcome)
            {
                confirmed.Add(digest);
                uploaded += outcome == BlobUploadOutcome.Uploaded ? 1 : 0;
            }
        }

        return (uploaded, confirmed, _presumed.Keys.ToHashSet(), [.. _failures]);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync().ConfigureAwait(false);
        // RecordAsync never throws: this only waits for the requests to end.
        await Task.WhenAll(_uploads.Values).ConfigureAwait(false);
        _cancel.Dispose();
    }

    private async Task<(Descriptor Blob, bool Sent)?> UploadStreamAsync(PipeReader reader, Task<Descriptor> written)
    {
        // Off the caller's thread: the upload's first request must not delay the first compressed block.
        await Task.Yield();
        try
        {
            // A small layer is sent once written (RegistryClient.UploadBlobAsync): by then its digest is known, and one
            // the target's manifest names (the same app written again on a fresh agent) is not sent at all.
            var read = await reader.ReadAtLeastAsync(RegistryClient.SingleRequestUploadBytes, _cancel.Token).ConfigureAwait(false);
            reader.AdvanceTo(read.Buffer.Start);
            if (read.IsCompleted && await written.ConfigureAwait(false) is var blob && (await _listed.ConfigureAwait(false)).Contains(blob.Digest))
            {
                return (blob, false);
            }

            return (await client.UploadBlobAsync(target, reader, written, _cancel.Token).ConfigureAwait(false), true);
        }
        catch (Exception ex)
        {
            // Whatever ended it (the registry, the network, or the layer's own write failing): the push retries the
            // blob from the store, and a failed write is reported by the writer.
            if (!_cancel.IsCancellationRequested)
            {
                _failures.Enqueue($"streamed upload of a layer to {target.Registry}: {ex.Message}");
            }

            return null;
        }
        finally
        {
            // Ends the writer's wait should the upload end early: the layer is still written to the store.
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<BlobUploadOutcome?> CheckAsync(Task<(Descriptor Blob, bool Sent)?> upload, Descriptor expected)
    {
        if (await upload.ConfigureAwait(false) is not var (uploaded, sent))
        {
            return null;
        }

        if (!sent)
        {
            _presumed.TryAdd(expected.Digest, 0);
            return BlobUploadOutcome.AlreadyPresent;
        }

        if (uploaded.Digest == expected.Digest && uploaded.Size == expected.Size)
        {
            return BlobUploadOutcome.Uploaded;
        }

        // Cannot happen unless the tee lost bytes; the registry keeps a blob nothing names, and the push uploads the right one.
        _failures.Enqueue($"streamed upload of {expected.Digest} arrived as {uploaded.Digest} ({uploaded.Size} bytes)");
        return null;
    }

    private async Task<BlobUploadOutcome?> RecordAsync(Digest digest, Task<BlobUploadOutcome> upload)
    {
        try
        {
            return await upload.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OciException or HttpRequestException or IOException or OperationCanceledException)
        {
            if (!_cancel.IsCancellationRequested)
            {
                _failures.Enqueue($"early upload of {digest}: {ex.Message}");
            }

            return null;
        }
    }

    /// <summary>
    /// Writes to a file and into a pipe. Once the pipe's reader is gone (the upload ended), only the file is written.
    /// Written to asynchronously only: a synchronous write would have to block on the pipe's back pressure.
    /// </summary>
    private sealed class TeeStream(Stream file, PipeWriter pipe) : Stream
    {
        private bool _pipeDone;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await file.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (!_pipeDone)
            {
                var result = await pipe.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                _pipeDone = result.IsCompleted;
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => file.FlushAsync(cancellationToken);

        public override void Flush() => file.Flush();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Write asynchronously.");

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
