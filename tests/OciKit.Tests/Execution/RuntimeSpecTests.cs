using System.Text.Json;
using OciKit.Execution;
using OciKit.Testing;
using OciKit.Tests.Images;

namespace OciKit.Tests.Execution;

/// <summary>The generated <c>config.json</c> validates against runtime-spec's schema and carries Docker's defaults.</summary>
public sealed class RuntimeSpecTests : IDisposable
{
    private static readonly JsonSchemaChecker Schemas = new(Path.Combine(TestPaths.Conformance, "runtime-spec", "schema"));

    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-spec-").FullName;

    public RuntimeSpecTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rootfs", "etc"));
        Directory.CreateDirectory(Path.Combine(_dir, "state"));
        File.WriteAllText(Path.Combine(_dir, "rootfs", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1654:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(_dir, "rootfs", "etc", "group"), "root:x:0:\napp:x:1654:\nstaff:x:50:app\n");
    }

    public static TheoryData<string, ContainerProcess> Processes => new()
    {
        { "defaults", new ContainerProcess { Args = ["sh", "-c", "true"] } },
        { "network none", new ContainerProcess { Args = ["true"], Network = ContainerNetwork.None } },
        { "user with groups", new ContainerProcess { Args = ["id"], User = "app", WorkingDir = "/work/dir" } },
        { "uid:gid", new ContainerProcess { Args = ["id"], User = "1000:1000", Env = ["PATH=/bin", "A=b"] } },
        { "terminal", new ContainerProcess { Args = ["sh"], Terminal = true, Hostname = "builder" } },
        {
            "mounts", new ContainerProcess
            {
                Args = ["ls"],
                Mounts =
                [
                    new ContainerMount(ContainerMountType.Bind, "/tmp", "/cache/", ReadOnly: true),
                    new ContainerMount(ContainerMountType.Tmpfs, "", "/scratch", ReadOnly: false) { Options = ["mode=1777", "size=64m"] },
                ],
            }
        },
    };

    [Theory]
    [MemberData(nameof(Processes))]
    public void Generated_configs_validate_against_the_runtime_spec_schema(string name, ContainerProcess process)
    {
        var json = RuntimeSpec.Create(Prepare(process));

        Assert.True(name.Length > 0);
        Assert.Empty(Schemas.Check("config-schema.json", json));
    }

    [Fact]
    public void The_checker_rejects_what_the_schema_forbids()
    {
        var json = RuntimeSpec.Create(Prepare(new ContainerProcess { Args = ["true"] }));
        var broken = System.Text.Encoding.UTF8.GetString(json).Replace("\"type\": \"pid\"", "\"type\": \"nonsense\"", StringComparison.Ordinal);

        Assert.NotEmpty(Schemas.Check("config-schema.json", System.Text.Encoding.UTF8.GetBytes(broken)));
    }

