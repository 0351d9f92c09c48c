using System.Text.Json;
using System.Text.Json.Nodes;

namespace OciKit.Execution;

/// <summary>
/// The runtime-spec bundle configuration (<c>config.json</c>) of a prepared container, with what Docker and buildah
/// put in it: namespaces, Docker's default capabilities, no new privileges, the default mounts, masked and read-only
/// paths. runc and crun read it; bubblewrap gets the same choices as arguments.
/// </summary>
internal static class RuntimeSpec
{
    /// <summary>The runtime-spec version written (runc 1.1 and crun 1.8 implement 1.0.2 and later).</summary>
    public const string OciVersion = "1.0.2";

    /// <summary>Docker's default capability set (moby's <c>caps.DefaultCapabilities</c>).</summary>
    public static readonly string[] DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    /// <summary>Paths Docker masks (config-linux.md, "Masked Paths"): kernel internals a container has no business reading.</summary>
    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    /// <summary>Paths Docker makes read-only (config-linux.md, "Readonly Paths").</summary>
    public static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>The open-files limit podman and Docker's containerd give a container.</summary>
    public const long DefaultNoFileLimit = 1048576;

    /// <summary>
    /// The open-files limit written: <see cref="DefaultNoFileLimit"/>, or this process' own hard limit when that is lower
    /// (as podman does: a runtime may not raise a limit beyond what its caller has when the machine confines it).
    /// </summary>
    public static long NoFileLimit { get; } = Math.Min(DefaultNoFileLimit, CurrentHardNoFileLimit() ?? DefaultNoFileLimit);

    /// <summary>The default mounts (config.md, "Mounts"; the set of Docker's <c>oci.DefaultSpec</c>, without the cgroup file system).</summary>
    public static IReadOnlyList<MountSpec> DefaultMounts { get; } =
    [
        new("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        new("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        new("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        new("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        new("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        new("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ];

    /// <summary>Writes <c>config.json</c> for <paramref name="container"/>.</summary>
    public static byte[] Create(PreparedContainer container)
    {
        var caps = new JsonArray(DefaultCapabilities.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray());
        var user = new JsonObject
        {
            ["uid"] = container.User.Uid,
            ["gid"] = container.User.Gid,
        };
        if (container.User.AdditionalGids.Count > 0)
        {
            user["additionalGids"] = new JsonArray(container.User.AdditionalGids.Select(g => (JsonNode?)JsonValue.Create(g)).ToArray());
        }

        // config-linux.md, "Namespaces": pid, ipc, uts and mount always; network only for None (Host shares the
        // runtime's network namespace, which is the host's). runc brings the new namespace's loopback up itself.
        var namespaces = new JsonArray();
        foreach (var type in container.Network == ContainerNetwork.None ? new[] { "pid", "ipc", "uts", "mount", "network" } : ["pid", "ipc", "uts", "mount"])
        {
            namespaces.Add((JsonNode)new JsonObject { ["type"] = type });
        }

        var mounts = new JsonArray();
        foreach (var mount in DefaultMounts.Concat(container.Mounts))
        {
            mounts.Add((JsonNode)new JsonObject
            {
                ["destination"] = mount.Destination,
                ["type"] = mount.Type,
                ["source"] = mount.Source,
                ["options"] = Strings(mount.Options),
            });
        }

        var spec = new JsonObject
        {
            ["ociVersion"] = OciVersion,
            ["process"] = new JsonObject
            {
                ["terminal"] = container.Terminal,
                ["user"] = user,
                ["args"] = Strings(container.Args),
                ["env"] = Strings(container.Env),
                ["cwd"] = container.WorkingDir,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = caps.DeepClone(),
                    ["effective"] = caps.DeepClone(),
                    ["permitted"] = caps.DeepClone(),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = NoFileLimit, ["soft"] = NoFileLimit }),
                ["noNewPrivileges"] = true,
            },
            // config.md, "Root": the prepared tree, writable (what the process writes becomes the RUN's layer).
            ["root"] = new JsonObject { ["path"] = container.Rootfs, ["readonly"] = false },
            ["hostname"] = container.Hostname,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                // No cgroupsPath: the runtime names the cgroup after the container id under its own, which works with
                // cgroupfs on cgroup v1, hybrid and v2 machines without a systemd manager.
                ["resources"] = new JsonObject
                {
                    // config-linux.md, "Devices" (cgroup allow-list): deny all; the runtime adds its default devices.
                    ["devices"] = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" }),
                },
                ["namespaces"] = namespaces,
                ["maskedPaths"] = Strings(MaskedPaths),
                ["readonlyPaths"] = Strings(ReadonlyPaths),
            },
        };
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            spec.WriteTo(writer);
        }

        return buffer.ToArray();
    }

    /// <summary>This process' hard RLIMIT_NOFILE, from <c>/proc/self/limits</c> (the BCL has no getrlimit).</summary>
    private static long? CurrentHardNoFileLimit()
    {
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields is { Length: >= 2 } && long.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var hard) ? hard : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
}
