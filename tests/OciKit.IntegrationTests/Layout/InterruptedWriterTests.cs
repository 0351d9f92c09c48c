using System.Diagnostics;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Layout;

/// <summary>
/// Writers killed half-way (SIGKILL, so nothing of theirs runs afterwards) and writers alive in other processes:
/// garbage collection tells them apart by the lock a writer holds on its scratch directory, never by age.
/// </summary>
[Collection(RegistryCollection.Name)]
public class InterruptedWriterTests(RegistryFixture fixture)
{
    private const long StallAt = 300_000;

    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    [Fact]
    public async Task A_pull_killed_half_way_is_kept_while_alive_then_reclaimed_by_prune_and_the_store_stays_sound()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);

        // An image already in the store, which must survive everything below.
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
        await File.WriteAllTextAsync(Path.Combine(context, "hello.txt"), "hello");
        (await cli.RunAsync("build", context, "-t", "kept:1")).Succeeded();

        // The busybox layer, served through a proxy that hangs after StallAt bytes of it.
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        using var client = new RegistryClient();
        var repository = ImageReference.Parse($"{proxy.Host}/{RegistryFixture.BaseRepository}");
        var manifest = await client.GetManifestAsync(repository.WithDigest(Digest.Parse(fixture.BaseDigest)));
        var layer = OciKit.Images.ManifestDocument.Parse(manifest.Bytes, manifest.MediaType).Manifest!.Layers.MaxBy(l => l.Size)!;
        Assert.True(layer.Size > StallAt, $"the base layer is only {layer.Size} bytes");
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.StallAfter(StallAt), times: 100);

        using var pull = StartCli(cli.Store, "pull", $"{proxy.Host}/{RegistryFixture.BaseRepository}:latest");
        string partial;
        try
        {
            partial = await WaitForPartialBlobAsync(cli.Store, pull);

            // Alive, in another process: its lock is held, so prune keeps its scratch directory.
            // (A directory the pull has just made and not yet locked may be taken, empty: the writer then takes another
            // name, see ScratchDirectory.Create. So "Reclaimed 0B" may appear; never a byte of the live pull's.)
            var whileAlive = (await cli.RunAsync("prune")).Succeeded();
            Assert.DoesNotMatch(@"Reclaimed [1-9][^ ]* from \d+ interrupted writer", whileAlive.StdOut);
            Assert.True(File.Exists(partial));
            Assert.Equal(StallAt, new FileInfo(partial).Length);
        }
        finally
        {
            pull.Kill(entireProcessTree: true);
            await pull.WaitForExitAsync();
        }

        // Killed: the kernel released its lock; prune reclaims the partial blob and says how much.
        var layout = await OciLayout.OpenAsync(cli.Store);
        // The partial layer's directory, and any other blob write the pull had begun (it fetches blobs concurrently).
        var scratchBefore = Directory.GetDirectories(Path.Combine(cli.Store, ".ocikit", "tmp"));
        Assert.Contains(Path.GetDirectoryName(partial), scratchBefore);
        var bytes = scratchBefore.Sum(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length));
        Assert.True(bytes >= StallAt);
        var prune = (await cli.RunAsync("prune")).Succeeded();
        Assert.Contains($"Reclaimed {OciKit.Cli.Sizes.Human(bytes)} from {scratchBefore.Length} interrupted writer(s)", prune.StdOut, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(cli.Store, ".ocikit", "tmp")));
        Assert.False(layout.ContainsBlob(layer.Digest));

        // Sound: every listed image reads and verifies, and the killed pull's image is not one of them.
        var images = await layout.ListImagesAsync();
        Assert.Equal(["kept:1"], images.Select(i => i.Name).Order().Select(n => n!.Split('/')[^1]));
        foreach (var image in images)
        {
            var stored = await layout.ReadImageAsync(image.Descriptor with { Annotations = null });
            await layout.VerifyImageAsync(stored.Image);
        }

        Assert.Equal(0, (await layout.CollectGarbageAsync()).InterruptedWriters);
    }

    [Fact]
    public async Task A_lock_another_process_holds_with_flock_keeps_a_scratch_directory_until_that_process_dies()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var layout = await OciLayout.OpenAsync(cli.Store);

        // A scratch directory as a writer leaves it, whose lock file util-linux flock(1) holds: flock(2), the lock
        // .NET takes for FileShare.None on Linux, so this is the same kind of lock, taken by a foreign process.
        // --close: only flock itself holds it (not sleep), so the lock is gone once flock has exited.
        var scratch = Directory.CreateDirectory(Path.Combine(cli.Store, ".ocikit", "tmp", "scratch-foreign")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(scratch, "layer"), new byte[123_456]);
        var lockFile = Path.Combine(scratch, ScratchDirectory.LockFileName);
        await File.WriteAllBytesAsync(lockFile, []);
        using var holder = Process.Start(new ProcessStartInfo(Tool.Locate("flock"), ["--close", lockFile, Tool.Locate("sleep"), "600"]) { UseShellExecute = false })!;
        try
        {
            await WaitUntilLockedAsync(lockFile, holder);
            var whileHeld = (await cli.RunAsync("prune")).Succeeded();
            Assert.DoesNotContain("interrupted writer", whileHeld.StdOut, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(scratch, "layer")));
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync();
        }

        var result = await layout.CollectGarbageAsync();
        Assert.Equal((1, 123_456L), (result.InterruptedWriters, result.InterruptedWriterBytes));
        Assert.False(Directory.Exists(scratch));
    }

    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> ChildErrors = new();

    private static Process StartCli(string store, params string[] args)
    {
        var start = new ProcessStartInfo(Tool.Locate("dotnet"), [Cli, "--store", store, "--no-progress", .. args])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOCKER_CONFIG"] = Path.Combine(Path.GetDirectoryName(store)!, "docker");
        var process = Process.Start(start)!;
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, e) => ChildErrors.Enqueue(e.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits until the pull has written <see cref="StallAt"/> bytes of the layer into its scratch directory, and returns that file.</summary>
    private static async Task<string> WaitForPartialBlobAsync(string store, Process writer)
    {
        var tmp = Path.Combine(store, ".ocikit", "tmp");
        for (var attempt = 0; attempt < 6000; attempt++)
        {
            Assert.False(writer.HasExited, $"the pull exited with {(writer.HasExited ? writer.ExitCode : 0)} before stalling: {string.Join('\n', ChildErrors)}");
            var partial = Directory.Exists(tmp)
                ? Directory.EnumerateFiles(tmp, "blob", SearchOption.AllDirectories).FirstOrDefault(f => new FileInfo(f).Length == StallAt)
                : null;
            if (partial is not null)
            {
                return partial;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("The pull never wrote the stalled layer's first bytes.");
    }

    /// <summary>Waits until another process holds the lock: opening the file exclusively fails.</summary>
    private static async Task WaitUntilLockedAsync(string lockFile, Process holder)
    {
        for (var attempt = 0; attempt < 6000; attempt++)
        {
            Assert.False(holder.HasExited, "flock exited before taking the lock");
            try
            {
                using var probe = new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                return;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("flock never took the lock.");
    }
}
