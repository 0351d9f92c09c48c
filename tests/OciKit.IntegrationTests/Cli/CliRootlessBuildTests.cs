using OciKit.IntegrationTests.Harness;
using OciKit.Layers;
using OciKit.Layout;

namespace OciKit.IntegrationTests.Cli;

/// <summary>
/// <c>ocikit build</c> and <c>ocikit run</c> as the CLI process, run by an unprivileged user with that user's own store:
/// RUN in bubblewrap (a user namespace), the root file system a copy (no overlay without root).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class CliRootlessBuildTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    // Files created, changed and deleted, chmod, a symlink and a hard link, an ARG, USER and WORKDIR; no chown (a
    // rootless build cannot give a file to another id than the RUN's user: bwrap maps one).
    private const string Dockerfile = """
        FROM scratch
        COPY --chmod=755 busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        ARG GREETING=hi
        RUN mkdir -p /etc /tmp /home/app /data/old && chmod 1777 /tmp \
         && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \
         && echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \
         && printf 'root:x:0:\napp:x:1000:\n' > /etc/group \
         && echo "$GREETING" > /data/old/file && echo keep > /data/keep
        RUN rm -rf /data/old && echo changed > /data/keep && chmod 600 /data/keep && ln -s keep /data/link && ln /data/keep /data/hard
        USER app
        WORKDIR /home/app/work
        RUN echo "$GREETING from $(id -un)" > note && chmod 640 note && mkdir cache && cat note
        CMD ["/bin/sh", "-c", "id -un; pwd; cat note; readlink /data/link; ls /data; echo \"[$GREETING]\""]
        """;

    [Fact]
    public async Task An_unprivileged_user_builds_run_steps_with_bwrap_and_gets_the_image_root_builds()
    {
        using var dir = new TempDir("ocikit-rootless");
        var (uid, gid) = RootlessUser.Ids();
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        File.Copy(Tool.Locate("busybox"), Path.Combine(context, "busybox"));
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), Dockerfile);

        // The user reads the context and owns its home, store and Docker config; nothing of root's is shared.
        var home = Directory.CreateDirectory(dir.Combine("home")).FullName;
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        await Tool.RunCheckedAsync("chown", [$"{uid}:{gid}", home]);
        var store = Path.Combine(home, "store");
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = home,
            ["OCIKIT_STORE"] = store,
            ["DOCKER_CONFIG"] = Path.Combine(home, "docker"),
            ["DOTNET_CLI_HOME"] = home,
        };
        Task<ToolResult> AsUserAsync(params string[] args)
            => Tool.RunCheckedAsync("setpriv", RootlessUser.Command(Tool.Locate("dotnet"), [Cli, .. args]), environment);

        var build = await AsUserAsync("build", context, "-t", "rootless:1", "--build-arg", "GREETING=hello", "--runtime", "bwrap");
        var digest = build.StdOut.TrimEnd('\n').Split('\n')[^1];
        Assert.Matches("^sha256:[0-9a-f]{64}$", digest);
        Assert.Contains("hello from app", build.StdErr, StringComparison.Ordinal);   // RUN output streams
        // Copy mode: no extracted-layer cache (that is overlay's, root's).
        Assert.False(Directory.Exists(Path.Combine(store, ".ocikit", "rootfs")) && Directory.EnumerateFileSystemEntries(Path.Combine(store, ".ocikit", "rootfs")).Any());

        // The same user runs it: USER, WORKDIR, the RUN's files; build arguments are not in the image's environment.
        var run = await AsUserAsync("run", "rootless:1");
        Assert.Equal("app\n/home/app/work\nhello from app\nkeep\nhard\nkeep\nlink\n[]\n", run.StdOut);

        // The layers hold the owners a root build gives: the image's, and the RUN's user for what the RUN created.
        var layout = await OciLayout.OpenAsync(store);
        var (image, _) = await layout.ReadImageAsync("rootless:1");
        Assert.Equal(("app", "/home/app/work"), (image.Config.Config!.User, image.Config.Config.WorkingDir));
        Assert.DoesNotContain(image.Config.Config.Env ?? [], e => e.StartsWith("GREETING=", StringComparison.Ordinal));
        var entries = new Dictionary<string, (LayerEntryType Type, int Mode, int Uid, int Gid, string? Link)>(StringComparer.Ordinal);
        foreach (var layer in image.Layers)
        {
            await using var blob = layout.OpenBlob(layer.Digest);
            await foreach (var entry in LayerReader.ReadEntriesAsync(blob, layer.MediaType))
            {
                entries[entry.Path] = (entry.Type, (int)entry.Mode & 0xFFF, entry.Uid, entry.Gid, entry.LinkTarget);
            }
        }

        Assert.Equal((LayerEntryType.Directory, 0x1ED, 0, 0, (string?)null), entries["etc"]);   // 0755 as runc makes it, not bwrap's 0700
        Assert.Equal((LayerEntryType.File, 0x1A4, 0, 0, (string?)null), entries["etc/passwd"]);
        Assert.Equal((LayerEntryType.Directory, 0x3FF | 0x200, 0, 0, (string?)null), entries["tmp"]);   // 1777
        // The two names of one file: the first in name order holds the content, the other links to it.
        Assert.Equal((LayerEntryType.File, 0x180, 0, 0, (string?)null), entries["data/hard"]);
        Assert.Equal((LayerEntryType.Hardlink, 0x180, 0, 0, "data/hard"), entries["data/keep"]);
        Assert.Equal((LayerEntryType.Symlink, 0x1FF, 0, 0, "keep"), entries["data/link"]);
        Assert.Equal(LayerEntryType.Whiteout, entries["data/old"].Type);
        Assert.Equal((LayerEntryType.Directory, 0x1ED, 1000, 1000, (string?)null), entries["home/app/work"]);
        Assert.Equal((LayerEntryType.File, 0x1A0, 1000, 1000, (string?)null), entries["home/app/work/note"]);
        Assert.Equal((LayerEntryType.Directory, 0x1ED, 1000, 1000, (string?)null), entries["home/app/work/cache"]);

        // Root (runc, overlay) builds the same bytes: every file, owner, mode and the config agree.
        var root = await Tool.RunCheckedAsync("dotnet", [Cli, "--store", dir.Combine("root-store"), "build", context, "-t", "rootless:1", "--build-arg", "GREETING=hello", "--runtime", "runc"], environment);
        Assert.Equal(digest, root.StdOut.TrimEnd('\n').Split('\n')[^1]);
    }
}
