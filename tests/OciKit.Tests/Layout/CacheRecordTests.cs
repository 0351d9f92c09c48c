using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Tests.Layout;

/// <summary>The cache records' one JSON shape (store files and the registry's records blob) and what keys depend on.</summary>
public sealed class CacheRecordTests
{
    private static readonly string[] LayerTypes = [MediaTypes.OciLayerGzip, MediaTypes.OciLayerZstd, MediaTypes.OciLayer, MediaTypes.DockerLayerGzip];

    private static Gen<CacheRecord> Records() =>
        from key in ArbMap.Default.GeneratorFor<Guid>()
        from hasLayer in ArbMap.Default.GeneratorFor<bool>()
        from type in Gen.Elements(LayerTypes)
        from size in Gen.Choose(0, int.MaxValue)
        from uncompressed in Gen.OneOf(Gen.Constant((long?)null), Gen.Choose(0, int.MaxValue).Select(v => (long?)v * 3))
        from content in ArbMap.Default.GeneratorFor<byte[]>()
        select hasLayer
            ? new CacheRecord(Key(key), new Descriptor(type, Digest.ComputeSha256(content), size), Digest.ComputeSha256([.. content, 1]), uncompressed)
            : new CacheRecord(Key(key), null, null);

    private static string Key(Guid seed) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(seed.ToByteArray()));

    [Property(MaxTest = 60)]
    public Property Records_round_trip_through_the_records_blob() => Prop.ForAll(Records().ListOf().ToArbitrary(), records =>
    {
        var distinct = records.DistinctBy(r => r.Key).ToList();
        var read = CacheRecordJson.Parse(CacheRecordJson.Serialize(distinct));
        return read.SequenceEqual(distinct);
    });

    [Fact]
    public void A_malformed_record_is_left_out_with_a_reason_and_the_others_stay()
    {
        var good = new CacheRecord(new string('a', 64), new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256("x"u8), 1), Digest.ComputeSha256("y"u8), 5);
        var json = Encoding.UTF8.GetString(CacheRecordJson.Serialize([good]));
        var damaged = json.Replace("]}", """
            ,{"key":"short"},{"key":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2,"diffId":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},{"key":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"nonsense","size":1,"diffId":"x"},{"key":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":-1,"diffId":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},7]}
            """.Trim(), StringComparison.Ordinal);
        var reasons = new List<string>();
        var read = CacheRecordJson.Parse(Encoding.UTF8.GetBytes(damaged), reasons.Add);
        Assert.Equal([good], read);
        Assert.Equal(5, reasons.Count);
        Assert.Contains(reasons, r => r.Contains("not a layer", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"records\":{}}")]
    public void A_records_blob_that_is_not_the_format_is_an_error(string text) =>
        Assert.Throws<OciFormatException>(() => CacheRecordJson.Parse(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void A_damaged_store_record_is_a_miss_and_the_next_put_repairs_it()
    {
        var root = Directory.CreateTempSubdirectory("ocikit-cache-").FullName;
        try
        {
            var cache = new LayerCache(root);
            var key = new string('e', 64);
            var entry = new LayerCache.Entry(new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256("x"u8), 1), Digest.ComputeSha256("y"u8), 9);
            cache.Put(key, entry);
            Assert.True(cache.TryGet(key, _ => true, out var hit));
            Assert.Equal(entry, hit);
            Assert.False(cache.TryGet(key, _ => false, out _));

            File.WriteAllText(Path.Combine(LayerCache.DirectoryOf(root), key + ".json"), "{\"digest\":");
            Assert.False(cache.TryGet(key, _ => true, out _));
            cache.Put(key, entry);
            Assert.True(cache.TryGet(key, _ => true, out _));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_cache_has_entries_only_once_a_record_is_put_not_for_the_file_digests_alone()
    {
        var root = Directory.CreateTempSubdirectory("ocikit-cache-").FullName;
        try
        {
            var cache = new LayerCache(root);
            Assert.False(cache.HasEntries); // a new store: no cache folder at all

            // The file digests are kept in the same folder, but they are no layer a key could hit.
            var file = Path.Combine(root, "file.txt");
            await File.WriteAllTextAsync(file, "content");
            var digests = new FileDigestCache(root);
            await digests.GetAsync(file, CancellationToken.None);
            digests.Save();
            Assert.True(File.Exists(Path.Combine(LayerCache.DirectoryOf(root), FileDigestCache.FileName)));
            Assert.False(cache.HasEntries);

            cache.Put(new string('a', 64), new LayerCache.Entry(null, null));
            Assert.True(cache.HasEntries);
            Assert.Equal(2, cache.Clear().Removed); // the record and the file digests
            Assert.False(cache.HasEntries);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task File_digests_asked_from_many_threads_at_once_are_all_right_and_all_remembered()
    {
        var root = Directory.CreateTempSubdirectory("ocikit-cache-").FullName;
        try
        {
            var files = Enumerable.Range(0, 64).Select(i => Path.Combine(root, $"file{i}.txt")).ToList();
            foreach (var (file, i) in files.Select((f, i) => (f, i)))
            {
                await File.WriteAllTextAsync(file, $"content {i}");
            }

            // As the publish asks for them: every file at once, on every core.
            var digests = new FileDigestCache(root);
            var read = new string[files.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, files.Count), async (i, ct) => read[i] = await digests.GetAsync(files[i], ct));
            digests.Save();
            Assert.Equal(files.Select(f => Digest.ComputeSha256(File.ReadAllBytes(f)).ToString()), read);

            // Remembered: a new cache answers from the saved digests, not from the files (whose content now differs
            // while their size and mtime are restored).
            foreach (var file in files)
            {
                var mtime = File.GetLastWriteTimeUtc(file);
                var text = await File.ReadAllTextAsync(file);
                await File.WriteAllTextAsync(file, text.Replace("content", "CONTENT", StringComparison.Ordinal));
                File.SetLastWriteTimeUtc(file, mtime);
            }

            var again = new FileDigestCache(root);
            Assert.Equal(read, await Task.WhenAll(files.Select(f => again.GetAsync(f, CancellationToken.None))));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task File_digests_keep_one_entry_per_file_a_build_saw_however_often_it_was_edited_and_the_entries_of_files_it_did_not_see()
    {
        var root = Directory.CreateTempSubdirectory("ocikit-cache-").FullName;
        try
        {
            var edited = Path.Combine(root, "app.dll");
            var other = Path.Combine(root, "other.dll");
            await File.WriteAllTextAsync(other, "other");
            var first = new FileDigestCache(root);
            await first.GetAsync(other, CancellationToken.None);
            first.Save();

            for (var build = 0; build < 5; build++)
            {
                await File.WriteAllTextAsync(edited, $"build {build}" + new string('x', build));
                var digests = new FileDigestCache(root);
                Assert.Equal(Digest.ComputeSha256(File.ReadAllBytes(edited)).ToString(), await digests.GetAsync(edited, CancellationToken.None));
                digests.Save();
            }

            var saved = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(LayerCache.DirectoryOf(root), FileDigestCache.FileName)));
            var paths = saved.RootElement.EnumerateObject().Select(p => p.Name[..p.Name.IndexOf('\0', StringComparison.Ordinal)]).ToList();
            Assert.Equal([edited, other], paths.Order(StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Concurrent_writers_of_the_same_record_all_succeed_and_leave_it_whole()
    {
        var root = Directory.CreateTempSubdirectory("ocikit-cache-").FullName;
        try
        {
            var key = new string('f', 64);
            var entry = new LayerCache.Entry(new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256("x"u8), 1), Digest.ComputeSha256("y"u8), 9);

            // Separate cache objects, as separate builds have; each writes the same key many times at once.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                var cache = new LayerCache(root);
                for (var i = 0; i < 50; i++)
                {
                    cache.Put(key, entry);
                    Assert.True(cache.TryGet(key, _ => true, out var read));
                    Assert.Equal(entry, read);
                }
            })));
            Assert.Single(Directory.GetFiles(LayerCache.DirectoryOf(root)));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void The_layer_options_identity_changes_with_everything_that_changes_the_bytes_and_nothing_else()
    {
        var options = new LayerOptions { Timestamp = DateTimeOffset.UnixEpoch };
        var identity = options.CacheIdentity;
        Assert.NotEqual(identity, (options with { CompressionLevel = LayerCompressionLevel.Smallest }).CacheIdentity);
        Assert.NotEqual(identity, (options with { Compression = LayerCompression.Zstd }).CacheIdentity);
        Assert.NotEqual(identity, (options with { MediaTypeFlavor = LayerMediaTypeFlavor.Docker }).CacheIdentity);
        Assert.NotEqual(identity, (options with { Timestamp = DateTimeOffset.FromUnixTimeSeconds(1) }).CacheIdentity);
        Assert.NotEqual(identity, (options with { GzipBlockSize = LayerOptions.MinGzipBlockSize }).CacheIdentity);
        Assert.NotEqual(identity, (options with { Uid = 1 }).CacheIdentity);

        // The core count does not change the bytes, so machines with other core counts share the keys.
        Assert.Equal(identity, (options with { MaxDegreeOfParallelism = 1 }).CacheIdentity);
        Assert.Equal(identity, (options with { MaxDegreeOfParallelism = 7 }).CacheIdentity);

        // It names the library that compresses.
        Assert.Contains(CompressorIdentity.Of(LayerCompression.Gzip), identity, StringComparison.Ordinal);
        Assert.Contains("zlib:", identity, StringComparison.Ordinal);
        Assert.Contains("zstd:", (options with { Compression = LayerCompression.Zstd }).CacheIdentity, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_OciKit_or_zlib_version_is_another_compressor()
    {
        var baseline = CompressorIdentity.Describe(LayerCompression.Gzip, "1.0.0", "zlib:10.0.1", "zstd:0.8.8");
        Assert.NotEqual(baseline, CompressorIdentity.Describe(LayerCompression.Gzip, "1.0.1", "zlib:10.0.1", "zstd:0.8.8"));
        Assert.NotEqual(baseline, CompressorIdentity.Describe(LayerCompression.Gzip, "1.0.0", "zlib:10.0.2", "zstd:0.8.8"));
        Assert.NotEqual(
            CompressorIdentity.Describe(LayerCompression.Zstd, "1.0.0", "zlib:10.0.1", "zstd:0.8.8"),
            CompressorIdentity.Describe(LayerCompression.Zstd, "1.0.0", "zlib:10.0.1", "zstd:0.8.9"));
        Assert.Equal(LayerCache.Key(["a", baseline]), LayerCache.Key(["a", CompressorIdentity.Describe(LayerCompression.Gzip, "1.0.0", "zlib:10.0.1", "zstd:0.8.8")]));
        Assert.NotEqual(LayerCache.Key(["a", baseline]), LayerCache.Key(["a", CompressorIdentity.Describe(LayerCompression.Gzip, "1.0.1", "zlib:10.0.1", "zstd:0.8.8")]));
    }
}
