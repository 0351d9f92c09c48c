using OciKit.Execution;
using OciKit.Primitives;

namespace OciKit.Tests.Execution;

/// <summary>Runtime selection and the paths every runtime provides.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerRuntimesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-runtimes-").FullName;

    [Fact]
    public void Provided_paths_are_the_default_mounts_the_state_files_and_the_callers_mounts()
    {
        var process = new ContainerProcess
        {
            Args = ["true"],
            Mounts = [new ContainerMount(ContainerMountType.Bind, "/srv", "/cache/", true), new ContainerMount(ContainerMountType.Tmpfs, "", "/tmp", false)],
        };

        Assert.Equal(
            ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/cache", "/tmp"],
            ContainerRuntimes.ProvidedPaths(process));
    }

    [Fact]
    public void Provided_paths_in_a_rootfs_add_where_symlinked_hosts_files_and_mount_destinations_lead()
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(_dir, "rootfs")).FullName;
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        Directory.CreateDirectory(Path.Combine(rootfs, "var", "lib"));
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "resolv.conf"), "../run/resolv.conf");         // dangling, relative
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "hosts"), "/run/hosts");                       // absolute: inside the rootfs
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "hostname"), "../../../../../../etc/hostname"); // never the host's
        File.CreateSymbolicLink(Path.Combine(rootfs, "cache"), "var/lib/cache");
        var process = new ContainerProcess { Args = ["true"], Mounts = [new ContainerMount(ContainerMountType.Tmpfs, "", "/cache", false)] };

        var paths = ContainerRuntimes.ProvidedPaths(process, rootfs);

        Assert.Equal(
            ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts", "/run/hosts", "/etc/resolv.conf", "/run/resolv.conf", "/etc/hostname", "/cache", "/var/lib/cache"],
            paths);
        Assert.Equal(ContainerRuntimes.ProvidedPaths(process), paths.Intersect(ContainerRuntimes.ProvidedPaths(process)));
        Assert.Throws<ArgumentException>(() => ContainerRuntimes.ProvidedPaths(process, "relative/rootfs"));
    }

    [Theory]
    [InlineData("no-such-runtime-xyz", "apt-get install runc")]
    [InlineData("crun-missing", "apt-get install runc")]
    public void An_unknown_runtime_name_says_what_to_install(string name, string hint)
    {
        var e = Assert.Throws<ContainerRuntimeNotFoundException>(() => ContainerRuntimes.Select(name));

        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains(hint, e.Message, StringComparison.Ordinal);
        Assert.Equal(FailureKind.NotSupported, e.Kind);
        Assert.False(ContainerRuntimes.TrySelect(name, out _));
    }

    [Fact]
    public void A_path_that_is_not_executable_is_refused()
    {
        var file = Path.Combine(_dir, "runc");
        File.WriteAllText(file, "not a program");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var e = Assert.Throws<ContainerRuntimeNotFoundException>(() => ContainerRuntimes.Select(file));

        Assert.Contains(file, e.Message, StringComparison.Ordinal);
        Assert.Equal(file, e.Requested);
    }

    [Fact]
    public void A_named_or_absolute_runtime_keeps_its_name_and_path()
    {
        var file = Path.Combine(_dir, "crun");
        File.WriteAllText(file, "#!/bin/sh\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var bwrap = Path.Combine(_dir, "bwrap");
        File.Copy(file, bwrap);

        var b = ContainerRuntimes.Select(bwrap);
        if (Environment.IsPrivilegedProcess)
        {
            var selected = ContainerRuntimes.Select(file);
            Assert.Equal(("crun", file), (selected.Name, selected.ExecutablePath));
        }
        else
        {
            // runc and crun run containers as root only: without root, they are refused with the way out.
            Assert.Contains("bubblewrap", Assert.Throws<ContainerRuntimeNotFoundException>(() => ContainerRuntimes.Select(file)).Message, StringComparison.Ordinal);
        }

        Assert.Equal(("bwrap", bwrap), (b.Name, b.ExecutablePath));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
