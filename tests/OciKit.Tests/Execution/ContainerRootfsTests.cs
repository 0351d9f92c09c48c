using System.Text;
using OciKit.Execution;
using OciKit.Layers;
using static OciKit.Tests.Execution.RootfsScratch;

namespace OciKit.Tests.Execution;

/// <summary>Preparing a tree from layers, and the changes made in it as docker diff lines and as a layer, in both modes.</summary>
public class ContainerRootfsTests
{
    public static TheoryData<RootfsMode> Modes => new() { RootfsMode.Copy, RootfsMode.Overlay };

    private static async Task<List<Descriptor>> BaseLayersAsync(RootfsScratch scratch)
    {
        var first = await scratch.LayerAsync(
        [
            LayerEntry.Directory("etc"),
            Text("etc/conf", "a=1\n"),
            Text("etc/old", "old\n"),
            LayerEntry.Directory("bin"),
            Text("bin/tool", "#!/bin/sh\n", 0x9ED, 1000, 1000),   // 04755, 1000:1000
            Text("bin/other", "other\n", 0x1ED),
            LayerEntry.Hardlink("bin/tool-link", "bin/tool", (UnixFileMode)0x9ED),
            LayerEntry.Directory("usr/lib"),
            LayerEntry.Symlink("lib", "usr/lib"),
            LayerEntry.Symlink("escape", "/../../../../.."),
            LayerEntry.Symlink("absolute", "/etc"),
            LayerEntry.Directory("var/cache/apt"),
            Text("var/cache/apt/pkg", "pkg\n"),
            LayerEntry.Directory("opt/d"),
            Text("opt/d/inner", "inner\n"),
            LayerEntry.Directory("opt/e"),
            Text("opt/e/inner", "inner\n"),
            Text("srv/f", "f\n"),
            LayerEntry.Directory("home", (UnixFileMode)0x1C0) with { Uid = 1000, Gid = 1000 },
            Text("home/a.txt", "a\n", 0x180, 1000, 1000),
            Text("x/attr", "x\n") with { ExtendedAttributes = new Dictionary<string, ReadOnlyMemory<byte>> { ["user.note"] = Encoding.UTF8.GetBytes("kept") } },
            LayerEntry.Device("dev/null", LayerEntryType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6),
            LayerEntry.Fifo("run/pipe"),
            Text("hidden/one", "1\n"),
            Text("hidden/two", "2\n"),
            Text("hidden/keep/lower", "hidden by the marker\n"),
        ]);
        // Written raw (our writer would add the missing parent directories over the links).
        var second = scratch.RawTarLayer(
        [
            ("etc/.wh.gone-never-there", ""),
            ("lib/through-link", "lands in usr/lib\n"),
            ("escape/outside", "stays inside\n"),
            ("absolute/via-absolute", "in etc\n"),
            ("hidden/three", "3\n"),
            ("hidden/keep/new", "written before the marker\n"),
            ("hidden/.wh..wh..opq", ""),
            ("etc/old2", "to delete\n"),
        ]);
        return [first, second];
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task PrepareAppliesLayersInOrderInsideTheRoot(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var rootfs = await scratch.PrepareAsync(layers, mode);
        Assert.Equal(mode, rootfs.Mode);
        var tree = Describe(rootfs.Path);

        Assert.Equal("89ed 1000:1000 10 " + tree["/bin/tool"].Split(' ')[3] + " n2", tree["/bin/tool"]);
        Assert.DoesNotContain("/etc/gone-never-there", tree.Keys);
        Assert.Equal(["/bin", "/bin/other", "/bin/tool", "/bin/tool-link"], tree.Keys.Where(k => k.StartsWith("/bin", StringComparison.Ordinal)));
        Assert.Equal(tree["/bin/tool"], tree["/bin/tool-link"]);
        Assert.Equal("41c0 1000:1000", tree["/home"]);
        Assert.StartsWith("8180 1000:1000", tree["/home/a.txt"], StringComparison.Ordinal);
        Assert.Contains("user.note=kept", tree["/x/attr"], StringComparison.Ordinal);
        Assert.Equal("21b6 0:0 dev 1,3", tree["/dev/null"]);
        Assert.StartsWith("11a4 ", tree["/run/pipe"], StringComparison.Ordinal);
        Assert.True(tree.ContainsKey("/usr/lib/through-link"));
        Assert.True(tree.ContainsKey("/outside"));              // the link climbing out resolves to the root
        Assert.True(tree.ContainsKey("/etc/via-absolute"));     // an absolute link resolves inside the root
        // The marker keeps what this layer wrote before it (hidden/three), not a lower directory this layer only wrote
        // into without listing it (hidden/keep), as containerd's applier does.
        Assert.Equal(["/hidden/three"], tree.Keys.Where(k => k.StartsWith("/hidden/", StringComparison.Ordinal)));
        Assert.False(File.Exists("/outside"));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task EditsAreReportedAsDockerDiffDoesAndTheirLayerReproducesTheTree(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var rootfs = await scratch.PrepareAsync(layers, mode);
        Edit(rootfs.Path);

        var changes = await rootfs.GetChangesAsync([]);
        Assert.Equal(ExpectedChanges, changes.Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));

        var edited = Describe(rootfs.Path);
        var layer = await scratch.CommitAsync(rootfs);
        var reproduced = await scratch.PrepareAsync([.. layers, layer], RootfsMode.Copy);
        Assert.Equal(edited, Describe(reproduced.Path));
    }

    private static readonly string[] ExpectedChanges =
    [
        "C /bin",
        "C /bin/other",
        "A /bin/other2",
        "C /etc",
        "C /etc/conf",
        "D /etc/old",
        "C /home",
        "D /home/a.txt",
        "A /home/b.txt",
        "A /new.txt",
        "C /opt",
        "C /opt/d",
        "C /opt/e",
        "D /opt/e/inner",
        "A /opt/e/new",
        "C /srv",
        "C /srv/f",
        "A /srv/f/child",
        "C /var",
        "D /var/cache",
        "C /x/attr",
    ];

    /// <summary>Add, modify, chmod, chown, delete file and directory, replace a directory by a file and back, rename, hard link.</summary>
    private static void Edit(string root)
    {
        File.WriteAllText(Path.Combine(root, "new.txt"), "new\n");
        File.WriteAllText(Path.Combine(root, "etc/conf"), "a=2\n");
        RootfsNative.Chmod(Path.Combine(root, "bin/other"), (UnixFileMode)0x1C0);
        RootfsNative.Lchown(Path.Combine(root, "x/attr"), 7, 8);
        File.Delete(Path.Combine(root, "etc/old"));
        Directory.Delete(Path.Combine(root, "var/cache"), recursive: true);
        Directory.Delete(Path.Combine(root, "opt/d"), recursive: true);
        File.WriteAllText(Path.Combine(root, "opt/d"), "now a file\n");
        Directory.Delete(Path.Combine(root, "opt/e"), recursive: true);
        File.WriteAllText(Path.Combine(root, "opt/e"), "briefly a file\n");
        File.Delete(Path.Combine(root, "opt/e"));
        Directory.CreateDirectory(Path.Combine(root, "opt/e"));
        File.WriteAllText(Path.Combine(root, "opt/e/new"), "new\n");
        File.Delete(Path.Combine(root, "srv/f"));
        Directory.CreateDirectory(Path.Combine(root, "srv/f"));
        File.WriteAllText(Path.Combine(root, "srv/f/child"), "child\n");
        File.Move(Path.Combine(root, "home/a.txt"), Path.Combine(root, "home/b.txt"));
        RootfsNative.Link(Path.Combine(root, "bin/other"), Path.Combine(root, "bin/other2"));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task CheckpointReportsOnlyLaterChanges(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var rootfs = await scratch.PrepareAsync(layers, mode);
        File.WriteAllText(Path.Combine(rootfs.Path, "etc/first"), "1\n");
        var first = await scratch.CommitAsync(rootfs);
        await rootfs.CheckpointAsync();
        Assert.Empty(await rootfs.GetChangesAsync([]));
        Assert.Equal("1\n", File.ReadAllText(Path.Combine(rootfs.Path, "etc/first")));

        File.Delete(Path.Combine(rootfs.Path, "etc/first"));
        File.WriteAllText(Path.Combine(rootfs.Path, "etc/second"), "2\n");
        Assert.Equal(["C /etc", "D /etc/first", "A /etc/second"], (await rootfs.GetChangesAsync([])).Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));
        var edited = Describe(rootfs.Path);
        var second = await scratch.CommitAsync(rootfs);
        var reproduced = await scratch.PrepareAsync([.. layers, first, second], RootfsMode.Copy);
        Assert.Equal(edited, Describe(reproduced.Path));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task ConsecutiveCheckpointsOverNoLayerEachReportOnlyTheirOwnStep(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var rootfs = await scratch.PrepareAsync([], mode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(rootfs.Path));
        var committed = new List<Descriptor>();
        for (var step = 0; step < 4; step++)
        {
            File.WriteAllText(Path.Combine(rootfs.Path, $"step{step}"), $"{step}\n");
            if (step > 0)
            {
                File.Delete(Path.Combine(rootfs.Path, $"step{step - 1}"));
            }

            var expected = step == 0 ? new[] { "A /step0" } : [$"D /step{step - 1}", $"A /step{step}"];
            Assert.Equal(expected, (await rootfs.GetChangesAsync([])).Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));
            committed.Add(await scratch.CommitAsync(rootfs));
            await rootfs.CheckpointAsync();
        }

        var reproduced = await scratch.PrepareAsync(committed, RootfsMode.Copy);
        Assert.Equal(Describe(rootfs.Path), Describe(reproduced.Path));
        Assert.Equal(["/step3"], Describe(reproduced.Path).Keys);
    }

    [Fact]
    public async Task CheckpointsBeyondWhatTheMountOptionHoldsCopyTheMergedTreeIntoOneLowerDirectory()
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);

