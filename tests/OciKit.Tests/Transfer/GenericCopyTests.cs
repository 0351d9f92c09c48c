using System.Collections.Concurrent;
using System.Text;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

/// <summary>The one copy algorithm over <see cref="IImageSource"/> and <see cref="IImageSink"/>, with in-memory fakes.</summary>
public sealed class GenericCopyTests
{
    [Fact]
    public async Task Blobs_come_before_their_manifest_children_before_the_index_and_the_top_is_tagged_last()
    {
        var source = new FakeSource();
        var amd = source.AddImage("amd64", 3);
        var arm = source.AddImage("arm64", 2);
        var index = source.AddIndex(amd with { Platform = Platform.LinuxAmd64 }, arm with { Platform = Platform.Parse("linux/arm64") });
        var sink = new FakeSink();
        using var client = new RegistryClient();

        var result = await new ImageCopier(client).CopyAsync(source, sink);

        Assert.Equal(index.Digest, result.Descriptor.Digest);
        Assert.Equal((1 + 3) + (1 + 2), result.BlobsUploaded);
        var log = sink.Log.ToList();
        foreach (var child in new[] { amd, arm })
        {
            var manifest = source.Manifest(child.Digest).Manifest!;
            var manifestAt = log.IndexOf("manifest " + child.Digest);
            Assert.True(manifestAt >= 0, $"{child.Digest} was not put");
            Assert.All(manifest.Layers.Append(manifest.Config), b => Assert.InRange(log.IndexOf("blob " + b.Digest), 0, manifestAt - 1));
        }

        Assert.Equal(["tag " + index.Digest, "complete"], log[^2..]);
        Assert.DoesNotContain("manifest " + index.Digest, log);
    }

    [Fact]
    public async Task Blobs_the_sink_has_are_not_read_and_are_counted_present()
    {
        var source = new FakeSource();
        var top = source.AddImage("one", 3);
        var manifest = source.Manifest(top.Digest).Manifest!;
        var sink = new FakeSink();
        sink.Present.TryAdd(manifest.Layers[1].Digest, 0);
        sink.Present.TryAdd(manifest.Config.Digest, 0);
        using var client = new RegistryClient();

        var result = await new ImageCopier(client).CopyAsync(source, sink);

        Assert.Equal((2, 2, 0), (result.BlobsUploaded, result.BlobsPresent, result.BlobsMounted));
        Assert.DoesNotContain(manifest.Layers[1].Digest, source.Opened);
        Assert.DoesNotContain(manifest.Config.Digest, source.Opened);
        Assert.Contains(manifest.Layers[0].Digest, source.Opened);
    }

    [Fact]
    public async Task At_most_max_concurrent_transfers_blobs_move_at_once()
    {
        var source = new FakeSource();
        source.AddImage("wide", 9);
        var sink = new FakeSink { Gate = 2 };
        using var client = new RegistryClient(new RegistryClientOptions { MaxConcurrentTransfers = 2 });

        var result = await new ImageCopier(client).CopyAsync(source, sink);

        Assert.Equal(10, result.BlobsUploaded);
        Assert.Equal(2, sink.MaxInFlight);
    }

    [Fact]
    public async Task A_failing_blob_fails_the_copy_and_nothing_is_tagged_or_completed()
    {
        var source = new FakeSource();
        var top = source.AddImage("broken", 3);
        var bad = source.Manifest(top.Digest).Manifest!.Layers[2];
        source.Failing = bad.Digest;
        var sink = new FakeSink();
        using var client = new RegistryClient();

        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => new ImageCopier(client).CopyAsync(source, sink));

