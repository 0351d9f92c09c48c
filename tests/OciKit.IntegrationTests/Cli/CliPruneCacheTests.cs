using OciKit.Execution;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary><c>ocikit prune</c> and <c>prune --build-cache</c> on what RUN leaves in the store: extracted layers, cache mounts, build-cache records.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliPruneCacheTests : IDisposable
{
    private readonly TempDir _dir = new("ocikit-cli-prune");
    private readonly CliRun _cli;

    public CliPruneCacheTests()
    {
        _cli = new CliRun(_dir);
        BusyboxImage.WriteOciLayout(_cli.Store, "busybox:latest");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Prune_keeps_extracted_layers_images_need_and_build_cache_prune_reclaims_cache_mounts_not_in_use()
    {
        Assert.True(Environment.IsPrivilegedProcess, "RUN over overlay's extracted-layer cache needs root: run the tests as root (test.sh does).");
        var context = Directory.CreateDirectory(_dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), """
            FROM busybox:latest
            RUN --mount=type=cache,target=/cache echo data >> /cache/file && echo "ran with $(wc -l < /cache/file)"
            """);
        var extracted = Path.Combine(_cli.Store, ".ocikit", "rootfs");
        var mounts = Path.Combine(_cli.Store, ".ocikit", "cache-mounts");
        (await _cli.RunAsync("build", "-t", "pruned:1", context)).Succeeded();
        var entries = Directory.GetDirectories(extracted);
        Assert.NotEmpty(entries);
        var mount = Assert.Single(Directory.GetDirectories(mounts));

        // Both images need the busybox layers RUN extracted: a plain prune keeps them, and the cache mount.
        var prune = (await _cli.RunAsync("prune")).Succeeded();
        Assert.Contains($"Deleted 0 extracted layer(s), reclaimed 0B; kept {entries.Length} that images use, 0 in use", prune.StdOut, StringComparison.Ordinal);
        Assert.Equal(entries, Directory.GetDirectories(extracted));
        Assert.True(File.Exists(Path.Combine(mount, "file")));

        // A cache mount a build holds (its lock, from another open of it) survives --build-cache; once free, it goes.
        await using (await CacheFolder.UseAsync(mount, CancellationToken.None))
        {
            var held = (await _cli.RunAsync("prune", "--build-cache")).Succeeded();
            Assert.Contains("Deleted 0 cache mount(s), reclaimed 0B; 1 in use kept; deleted 1 build-cache record(s)", held.StdOut, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(mount, "file")));
        }

        var free = (await _cli.RunAsync("prune", "--build-cache")).Succeeded();
        Assert.Contains("Deleted 1 cache mount(s)", free.StdOut, StringComparison.Ordinal);
        Assert.False(Directory.Exists(mount));

        // With the records gone the RUN runs again, on a fresh cache mount.
        var rebuild = (await _cli.RunAsync("build", "-t", "pruned:1", context)).Succeeded();
        Assert.Contains("ran with 1", rebuild.StdErr, StringComparison.Ordinal);

        // Without images, nothing needs the extracted layers: prune deletes them, and their lock files.
        (await _cli.RunAsync("rmi", "pruned:1")).Succeeded();
        (await _cli.RunAsync("rmi", "busybox:latest")).Succeeded();
        var empty = (await _cli.RunAsync("prune")).Succeeded();
        Assert.Contains($"Deleted {entries.Length} extracted layer(s)", empty.StdOut, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(extracted));
    }
}