        // A work directory of ~830 characters: the mount option holds two lower directories, not three.
        var work = Path.Combine(scratch.Root, new string('a', 200), new string('b', 200), new string('c', 200), new string('d', 200));
        var rootfs = await ContainerRootfs.PrepareAsync(layers, scratch.OpenAsync, new RootfsOptions { WorkDirectory = work, Mode = RootfsMode.Overlay });
        await using (rootfs)
        {
            var committed = new List<Descriptor>(layers);
            for (var step = 0; step < 4; step++)
            {
                File.WriteAllText(Path.Combine(rootfs.Path, "etc", $"step{step}"), $"{step}\n");
                RootfsNative.Chmod(Path.Combine(rootfs.Path, "etc/conf"), (UnixFileMode)(0x1A4 ^ (step % 2 == 0 ? 0x1 : 0)));
                Assert.Equal(["C /etc", "C /etc/conf", $"A /etc/step{step}"], (await rootfs.GetChangesAsync([])).Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));
                committed.Add(await scratch.CommitAsync(rootfs));
                await rootfs.CheckpointAsync();
                Assert.Empty(await rootfs.GetChangesAsync([]));
            }

            Assert.Equal(RootfsMode.Overlay, rootfs.Mode);
            Assert.Single(Directory.GetDirectories(work, "flat-*"));
            var reproduced = await scratch.PrepareAsync(committed, RootfsMode.Copy);
            Assert.Equal(Describe(reproduced.Path), Describe(rootfs.Path));
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task PathsTheRuntimeProvidesAreLeftOut(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var rootfs = await scratch.PrepareAsync(await BaseLayersAsync(scratch), mode);
        Directory.CreateDirectory(Path.Combine(rootfs.Path, "proc/self"));
        File.WriteAllText(Path.Combine(rootfs.Path, "etc/hosts"), "127.0.0.1 localhost\n");
        Directory.CreateDirectory(Path.Combine(rootfs.Path, "run/secrets/token"));
        File.WriteAllText(Path.Combine(rootfs.Path, "run/kept"), "kept\n");
        string[] ignored = ["/proc", "/etc/hosts", "/run/secrets/token"];

        Assert.Equal(["C /run", "A /run/kept"], (await rootfs.GetChangesAsync(ignored)).Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));
        var entries = await rootfs.GetLayerEntriesAsync(ignored, null);
        Assert.Equal(["run", "run/kept"], entries.Select(e => e.Path));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task ModificationTimesAreClampedAndADeterministicEditGivesTheSameLayer(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var clamp = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var digests = new List<Digest>();
        for (var i = 0; i < 2; i++)
        {
            var rootfs = await scratch.PrepareAsync(layers, mode);
            File.WriteAllText(Path.Combine(rootfs.Path, "etc/new"), "same\n");
            File.WriteAllText(Path.Combine(rootfs.Path, "etc/old-time"), "old\n");
            File.SetLastWriteTimeUtc(Path.Combine(rootfs.Path, "etc/old-time"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
            var entries = await rootfs.GetLayerEntriesAsync([], clamp);
            Assert.Equal(clamp, entries.Single(e => e.Path == "etc/new").ModificationTime);
            Assert.Equal(new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero), entries.Single(e => e.Path == "etc/old-time").ModificationTime);
            digests.Add((await scratch.LayerAsync(entries)).Digest);
        }

        Assert.Equal(digests[0], digests[1]);
    }

    [Fact]
    public async Task TheLayerCacheIsReusedAndAnIncompleteEntryIsNotTrusted()
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var cache = scratch.NewDirectory("cache");
        var first = await scratch.PrepareAsync(layers, RootfsMode.Overlay, cache);
        Assert.Equal(2, scratch.Opened);
        var tree = Describe(first.Path);
        await first.DisposeAsync();

        var second = await scratch.PrepareAsync(layers, RootfsMode.Overlay, cache);
        Assert.Equal(2, scratch.Opened);
        Assert.Equal(tree, Describe(second.Path));
        await second.DisposeAsync();

        // A cache entry without its completion marker (a killed preparer) is extracted again.
        var entries = Directory.GetDirectories(cache);
        Assert.Equal(2, entries.Length);
        foreach (var entry in entries)
        {
            File.Delete(Path.Combine(entry, "complete"));
        }

        var third = await scratch.PrepareAsync(layers, RootfsMode.Overlay, cache);
        Assert.Equal(4, scratch.Opened);
        Assert.Equal(tree, Describe(third.Path));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task NoChangeGivesAnEmptyLayerThatIsAValidTar(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var rootfs = await scratch.PrepareAsync(layers, mode);
        Assert.Empty(await rootfs.GetChangesAsync([]));
        Assert.Empty(await rootfs.GetLayerEntriesAsync([], null));
        var empty = await scratch.CommitAsync(rootfs);
        var uncompressed = new MemoryStream();
        await LayerReader.OpenDecompressed(new MemoryStream(scratch.Blobs[empty.Digest]), empty.MediaType).CopyToAsync(uncompressed);
        Assert.Equal(new byte[1024], uncompressed.ToArray());
        var again = await scratch.PrepareAsync([.. layers, empty], RootfsMode.Copy);
        Assert.Equal(Describe(rootfs.Path), Describe(again.Path));
    }

    [Fact]
    public async Task ConcurrentPreparersShareOneCacheEntryPerLayer()
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var cache = scratch.NewDirectory("cache");
        var prepared = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => scratch.PrepareAsync(layers, RootfsMode.Overlay, cache))));
        var trees = prepared.Select(r => Describe(r.Path)).ToList();
        Assert.All(trees, tree => Assert.Equal(trees[0], tree));
        Assert.Equal(2, Directory.GetDirectories(cache).Length);
        Assert.All(Directory.GetDirectories(cache), entry => Assert.True(File.Exists(Path.Combine(entry, "complete"))));
    }

    [Fact]
    public async Task ACacheOnAnotherFileSystemIsNotFilledButThePreparationWorks()
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var cache = Path.Combine("/dev/shm", "ocikit-rootfs-cache-" + Guid.NewGuid().ToString("N"));
        Assert.NotEqual(RootfsNative.Lstat("/dev/shm").Device, RootfsNative.Lstat(scratch.Root).Device);
        try
        {
            var rootfs = await scratch.PrepareAsync(layers, RootfsMode.Overlay, cache);
            var copy = await scratch.PrepareAsync(layers, RootfsMode.Copy);
            Assert.Equal(Describe(copy.Path), Describe(rootfs.Path));
            // No entry; only the lock files the tree holds while it lives (CacheFolder).
            Assert.Empty(Directory.EnumerateDirectories(cache));
            Assert.All(Directory.EnumerateFiles(cache), f => Assert.EndsWith(".lock", f, StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public async Task BothModesGiveTheSameTree()
    {
        await using var scratch = new RootfsScratch();
        var layers = await BaseLayersAsync(scratch);
        var copy = await scratch.PrepareAsync(layers, RootfsMode.Copy);
        var overlay = await scratch.PrepareAsync(layers, RootfsMode.Overlay);
        Assert.Equal(Describe(copy.Path), Describe(overlay.Path));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task AHardLinkThroughASymlinkLeadingOutNamesNothingOutsideTheTree(RootfsMode mode)
    {
        await using var scratch = new RootfsScratch();
        var host = scratch.NewDirectory("host");
        File.WriteAllText(Path.Combine(host, "secret"), "host\n");
        var layer = await scratch.LayerAsync(
        [
            LayerEntry.Symlink("out", host),
            LayerEntry.Symlink("up", "../../../../../../../.."),
            LayerEntry.Hardlink("stolen", "out/secret"),
        ]);
        var failure = await Assert.ThrowsAsync<OciFormatException>(() => scratch.PrepareAsync([layer], mode));
        Assert.Contains("stolen", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, RootfsNative.Lstat(Path.Combine(host, "secret")).Nlink);

        // A file written below a link that climbs out lands inside the tree.
        var inside = await scratch.LayerAsync([LayerEntry.Symlink("up", "../../../../../../../..")]);
        var below = scratch.RawTarLayer([("up" + host + "/planted", "x\n")]);
        var rootfs = await scratch.PrepareAsync([inside, below], mode);
        Assert.False(File.Exists(Path.Combine(host, "planted")));
        Assert.True(File.Exists(rootfs.Path + host + "/planted"));
    }

    [Fact]
    public async Task ABlobThatIsNotWhatItsDescriptorNamesFails()
    {
        await using var scratch = new RootfsScratch();
        var layer = await scratch.LayerAsync([Text("a", "a\n")]);
        var other = await scratch.LayerAsync([Text("a", "b\n")]);
        scratch.Blobs[layer.Digest] = scratch.Blobs[other.Digest];
        await Assert.ThrowsAsync<DigestMismatchException>(() => scratch.PrepareAsync([layer], RootfsMode.Copy));
    }

    [Fact]
    public async Task DisposeUnmountsAndDeletesTheWorkDirectoryContent()
    {
        await using var scratch = new RootfsScratch();
        var rootfs = await scratch.PrepareAsync(await BaseLayersAsync(scratch), RootfsMode.Overlay);
        var work = Path.GetDirectoryName(rootfs.Path)!;
        await rootfs.DisposeAsync();
        await rootfs.DisposeAsync();
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
        Assert.DoesNotContain(work, File.ReadAllText("/proc/self/mountinfo"), StringComparison.Ordinal);
    }
}