        Assert.Equal(bad.Digest, e.Expected);
        Assert.DoesNotContain(sink.Log, l => l.StartsWith("tag", StringComparison.Ordinal) || l.StartsWith("manifest", StringComparison.Ordinal) || l == "complete");
    }

    [Fact]
    public async Task A_platform_is_picked_out_of_the_index_and_a_missing_one_names_the_source()
    {
        var source = new FakeSource();
        var amd = source.AddImage("amd64", 1);
        var arm = source.AddImage("arm64", 1);
        source.AddIndex(amd with { Platform = Platform.LinuxAmd64 }, arm with { Platform = Platform.Parse("linux/arm64") });
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);

        var sink = new FakeSink();
        var result = await copier.CopyAsync(source, sink, Platform.Parse("linux/arm64"));

        Assert.Equal(arm.Digest, result.Descriptor.Digest);
        Assert.Equal("tag " + arm.Digest, sink.Log.ToArray()[^2]);
        Assert.DoesNotContain("manifest " + amd.Digest, sink.Log);
        var missing = await Assert.ThrowsAsync<ImageNotFoundException>(() => copier.CopyAsync(source, new FakeSink(), Platform.Parse("linux/s390x")));
        Assert.Contains("fake-source", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_index_child_the_source_lacks_is_left_out_but_a_missing_blob_of_a_manifest_fails()
    {
        var source = new FakeSource();
        var present = source.AddImage("present", 1);
        var absent = source.AddImage("absent", 1);
        var index = source.AddIndex(present, absent);
        source.Remove(absent.Digest);
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);

        var sink = new FakeSink();
        Assert.Equal(index.Digest, (await copier.CopyAsync(source, sink)).Descriptor.Digest);
        Assert.Contains("manifest " + present.Digest, sink.Log);
        Assert.DoesNotContain("manifest " + absent.Digest, sink.Log);

        var layer = source.Manifest(present.Digest).Manifest!.Layers[0];
        source.Remove(layer.Digest);
        var e = await Assert.ThrowsAsync<BlobNotFoundException>(() => copier.CopyAsync(source, new FakeSink()));
        Assert.Equal(layer.Digest, e.Digest);
    }

    [Fact]
    public async Task Indexes_nested_deeper_than_the_limit_are_refused()
    {
        var source = new FakeSource();
        var top = source.AddImage("deep", 1);
        for (var i = 0; i <= ImageIndex.MaxDepth; i++)
        {
            top = source.AddIndex(top);
        }

        using var client = new RegistryClient();
        var e = await Assert.ThrowsAsync<OciFormatException>(() => new ImageCopier(client).CopyAsync(source, new FakeSink()));
        Assert.Contains("nested too deeply", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Manifests and blobs in memory; the last index or image added is the top.</summary>
    internal sealed class FakeSource : IImageSource
    {
        private readonly ConcurrentDictionary<Digest, byte[]> _blobs = new();
        private readonly ConcurrentDictionary<Digest, ManifestDocument> _manifests = new();
        private ManifestDocument? _top;

        public string Name => "fake-source";

        public ConcurrentBag<Digest> Opened { get; } = [];

        public Digest? Failing { get; set; }

        public Descriptor AddImage(string name, int layers)
        {
            var config = AddBlob(MediaTypes.OciConfig, $"{{\"architecture\":\"{name}\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[]}}}}");
            var layerDescriptors = Enumerable.Range(0, layers).Select(i => AddBlob(MediaTypes.OciLayerGzip, $"{name} layer {i}")).ToList();
            return Add(ManifestDocument.FromManifest(new ImageManifest(config, [.. layerDescriptors])));
        }

        public Descriptor AddIndex(params Descriptor[] children) => Add(ManifestDocument.FromIndex(new ImageIndex([.. children])));

        public ManifestDocument Manifest(Digest digest) => _manifests[digest];

        public void Remove(Digest digest)
        {
            _blobs.TryRemove(digest, out _);
            _manifests.TryRemove(digest, out _);
        }

        public Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default) => Task.FromResult(_top!);

        public Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default) =>
            _manifests.TryGetValue(descriptor.Digest, out var document) ? Task.FromResult(document) : throw new BlobNotFoundException(descriptor.Digest, Name);

        public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
        {
            Opened.Add(descriptor.Digest);
            if (descriptor.Digest.Equals(Failing))
            {
                throw new DigestMismatchException($"blob {descriptor.Digest}", descriptor.Digest, Digest.ComputeSha256([1]));
            }

            return _blobs.TryGetValue(descriptor.Digest, out var bytes) ? Task.FromResult<Stream>(new MemoryStream(bytes)) : throw new BlobNotFoundException(descriptor.Digest, Name);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private Descriptor AddBlob(string mediaType, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var descriptor = new Descriptor(mediaType, Digest.ComputeSha256(bytes), bytes.Length);
            _blobs[descriptor.Digest] = bytes;
            return descriptor;
        }

        private Descriptor Add(ManifestDocument document)
        {
            _manifests[document.Digest] = document;
            _top = document;
            return document.Descriptor;
        }
    }

    /// <summary>Records what it is given, in order; <see cref="Gate"/> holds blob puts until that many are in flight.</summary>
    internal sealed class FakeSink : IImageSink
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        private int _maxInFlight;

        public string Name => "fake-sink";

        public ConcurrentDictionary<Digest, byte> Present { get; } = new();

        public ConcurrentQueue<string> Log { get; } = new();

        public int Gate { get; init; }

        public int MaxInFlight => _maxInFlight;

        public Task<bool> HasBlobAsync(Descriptor blob, CancellationToken cancellationToken = default) => Task.FromResult(Present.ContainsKey(blob.Digest));

        public async Task<BlobUploadOutcome> PutBlobAsync(Descriptor blob, ImageManifest manifest, IImageSource from, CancellationToken cancellationToken = default)
        {
            var now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref _maxInFlight, now);
            try
            {
                if (Gate > 0)
                {
                    if (now >= Gate)
                    {
                        _gate.TrySetResult();
                    }

                    await _gate.Task.WaitAsync(cancellationToken);
                }

                if (Present.ContainsKey(blob.Digest))
                {
                    return BlobUploadOutcome.AlreadyPresent;
                }

                await using var stream = await from.OpenBlobAsync(blob, cancellationToken);
                await stream.CopyToAsync(Stream.Null, cancellationToken);
                Present.TryAdd(blob.Digest, 0);
                Log.Enqueue("blob " + blob.Digest);
                return BlobUploadOutcome.Uploaded;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        public Task PutManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default)
        {
            Log.Enqueue("manifest " + document.Digest);
            return Task.CompletedTask;
        }

        public Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default)
        {
            Log.Enqueue("tag " + top.Digest);
            return Task.CompletedTask;
        }

        public Task CompleteAsync(CancellationToken cancellationToken = default)
        {
            Log.Enqueue("complete");
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private static void InterlockedMax(ref int target, int value)
        {
            int current;
            while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
            {
            }
        }
    }
}
