using System.Text;
using System.Text.RegularExpressions;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Execution;

/// <summary>A mount as every runner makes it, defaults and the caller's alike.</summary>
/// <param name="Destination">The absolute container path.</param>
/// <param name="Type">The file system type, <c>bind</c> for a bind mount.</param>
/// <param name="Source">The host path of a bind, the file system's name otherwise.</param>
/// <param name="Options">The mount options (<c>ro</c> included when read-only).</param>
internal sealed record MountSpec(string Destination, string Type, string Source, IReadOnlyList<string> Options)
{
    public bool ReadOnly => Options.Contains("ro");

    public bool IsBind => Type == "bind";
}

/// <summary>
/// Everything about a run resolved before a runtime starts it: the user from the image's own files, the final
/// environment, the working directory (created), and the state files bound over <c>/etc/hosts</c>,
/// <c>/etc/resolv.conf</c> and <c>/etc/hostname</c>. The runners map this, not <see cref="ContainerProcess"/>, so
/// runc, crun and bwrap apply the same rules.
/// </summary>
internal sealed partial record PreparedContainer(
    string Id,
    string Rootfs,
    string StateDirectory,
    IReadOnlyList<string> Args,
    IReadOnlyList<string> Env,
    ExecUser User,
    string WorkingDir,
    string Hostname,
    ContainerNetwork Network,
    bool Terminal,
    IReadOnlyList<MountSpec> Mounts)
{
    /// <summary>Docker's default <c>PATH</c> (moby's <c>oci.DefaultPathEnv</c> on Linux), set when the image has none.</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>Files the runners bind from the state directory over the container's own.</summary>
    public static readonly string[] StateFiles = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];

    /// <summary>Validates a run, resolves its user and environment, creates its working directory and writes its state files.</summary>
    /// <exception cref="ContainerRunException">The user or group is not in the image's files.</exception>
    public static PreparedContainer Prepare(ContainerRun run, string runtime)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(run.Process);
        ArgumentNullException.ThrowIfNull(run.IO);
        if (!IdPattern().IsMatch(run.Id))
        {
            throw new ArgumentException($"Container id '{run.Id}' must be lower-case letters, digits and '-'.", nameof(run));
        }

        if (!Path.IsPathFullyQualified(run.Rootfs) || !Directory.Exists(run.Rootfs))
        {
            throw new ArgumentException($"The container's root file system '{run.Rootfs}' is not an existing absolute directory.", nameof(run));
        }

        if (!Path.IsPathFullyQualified(run.StateDirectory) || !Directory.Exists(run.StateDirectory))
        {
            throw new ArgumentException($"The state directory '{run.StateDirectory}' is not an existing absolute directory.", nameof(run));
        }

        var process = run.Process;
        if (process.Args is not { Count: > 0 } || process.Args[0].Length == 0)
        {
            throw new ArgumentException("A container process needs at least one argument (the program).", nameof(run));
        }

        if (!process.WorkingDir.StartsWith('/'))
        {
            throw new ArgumentException($"The working directory '{process.WorkingDir}' is not absolute.", nameof(run));
        }

        foreach (var mount in process.Mounts)
        {
            if (!mount.Destination.StartsWith('/') || mount.Destination.Split('/').Contains(".."))
            {
                throw new ArgumentException($"The mount destination '{mount.Destination}' must be an absolute path without '..'.", nameof(run));
            }

            if (mount.Type == ContainerMountType.Bind && !Path.IsPathFullyQualified(mount.Source))
            {
                throw new ArgumentException($"The bind mount source '{mount.Source}' is not an absolute host path.", nameof(run));
            }
        }

        // image-spec conversion.md, "User": resolved in the image's /etc/passwd and /etc/group, never the host's.
        var passwd = PasswdDatabase.Parse(ReadRootfsFile(run.Rootfs, "/etc/passwd"), ReadRootfsFile(run.Rootfs, "/etc/group"));
        var user = passwd.ResolveExecUser(process.User, out var error)
            ?? throw new ContainerRunException(runtime, $"{error} (in the image's /etc/passwd and /etc/group)", FailureKind.Caller);

        // conversion.md, "Env": the image's variables as given; PATH and HOME as Docker adds them when absent.
        var env = new List<string>(process.Env);
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
        {
            env.Add("PATH=" + DefaultPath);
        }

        if (!env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
        {
            env.Add("HOME=" + user.Home);
        }

        // conversion.md, "WorkingDir": the runtime's process.cwd; Docker creates it when missing.
        var workingDir = Normalize(process.WorkingDir);
        Directory.CreateDirectory(RootfsPaths.Resolve(run.Rootfs, workingDir));

        var mounts = new List<MountSpec>();
        var hosts = WriteStateFile(run.StateDirectory, "hosts", HostsFile(process.Hostname));
        var resolv = WriteStateFile(run.StateDirectory, "resolv.conf", ResolvConf());
        var hostname = WriteStateFile(run.StateDirectory, "hostname", process.Hostname + "\n");
        mounts.Add(new MountSpec("/etc/hosts", "bind", hosts, ["rbind", "rprivate"]));
        mounts.Add(new MountSpec("/etc/resolv.conf", "bind", resolv, ["rbind", "rprivate"]));
        mounts.Add(new MountSpec("/etc/hostname", "bind", hostname, ["rbind", "rprivate"]));
        foreach (var mount in process.Mounts)
        {
            List<string> options = mount.Type == ContainerMountType.Bind ? ["rbind", "rprivate"] : ["nosuid", "nodev"];
            if (mount.ReadOnly)
            {
                options.Add("ro");
            }

            options.AddRange(mount.Options);
            mounts.Add(mount.Type == ContainerMountType.Bind
                ? new MountSpec(Normalize(mount.Destination), "bind", mount.Source, options)
                : new MountSpec(Normalize(mount.Destination), "tmpfs", "tmpfs", options));
        }

        return new PreparedContainer(run.Id, run.Rootfs, run.StateDirectory, process.Args, env, user, workingDir, process.Hostname,
            process.Network, process.Terminal, mounts);
    }

    /// <summary>
    /// <paramref name="containerPath"/> with the root file system's symbolic links resolved inside it, for runtimes that
    /// would follow a link in a mount destination outside the root (bwrap); runc and crun resolve it so themselves.
    /// </summary>
    public string ResolveInRootfs(string containerPath)
    {
        var resolved = Path.GetRelativePath(Rootfs, RootfsPaths.Resolve(Rootfs, containerPath));
        return resolved == "." ? "/" : "/" + resolved;
    }

    /// <summary>A container path without a trailing slash, <c>.</c> or empty components.</summary>
    public static string Normalize(string containerPath)
    {
        var parts = containerPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");
        return "/" + string.Join('/', parts);
    }

    /// <summary>The generated <c>/etc/hosts</c>: the loopback names and the container's host name, as buildah writes it.</summary>
    public static string HostsFile(string hostname)
        => $"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n";

    /// <summary>The host's <c>/etc/resolv.conf</c> content (the container shares or mirrors the host's DNS, as buildah does).</summary>
    private static string ResolvConf()
    {
        try
        {
            return File.ReadAllText("/etc/resolv.conf");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string WriteStateFile(string stateDirectory, string name, string content)
    {
        var path = Path.Combine(stateDirectory, name);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        // Readable by a runtime that runs as another user (bwrap in a user namespace) and by the container's users.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return path;
    }

    /// <summary>Reads a file of the root file system, symlinks resolved inside it, or <see langword="null"/> when it has none.</summary>
    private static string? ReadRootfsFile(string rootfs, string containerPath)
    {
        var path = RootfsPaths.Resolve(rootfs, containerPath);
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}

/// <summary>Container paths resolved to host paths inside a root file system, never outside it.</summary>
internal static class RootfsPaths
{
    private const int MaxLinkHops = 40;

    /// <summary>
    /// The host path of <paramref name="containerPath"/> in <paramref name="root"/>, following symbolic links as the
    /// kernel would with <paramref name="root"/> as <c>/</c>: absolute targets restart at the root and <c>..</c> stops
    /// at it, so a link to <c>/etc/passwd</c> or <c>../../..</c> never reaches the host's files. Missing components
    /// are kept as they are (the result may not exist).
    /// </summary>
    /// <exception cref="SymlinkLoopException">More than 40 links were followed.</exception>
    public static string Resolve(string root, string containerPath)
    {
        var pending = new Stack<string>(containerPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            var candidate = Path.Combine(root, string.Join('/', resolved.Append(part)));
            var target = new FileInfo(candidate).LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }

            if (++hops > MaxLinkHops)
            {
                throw new SymlinkLoopException(containerPath, hops - 1);
            }

            if (target.StartsWith('/'))
            {
                resolved.Clear();
            }

            foreach (var t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(t);
            }
        }

        return resolved.Count == 0 ? root : Path.Combine(root, string.Join('/', resolved));
    }
}