    [Fact]
    public void Config_has_dockers_defaults()
    {
        using var doc = JsonDocument.Parse(RuntimeSpec.Create(Prepare(new ContainerProcess { Args = ["sh"], User = "app", Env = ["A=1"] })));
        var root = doc.RootElement;
        var process = root.GetProperty("process");

        Assert.True(process.GetProperty("noNewPrivileges").GetBoolean());
        var caps = process.GetProperty("capabilities");
        foreach (var set in new[] { "bounding", "effective", "permitted" })
        {
            Assert.Equal(14, caps.GetProperty(set).GetArrayLength());
            Assert.Contains("CAP_NET_BIND_SERVICE", caps.GetProperty(set).EnumerateArray().Select(c => c.GetString()));
            Assert.DoesNotContain("CAP_SYS_ADMIN", caps.GetProperty(set).EnumerateArray().Select(c => c.GetString()));
        }

        Assert.Equal(1654, process.GetProperty("user").GetProperty("uid").GetInt32());
        Assert.Equal(1654, process.GetProperty("user").GetProperty("gid").GetInt32());
        Assert.Equal([50], process.GetProperty("user").GetProperty("additionalGids").EnumerateArray().Select(g => g.GetInt32()));
        Assert.Equal(["A=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/app"],
            process.GetProperty("env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("RLIMIT_NOFILE", process.GetProperty("rlimits")[0].GetProperty("type").GetString());
        Assert.Equal(Path.Combine(_dir, "rootfs"), root.GetProperty("root").GetProperty("path").GetString());
        Assert.False(root.GetProperty("root").GetProperty("readonly").GetBoolean());

        var linux = root.GetProperty("linux");
        Assert.Equal(["pid", "ipc", "uts", "mount"], linux.GetProperty("namespaces").EnumerateArray().Select(n => n.GetProperty("type").GetString()));
        Assert.Contains("/proc/kcore", linux.GetProperty("maskedPaths").EnumerateArray().Select(p => p.GetString()));
        Assert.Contains("/proc/sysrq-trigger", linux.GetProperty("readonlyPaths").EnumerateArray().Select(p => p.GetString()));

        var mounts = root.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("destination").GetString()!);
        Assert.Equal(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"], mounts.Keys);
        Assert.Contains("ro", mounts["/sys"].GetProperty("options").EnumerateArray().Select(o => o.GetString()));
        Assert.Equal(Path.Combine(_dir, "state", "hosts"), mounts["/etc/hosts"].GetProperty("source").GetString());
    }

    [Fact]
    public void Network_none_adds_a_network_namespace_and_mounts_follow_the_defaults()
    {
        using var doc = JsonDocument.Parse(RuntimeSpec.Create(Prepare(new ContainerProcess
        {
            Args = ["true"],
            Network = ContainerNetwork.None,
            Mounts = [new ContainerMount(ContainerMountType.Bind, "/srv/cache", "/cache/", ReadOnly: true) { Options = ["nosuid"] }],
        })));
        var linux = doc.RootElement.GetProperty("linux");

        Assert.Contains("network", linux.GetProperty("namespaces").EnumerateArray().Select(n => n.GetProperty("type").GetString()));
        var last = doc.RootElement.GetProperty("mounts").EnumerateArray().Last();
        Assert.Equal("/cache", last.GetProperty("destination").GetString());
        Assert.Equal("/srv/cache", last.GetProperty("source").GetString());
        Assert.Equal(["rbind", "rprivate", "ro", "nosuid"], last.GetProperty("options").EnumerateArray().Select(o => o.GetString()));
    }

    [Fact]
    public void State_files_are_written_and_the_working_directory_is_created()
    {
        Prepare(new ContainerProcess { Args = ["true"], Hostname = "b1", WorkingDir = "/srv/app/" });

        Assert.True(Directory.Exists(Path.Combine(_dir, "rootfs", "srv", "app")));
        Assert.Contains("127.0.0.1\tlocalhost", File.ReadAllText(Path.Combine(_dir, "state", "hosts")), StringComparison.Ordinal);
        Assert.Contains("\tb1\n", File.ReadAllText(Path.Combine(_dir, "state", "hosts")), StringComparison.Ordinal);
        Assert.Equal("b1\n", File.ReadAllText(Path.Combine(_dir, "state", "hostname")));
        Assert.Equal(File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "", File.ReadAllText(Path.Combine(_dir, "state", "resolv.conf")));
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("a/b")]
    [InlineData("")]
    public void Bad_ids_are_refused(string id)
    {
        var run = new ContainerRun(id, Path.Combine(_dir, "rootfs"), Path.Combine(_dir, "state"), new ContainerProcess { Args = ["true"] }, new ContainerIO());

        Assert.Throws<ArgumentException>(() => PreparedContainer.Prepare(run, "runc"));
    }

    [Fact]
    public void Relative_mount_destinations_and_sources_are_refused()
    {
        var rootfs = Path.Combine(_dir, "rootfs");
        var state = Path.Combine(_dir, "state");
        var relativeDestination = new ContainerProcess { Args = ["true"], Mounts = [new ContainerMount(ContainerMountType.Tmpfs, "", "tmp", false)] };
        var climbing = new ContainerProcess { Args = ["true"], Mounts = [new ContainerMount(ContainerMountType.Tmpfs, "", "/a/../../b", false)] };
        var relativeSource = new ContainerProcess { Args = ["true"], Mounts = [new ContainerMount(ContainerMountType.Bind, "src", "/src", false)] };

        foreach (var process in new[] { relativeDestination, climbing, relativeSource })
        {
            Assert.Throws<ArgumentException>(() => PreparedContainer.Prepare(new ContainerRun("c1", rootfs, state, process, new ContainerIO()), "runc"));
        }
    }

    private PreparedContainer Prepare(ContainerProcess process)
        => PreparedContainer.Prepare(new ContainerRun("c1", Path.Combine(_dir, "rootfs"), Path.Combine(_dir, "state"), process, new ContainerIO()), "runc");

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
