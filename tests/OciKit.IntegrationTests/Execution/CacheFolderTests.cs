using OciKit.Execution;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Execution;

/// <summary>
/// Pruning the extracted-layer cache (overlay mode, root) against trees that use it: an entry a prepared tree or
/// another open of its lock holds survives, one an image needs stays, one nobody needs goes, and a prune racing
/// preparations never leaves a preparer a broken tree.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CacheFolderTests : IDisposable
{
    private const int FilesPerLayer = 200;
    private readonly TempDir _dir = new("ocikit-cache-folder");
    private int _trees;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_entry_a_prepared_tree_uses_survives_prune_and_goes_once_the_tree_is_disposed()
    {
        RequireRoot();
        var cache = _dir.Combine("cache");
        var layers = await LayersAsync();
        var rootfs = await PrepareAsync(layers, cache);
        await using (rootfs)
        {
            // Held by the tree: nothing goes, and the tree still reads its lower layers.
            var pruned = await CacheFolder.PruneExtractedLayersAsync(cache, []);
            Assert.Equal((0, 2), (pruned.Removed, pruned.InUse));
            AssertComplete(rootfs.Path);

            // Users share an entry: a second tree over the same layers is prepared while the first holds them.
            await using (var second = await PrepareAsync(layers, cache))
            {
                AssertComplete(second.Path);
            }
        }

        var after = await CacheFolder.PruneExtractedLayersAsync(cache, []);
        Assert.Equal((2, 0, 0), (after.Removed, after.Kept, after.InUse));
        Assert.True(after.RemovedBytes >= 2 * FilesPerLayer * 100);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache));   // entries and their lock files
    }

    [Fact]
    public async Task An_entry_locked_through_another_open_file_description_is_in_use()
    {
        RequireRoot();
        var cache = _dir.Combine("cache");
        var layers = await LayersAsync();
        await (await PrepareAsync(layers, cache)).DisposeAsync();
        var chains = CacheFolder.LayerChains(layers);

        // flock belongs to an open file description: this second open excludes the prune as another process would.
        await using (await CacheFolder.UseAsync(Path.Combine(cache, chains[1]), CancellationToken.None))
        {
            var pruned = await CacheFolder.PruneExtractedLayersAsync(cache, []);
            Assert.Equal((1, 1), (pruned.Removed, pruned.InUse));
            Assert.True(Directory.Exists(Path.Combine(cache, chains[1])));
            Assert.False(Directory.Exists(Path.Combine(cache, chains[0])));
        }
    }

    [Fact]
    public async Task An_entry_a_stored_image_needs_is_kept_and_an_unreferenced_one_removed()
    {
        RequireRoot();
        var cache = _dir.Combine("cache");
        var layers = await LayersAsync();
        await (await PrepareAsync(layers, cache)).DisposeAsync();

        // An image of the lower layer alone needs its entry only; the upper layer's chain is nobody's.
        var pruned = await CacheFolder.PruneExtractedLayersAsync(cache, [[layers[0]]]);

        Assert.Equal((1, 1, 0), (pruned.Removed, pruned.Kept, pruned.InUse));
        var chains = CacheFolder.LayerChains(layers);
        Assert.True(Directory.Exists(Path.Combine(cache, chains[0], "tree")));
        Assert.False(Directory.Exists(Path.Combine(cache, chains[1])));

        // The kept entry is used as it is (not extracted again): a new tree over both layers is complete.
        await using var again = await PrepareAsync(layers, cache);
        AssertComplete(again.Path);
    }

    [Fact]
    public async Task Prune_racing_preparations_never_breaks_a_tree()
    {
        RequireRoot();
        var cache = _dir.Combine("cache");
        var layers = await LayersAsync();
        using var done = new CancellationTokenSource();
        var pruner = Task.Run(async () =>
        {
            // Prunes with nothing referenced for as long as the preparations go on: each prune deletes what no tree
            // holds at that moment, so trees are prepared over entries deleted just before, or being extracted.
            while (!done.IsCancellationRequested)
            {
                await CacheFolder.PruneExtractedLayersAsync(cache, []);
            }
        });

        for (var i = 0; i < 12; i++)
        {
            await using var rootfs = await PrepareAsync(layers, cache);
            AssertComplete(rootfs.Path);
        }

        await done.CancelAsync();
        await pruner;
        var final = await CacheFolder.PruneExtractedLayersAsync(cache, []);
        Assert.Equal((0, 0), (final.Kept, final.InUse));
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache));
    }

    [Fact]
    public async Task A_cache_mount_being_created_survives_prune_and_its_dead_creators_leftover_goes()
    {
        var mounts = Directory.CreateDirectory(_dir.Combine("cache-mounts")).FullName;
        var entry = Path.Combine(mounts, "0123abcd");
        var creating = Directory.CreateDirectory(entry + ".new-1").FullName;
        await File.WriteAllTextAsync(Path.Combine(creating, "partial"), "being written");

        // The creator holds the entry's lock until its temporary folder is renamed into place.
        await using (await CacheFolder.UseAsync(entry, CancellationToken.None))
        {
            Assert.Equal(new CachePruneResult(0, 0, 0, 0), await CacheFolder.PruneUnusedAsync(mounts));
            Assert.True(File.Exists(Path.Combine(creating, "partial")));
        }

        // Its creator gone (the lock free), the leftover goes, and so does the lock file.
        var pruned = await CacheFolder.PruneUnusedAsync(mounts);
        Assert.Equal(13, pruned.RemovedBytes);
        Assert.Empty(Directory.EnumerateFileSystemEntries(mounts));
    }

    private static void RequireRoot()
        => Assert.True(Environment.IsPrivilegedProcess, "The extracted-layer cache is overlay mode's, which needs root: run the tests as root (test.sh does).");

    /// <summary>Both layers' files are there with their content.</summary>
    private static void AssertComplete(string tree)
    {
        foreach (var layer in new[] { "lower", "upper" })
        {
            var files = Directory.GetFiles(Path.Combine(tree, layer));
            Assert.Equal(FilesPerLayer, files.Length);
            Assert.All(files, f => Assert.Equal(Content(layer, Path.GetFileName(f)), File.ReadAllText(f)));
        }
    }

    private async Task<ContainerRootfs> PrepareAsync(Descriptor[] layers, string cache)
    {
        var work = _dir.Combine("work-" + Interlocked.Increment(ref _trees));
        var rootfs = await ContainerRootfs.PrepareAsync(
            layers,
            (d, _) => Task.FromResult<Stream>(File.OpenRead(_dir.Combine("blobs", d.Digest.Encoded))),
            new RootfsOptions { WorkDirectory = work, LayerCacheDirectory = cache, Mode = RootfsMode.Overlay });
        return rootfs;
    }

    /// <summary>Two tar layers of <see cref="FilesPerLayer"/> files each (lower/, upper/), written by GNU tar.</summary>
    private async Task<Descriptor[]> LayersAsync()
    {
        Directory.CreateDirectory(_dir.Combine("blobs"));
        var layers = new List<Descriptor>();
        foreach (var name in new[] { "lower", "upper" })
        {
            var tree = Directory.CreateDirectory(_dir.Combine("tree-" + name, name)).FullName;
            for (var i = 0; i < FilesPerLayer; i++)
            {
                await File.WriteAllTextAsync(Path.Combine(tree, "f" + i), Content(name, "f" + i));
            }

            var tar = _dir.Combine(name + ".tar");
            await Tool.RunCheckedAsync("tar", ["--create", "--file", tar, "--numeric-owner", "--directory", _dir.Combine("tree-" + name), "."]);
            var bytes = await File.ReadAllBytesAsync(tar);
            var descriptor = new Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.ComputeSha256(bytes), bytes.Length);
            File.Move(tar, _dir.Combine("blobs", descriptor.Digest.Encoded));
            layers.Add(descriptor);
        }

        return [.. layers];
    }

    private static string Content(string layer, string file) => $"{layer}/{file} " + new string('x', 100);
}
