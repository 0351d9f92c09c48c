using OciKit.Execution;
using OciKit.Primitives;

namespace OciKit.Tests.Execution;

/// <summary>A process' user resolves in the root file system's own <c>/etc/passwd</c> and <c>/etc/group</c>, as Docker does.</summary>
public sealed class ContainerUserTests : IDisposable
{
    private const string Passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1655:app:/home/app:/bin/sh\nnohome:x:77:78::\n";
    private const string Group = "root:x:0:\napp:x:1655:\nstaff:x:50:app,other\nwheel:x:10:root, app\nempty:x:60:\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-user-").FullName;

    public static TheoryData<string, int, int, int[], string> Users => new()
    {
        { "", 0, 0, [10], "/root" },
        { "root", 0, 0, [10], "/root" },
        { "app", 1654, 1655, [50, 10], "/home/app" },
        { "1654", 1654, 1655, [50, 10], "/home/app" },
        { "4242", 4242, 0, [], "/" },
        { "app:staff", 1654, 50, [], "/home/app" },
        { "app:60", 1654, 60, [], "/home/app" },
        { "1654:999", 1654, 999, [], "/home/app" },
        { "4242:4343", 4242, 4343, [], "/" },
        { "nohome", 77, 78, [], "/" },
        { ":staff", 0, 50, [], "/root" },
    };

    [Theory]
    [MemberData(nameof(Users))]
    public void Users_resolve_like_docker(string user, int uid, int gid, int[] groups, string home)
    {
        var rootfs = Rootfs(Passwd, Group);

        var resolved = Prepare(rootfs, user).User;

        Assert.Equal((uid, gid, home), (resolved.Uid, resolved.Gid, resolved.Home));
        Assert.Equal(groups, resolved.AdditionalGids);
    }

    [Theory]
    [InlineData("nobody", "unable to find user nobody: no matching entries in passwd file")]
    [InlineData("app:nogroup", "unable to find group nogroup: no matching entries in group file")]
    public void Unknown_names_are_caller_errors_naming_the_name_and_the_file(string user, string message)
    {
        var rootfs = Rootfs(Passwd, Group);

        var e = Assert.Throws<ContainerRunException>(() => Prepare(rootfs, user));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Contains("/etc/passwd", e.Message, StringComparison.Ordinal);
        Assert.Equal(FailureKind.Caller, e.Kind);
    }

    [Fact]
    public void Without_passwd_root_and_numeric_users_still_work_and_names_do_not()
    {
        var rootfs = Rootfs(null, null);

        Assert.Equal(0, Prepare(rootfs, "").User.Uid);
        Assert.Equal((1000, 0), (Prepare(rootfs, "1000").User.Uid, Prepare(rootfs, "1000").User.Gid));
        Assert.Throws<ContainerRunException>(() => Prepare(rootfs, "app"));
    }

    [Fact]
    public void Symlinked_passwd_resolves_inside_the_rootfs_never_on_the_host()
    {
        // /etc/passwd -> /etc/passwd.real (absolute: re-rooted), /etc/group -> ../../../../../../etc/passwd (climbs: stops
        // at the root, so it reads the image's passwd file as its group file, never the host's files).
        var rootfs = Rootfs(null, null);
        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd.real"), "builder:x:3000:3001::/b:/bin/sh\n");
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "passwd"), "/etc/passwd.real");
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "group"), "../../../../../../etc/passwd");

        Assert.Equal(3000, Prepare(rootfs, "builder").User.Uid);
        Assert.Equal(3000, Prepare(rootfs, "builder:builder").User.Gid);
        // The host's /etc/group (and passwd) know root: the image's do not, so a group name cannot resolve from the host.
        Assert.Throws<ContainerRunException>(() => Prepare(rootfs, "builder:root"));
    }

    [Fact]
    public void A_symlink_loop_is_a_typed_error()
    {
        var rootfs = Rootfs(null, null);
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "passwd"), "/etc/passwd");

        Assert.Throws<OciKit.Layers.SymlinkLoopException>(() => Prepare(rootfs, "app"));
    }

    [Fact]
    public void Working_directory_through_a_symlink_to_the_host_is_created_inside_the_rootfs()
    {
        var rootfs = Rootfs(null, null);
        var outside = Path.Combine(_dir, "outside");
        Directory.CreateSymbolicLink(Path.Combine(rootfs, "link"), outside);

        PreparedContainer.Prepare(new ContainerRun("c1", rootfs, State(), new ContainerProcess { Args = ["true"], WorkingDir = "/link/work" }, new ContainerIO()), "runc");

        Assert.False(Directory.Exists(outside));
        Assert.True(Directory.Exists(Path.Combine(rootfs, _dir.TrimStart('/'), "outside", "work")));
    }

    private string Rootfs(string? passwd, string? group)
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(_dir, "rootfs-" + Guid.NewGuid().ToString("N"))).FullName;
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        if (passwd is not null)
        {
            File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), passwd);
        }

        if (group is not null)
        {
            File.WriteAllText(Path.Combine(rootfs, "etc", "group"), group);
        }

        return rootfs;
    }

    private string State() => Directory.CreateDirectory(Path.Combine(_dir, "state-" + Guid.NewGuid().ToString("N"))).FullName;

    private PreparedContainer Prepare(string rootfs, string user)
        => PreparedContainer.Prepare(new ContainerRun("c1", rootfs, State(), new ContainerProcess { Args = ["id"], User = user }, new ContainerIO()), "runc");

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
