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
        var user = ResolveUser(run.Rootfs, process.User, out var error)
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
    /// <summary>A user spec (<c>name</c>, <c>uid</c>, <c>name:group</c>…) resolved in the root file system's own <c>/etc/passwd</c> and <c>/etc/group</c>.</summary>
    /// <returns>The user, or null with <paramref name="error"/> saying what is missing.</returns>
    internal static ExecUser? ResolveUser(string rootfs, string user, out string? error)
        => PasswdDatabase.Parse(ReadRootfsFile(rootfs, "/etc/passwd"), ReadRootfsFile(rootfs, "/etc/group")).ResolveExecUser(user, out error);

    private static string? ReadRootfsFile(string rootfs, string containerPath)
    {
        var path = RootfsPaths.Resolve(rootfs, containerPath);
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}

/// <summary>What a walk inside a root file system does with a path component that does not exist.</summary>
internal enum MissingComponent
{
    /// <summary>Keep it as written (the result may not exist).</summary>
    Keep,

    /// <summary>Stop: the path does not resolve.</summary>
    Fail,

    /// <summary>Create it as a directory, mode 0755 (what an unlisted parent of a layer entry becomes).</summary>
    CreateDirectory,
}

/// <summary>
/// Container paths resolved inside a root file system, never outside it: the one walk that layer extraction, working
/// directories, mount destinations and the image's own files (passwd, group) go through.
/// </summary>
internal static class RootfsPaths
{
    /// <summary>Symbolic links followed before a path is a loop (containerd's limit when it resolves paths in a root).</summary>
    public const int MaxLinkHops = 255;

    private const UnixFileMode DirectoryMode = (UnixFileMode)0x1ED;

    /// <summary>
    /// The host path of <paramref name="containerPath"/> in <paramref name="root"/>, following symbolic links as the
    /// kernel would with <paramref name="root"/> as <c>/</c>: absolute targets restart at the root and <c>..</c> stops
    /// at it, so a link to <c>/etc/passwd</c> or <c>../../..</c> never reaches the host's files. Missing components
    /// are kept as they are (the result may not exist).
    /// </summary>
    /// <exception cref="SymlinkLoopException">More than <see cref="MaxLinkHops"/> links were followed.</exception>
    public static string Resolve(string root, string containerPath)
    {
        var relative = ResolveRelative(root, containerPath, MissingComponent.Keep, directoriesOnly: false)!;
        return relative.Length == 0 ? root : Path.Combine(root, relative);
    }

    /// <summary>
    /// <paramref name="containerPath"/> resolved inside <paramref name="root"/> (every component, the last one too),
    /// as a path relative to the root ("" for the root itself); null when a component is missing and
    /// <paramref name="missing"/> is <see cref="MissingComponent.Fail"/>.
    /// </summary>
    /// <param name="root">The root file system's host path.</param>
    /// <param name="containerPath">The path in the container; absolute or not, it starts at the root.</param>
    /// <param name="missing">What a missing component does.</param>
    /// <param name="directoriesOnly">Every component must be a directory (a <see cref="LayerPathException"/> otherwise).</param>
    /// <param name="knownDirectories">Relative paths already known to be real directories (skipped, and added to as they are found).</param>
    /// <exception cref="SymlinkLoopException">More than <see cref="MaxLinkHops"/> links were followed.</exception>
    /// <exception cref="LayerPathException">A component is not a directory where <paramref name="directoriesOnly"/> asks for one.</exception>
    public static string? ResolveRelative(string root, string containerPath, MissingComponent missing, bool directoriesOnly, HashSet<string>? knownDirectories = null)
    {
        var pending = new Stack<string>(containerPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        var current = string.Empty;
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
                    current = string.Join('/', resolved);
                }

                continue;
            }

            var candidate = current.Length == 0 ? part : current + "/" + part;
            if (knownDirectories is null || !knownDirectories.Contains(candidate))
            {
                var full = root + "/" + candidate;
                if (!RootfsNative.TryLstat(full, out var status))
                {
                    switch (missing)
                    {
                        case MissingComponent.Fail:
                            return null;
                        case MissingComponent.CreateDirectory:
                            RootfsNative.Mkdir(full, DirectoryMode);
                            RootfsNative.Chmod(full, DirectoryMode);
                            knownDirectories?.Add(candidate);
                            break;
                    }
                }
                else if (status.IsSymlink)
                {
                    if (++hops > MaxLinkHops)
                    {
                        throw new SymlinkLoopException(containerPath, hops - 1);
                    }

                    var target = RootfsNative.ReadLink(full);
                    if (target.StartsWith('/'))
                    {
                        resolved.Clear();
                        current = string.Empty;
                    }

                    foreach (var t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                    {
                        pending.Push(t);
                    }

                    continue;
                }
                else if (status.IsDirectory)
                {
                    knownDirectories?.Add(candidate);
                }
                else if (directoriesOnly)
                {
                    throw new LayerPathException(containerPath, $"its parent '{candidate}' is not a directory");
                }
            }

            resolved.Add(part);
            current = candidate;
        }

        return current;
    }
}
