using OciKit.Execution;

namespace OciKit.Tests.Execution;

/// <summary>bwrap gets the same choices as the runtime-spec configuration, as arguments.</summary>
public sealed class BubblewrapArgumentsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-bwrap-").FullName;

    public BubblewrapArgumentsTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rootfs", "etc"));
        Directory.CreateDirectory(Path.Combine(_dir, "state"));
        File.WriteAllText(Path.Combine(_dir, "rootfs", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1654:app:/home/app:/bin/sh\n");
    }

    [Fact]
    public void An_unprivileged_root_process_gets_a_user_namespace_and_dockers_capabilities()
    {
        var args = Arguments(new ContainerProcess { Args = ["sh", "-c", "echo hi"], Env = ["A=1=2"], Network = ContainerNetwork.None, WorkingDir = "/w" }, unprivileged: true);

        Assert.Equal("--", args[^4]);
        Assert.Equal(["sh", "-c", "echo hi"], args.Skip(args.Count - 3));
        Assert.Equal(["--unshare-user", "--uid", "0", "--gid", "0"], Window(args, "--unshare-user", 5));
        Assert.Contains("--unshare-net", args);
        Assert.Contains("--unshare-pid", args);
        Assert.Contains("/etc/hosts", args);
        Assert.Contains("--as-pid-1", args);
        Assert.DoesNotContain("--die-with-parent", args);
        Assert.Equal(["--bind", Path.Combine(_dir, "rootfs"), "/"], Window(args, "--bind", 3));
        Assert.Equal(["--ro-bind", "/sys", "/sys"], Window(args, "--ro-bind", 3));
        Assert.Equal(["--setenv", "A", "1=2"], Window(args, "--setenv", 3));
        Assert.Equal(["--chdir", "/w"], Window(args, "--chdir", 2));
        Assert.Equal(14, args.Count(a => a == "--cap-add"));
        Assert.True(args.IndexOf("--cap-drop") < args.IndexOf("--cap-add"));
        Assert.Contains(Path.Combine(_dir, "state", "hosts"), args);
    }

    [Fact]
    public void Host_network_shares_the_namespace_and_a_non_root_user_gets_no_capabilities()
    {
        var args = Arguments(new ContainerProcess { Args = ["id"], User = "app" }, unprivileged: false);

        Assert.DoesNotContain("--unshare-net", args);
        Assert.Equal(["--unshare-user", "--uid", "1654", "--gid", "1654"], Window(args, "--unshare-user", 5));
        Assert.DoesNotContain("--cap-add", args);
    }

    [Fact]
    public void Mounts_map_to_binds_and_sized_tmpfs()
    {
        var args = Arguments(new ContainerProcess
        {
            Args = ["true"],
            Mounts =
            [
                new ContainerMount(ContainerMountType.Bind, "/srv/data", "/data", ReadOnly: true),
                new ContainerMount(ContainerMountType.Tmpfs, "", "/scratch", ReadOnly: true) { Options = ["mode=1777", "size=64m"] },
            ],
        }, unprivileged: false);

        var joined = string.Join(' ', args);
        Assert.Contains("--ro-bind /srv/data /data", joined, StringComparison.Ordinal);
        Assert.Contains("--perms 1777 --size 67108864 --tmpfs /scratch --remount-ro /scratch", joined, StringComparison.Ordinal);
        Assert.DoesNotContain("--unshare-user", args);
    }

    [Fact]
    public void A_tmpfs_option_bwrap_cannot_apply_is_refused()
    {
        Assert.Throws<NotSupportedException>(() => Arguments(new ContainerProcess
        {
            Args = ["true"],
            Mounts = [new ContainerMount(ContainerMountType.Tmpfs, "", "/scratch", false) { Options = ["uid=5"] }],
        }, unprivileged: false));
    }

    private List<string> Arguments(ContainerProcess process, bool unprivileged)
    {
        var prepared = PreparedContainer.Prepare(new ContainerRun("c1", Path.Combine(_dir, "rootfs"), Path.Combine(_dir, "state"), process, new ContainerIO()), "bwrap");
        return [.. new BubblewrapRuntime("/usr/bin/bwrap", unprivileged).Arguments(prepared)];
    }

    private static IEnumerable<string> Window(List<string> args, string first, int count) => args.Skip(args.IndexOf(first)).Take(count);

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
