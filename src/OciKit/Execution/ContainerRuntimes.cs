using System.Diagnostics.CodeAnalysis;
using OciKit.Layers;

namespace OciKit.Execution;

/// <summary>Finds the container runtime to use here, and says what a runtime provides in every container.</summary>
public static class ContainerRuntimes
{
    /// <summary>Folders searched after <c>PATH</c>: runc lives in <c>/usr/sbin</c>, which a user's <c>PATH</c> may lack.</summary>
    private static readonly string[] ExtraFolders = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// Selects a runtime. Automatic (<see langword="null"/> or empty): runc, then crun, when running as root, bwrap
    /// (then, as root, bwrap as well) otherwise. A name (<c>runc</c>, <c>crun</c>, <c>bwrap</c>) or an absolute path
    /// selects one.
    /// </summary>
    /// <param name="runtime">The runtime's name or path, or <see langword="null"/> for automatic selection.</param>
    /// <returns>The runtime.</returns>
    /// <exception cref="ContainerRuntimeNotFoundException">None is usable; the message names what to install.</exception>
    public static IContainerRuntime Select(string? runtime = null)
        => TrySelect(runtime, out var selected, out var why) ? selected : throw new ContainerRuntimeNotFoundException(runtime, why);

    /// <summary>Selects a runtime like <see cref="Select"/>, without throwing when none is usable.</summary>
    /// <param name="runtime">The runtime's name or path, or <see langword="null"/> for automatic selection.</param>
    /// <param name="selected">The runtime, when one is usable.</param>
    /// <returns>Whether one is usable.</returns>
    public static bool TrySelect(string? runtime, [NotNullWhen(true)] out IContainerRuntime? selected)
        => TrySelect(runtime, out selected, out _);

    /// <summary>
    /// Every container path a runtime mounts or creates for <paramref name="process"/>: <c>/proc</c>, <c>/dev</c> and
    /// the file systems under it, <c>/sys</c>, <c>/etc/hosts</c>, <c>/etc/resolv.conf</c>, <c>/etc/hostname</c> and
    /// the destinations of the process' mounts. None of them is ever captured into a layer.
    /// </summary>
    /// <param name="process">The process.</param>
    /// <returns>Absolute container paths, without trailing slashes.</returns>
    public static IReadOnlyList<string> ProvidedPaths(ContainerProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var paths = RuntimeSpec.DefaultMounts.Select(m => m.Destination)
            .Concat(PreparedContainer.StateFiles)
            .Concat(process.Mounts.Select(m => PreparedContainer.Normalize(m.Destination)));
        return paths.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Every container path a runtime mounts or creates for <paramref name="process"/> in <paramref name="rootfs"/>:
    /// the paths of <see cref="ProvidedPaths(ContainerProcess)"/> and, where one of them is a symbolic link in the root
    /// file system (an image whose <c>/etc/resolv.conf</c> points to <c>../run/resolv.conf</c>), the path it resolves
    /// to inside the root file system, where runc, crun and bwrap create the mount point.
    /// </summary>
    /// <param name="process">The process.</param>
    /// <param name="rootfs">The container's root file system on the host (<c>ContainerRootfs.Path</c>).</param>
    /// <returns>Absolute container paths, without trailing slashes.</returns>
    /// <exception cref="ArgumentException"><paramref name="rootfs"/> is not an absolute path.</exception>
    public static IReadOnlyList<string> ProvidedPaths(ContainerProcess process, string rootfs)
    {
        ArgumentNullException.ThrowIfNull(process);
        ArgumentNullException.ThrowIfNull(rootfs);
        if (!Path.IsPathFullyQualified(rootfs))
        {
            throw new ArgumentException($"The root file system '{rootfs}' is not an absolute path.", nameof(rootfs));
        }

        var paths = new List<string>();
        foreach (var path in ProvidedPaths(process))
        {
            paths.Add(path);
            try
            {
                var resolved = Path.GetRelativePath(rootfs, RootfsPaths.Resolve(rootfs, path));
                paths.Add(resolved == "." ? "/" : "/" + resolved);
            }
            catch (SymlinkLoopException)
            {
                // A link loop: no runtime can create a mount point there (the run fails), nothing more to leave out.
            }
        }

        return paths.Where(p => p != "/").Distinct(StringComparer.Ordinal).ToList();
    }

    private static bool TrySelect(string? runtime, [NotNullWhen(true)] out IContainerRuntime? selected, out string why)
    {
        var root = Environment.IsPrivilegedProcess;
        selected = null;
        if (!OperatingSystem.IsLinux())
        {
            why = "Running containers needs Linux (runc, crun or bubblewrap); this is " + System.Runtime.InteropServices.RuntimeInformation.OSDescription + ".";
            return false;
        }

        if (string.IsNullOrEmpty(runtime))
        {
            if (root && (Find("runc") ?? Find("crun")) is { } oci)
            {
                selected = new OciRuntime(Path.GetFileName(oci), oci);
            }
            else if (Find("bwrap") is { } bwrap && (root || UserNamespacesAllowed()))
            {
                selected = new BubblewrapRuntime(bwrap, unprivileged: !root);
            }

            why = root
                ? "No container runtime found to run RUN instructions: looked for runc, crun and bwrap on PATH. Install one: apt-get install runc (or crun, or bubblewrap)."
                : Find("bwrap") is null
                    ? "No container runtime usable without root found: looked for bwrap on PATH. Install it: apt-get install bubblewrap (or run as root with runc: apt-get install runc)."
                    : "bwrap is installed but this kernel does not let an unprivileged user create user namespaces (see /proc/sys/user/max_user_namespaces and kernel.unprivileged_userns_clone); run as root with runc (apt-get install runc).";
            return selected is not null;
        }

        var path = Path.IsPathFullyQualified(runtime) ? (IsExecutable(runtime) ? runtime : null) : Find(runtime);
        var name = Path.GetFileName(runtime);
        var package = name switch { "bwrap" => "bubblewrap", "crun" => "crun", _ => "runc" };
        if (path is null)
        {
            why = Path.IsPathFullyQualified(runtime)
                ? $"The container runtime '{runtime}' is not an executable file."
                : $"The container runtime '{runtime}' was not found on PATH. Install it: apt-get install {package}.";
            return false;
        }

        if (name == "bwrap")
        {
            if (!root && !UserNamespacesAllowed())
            {
                why = "bwrap needs user namespaces, which this kernel does not allow an unprivileged user; run as root with runc (apt-get install runc).";
                return false;
            }

            selected = new BubblewrapRuntime(path, unprivileged: !root);
            why = "";
            return true;
        }

        if (!root)
        {
            why = $"{name} runs containers as root only here; run as root, or use bwrap without root (apt-get install bubblewrap).";
            return false;
        }

        selected = new OciRuntime(name, path);
        why = "";
        return true;
    }

    /// <summary>The first executable file named <paramref name="name"/> on <c>PATH</c> or in the usual system folders.</summary>
    internal static string? Find(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ExtraFolders);
        return folders.Where(Path.IsPathFullyQualified).Select(folder => Path.Combine(folder, name)).FirstOrDefault(IsExecutable);
    }

    private static bool IsExecutable(string path)
    {
        try
        {
            return !OperatingSystem.IsWindows() && File.Exists(path)
                && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether an unprivileged user may create a user namespace (Debian's sysctl and the generic limit).</summary>
    private static bool UserNamespacesAllowed()
    {
        return Read("/proc/sys/kernel/unprivileged_userns_clone") != "0" && Read("/proc/sys/user/max_user_namespaces") is not ("0" or null);

        static string? Read(string path)
        {
            try
            {
                return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
