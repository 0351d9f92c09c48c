using System.Diagnostics;
using System.Globalization;

namespace OciKit.Execution;

/// <summary>
/// bubblewrap (<c>bwrap</c>): the runner for an unprivileged user, in a user namespace where the user is root (or the
/// image's user). The same choices as the runtime-spec configuration, as arguments: new pid, ipc, uts (and network)
/// namespaces, the root file system bound at <c>/</c>, a new <c>/proc</c> and <c>/dev</c>, <c>/sys</c> read-only,
/// the state files over <c>/etc/hosts</c>, <c>/etc/resolv.conf</c> and <c>/etc/hostname</c>, Docker's default
/// capabilities only, no new privileges (bwrap always sets it). bwrap brings a new network namespace's loopback up.
/// </summary>
/// <remarks>
/// Limits: bwrap maps a single id, so supplementary groups are not set, and files a root-run bwrap writes belong to
/// the invoking user on the host. Stopping kills bwrap and its sandbox's init, which ends the sandbox's pid
/// namespace: the process gets SIGKILL without a SIGTERM first.
/// </remarks>
internal sealed class BubblewrapRuntime : IContainerRuntime
{
    /// <summary>Creates the runner.</summary>
    /// <param name="executablePath">bwrap's executable.</param>
    /// <param name="unprivileged">Whether bwrap runs as a user without privileges (it then needs a user namespace).</param>
    public BubblewrapRuntime(string executablePath, bool unprivileged)
    {
        ExecutablePath = executablePath;
        Unprivileged = unprivileged;
    }

    /// <inheritdoc/>
    public string Name => "bwrap";

    /// <inheritdoc/>
    public string ExecutablePath { get; }

    /// <summary>Whether bwrap runs without privileges, in a user namespace.</summary>
    public bool Unprivileged { get; }

    /// <inheritdoc/>
    public async Task<int> RunAsync(ContainerRun run, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var container = PreparedContainer.Prepare(run, Name);
        CreateMountParents(container);
        using var terminal = container.Terminal ? PseudoTerminal.Open(Name) : null;
        var outcome = await RuntimeProcess.RunAsync(ExecutablePath, Arguments(container, terminal?.SlavePath), run.IO, StopAsync, cancellationToken, terminal).ConfigureAwait(false);
        if (outcome.ExitCode != 0 && BwrapError(outcome.StderrTail) is { } error)
        {
            throw new ContainerRunException(Name, $"bwrap could not run the container: {error}");
        }

        return outcome.ExitCode;
    }

    /// <summary>bwrap's command line for a prepared container.</summary>
    /// <param name="container">The container.</param>
    /// <param name="terminal">
    /// The slave of the container's pseudo-terminal (<c>/dev/pts/N</c>) when it has one: bound at the same path over
    /// an empty <c>/dev/pts</c>, so <c>tty</c> names it; the process cannot allocate terminals of its own then.
    /// </param>
    public IReadOnlyList<string> Arguments(PreparedContainer container, string? terminal = null)
    {
        // --as-pid-1: the process is the pid namespace's init, as with runc and Docker, so when it ends, the kernel
        // ends every process it left (bwrap's own reaper would keep the sandbox alive as long as any process is).
        // Not --die-with-parent: the kernel's parent-death signal follows the thread that forked bwrap, and .NET starts
        // processes from pool threads that come and go, so bwrap would be killed at random. Stopping kills the tree.
        List<string> args = ["--unshare-pid", "--as-pid-1", "--unshare-ipc", "--unshare-uts"];
        if (container.Terminal is false)
        {
            args.Add("--new-session");   // no TIOCSTI into the caller's terminal
        }

        if (container.Network == ContainerNetwork.None)
        {
            args.Add("--unshare-net");
        }

        var root = container.User.Uid == 0;
        if (Unprivileged || !root || container.User.Gid != 0)
        {
            args.AddRange(["--unshare-user", "--uid", Number(container.User.Uid), "--gid", Number(container.User.Gid)]);
        }

        args.AddRange(["--bind", container.Rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--ro-bind", "/sys", "/sys"]);
        if (terminal is not null)
        {
            // The slave belongs to the host's devpts instance, not to the one bwrap mounts at /dev/pts.
            args.AddRange(["--tmpfs", "/dev/pts", "--dev-bind", terminal, terminal]);
        }

        foreach (var mount in container.Mounts)
        {
            if (mount.IsBind)
            {
                args.AddRange([mount.ReadOnly ? "--ro-bind" : "--bind", mount.Source, container.ResolveInRootfs(mount.Destination)]);
                continue;
            }

            foreach (var option in mount.Options.Where(o => o is not ("nosuid" or "nodev" or "ro")))
            {
                args.AddRange(option switch
                {
                    _ when option.StartsWith("mode=", StringComparison.Ordinal) => ["--perms", option[5..]],
                    _ when option.StartsWith("size=", StringComparison.Ordinal) => ["--size", Size(option[5..])],
                    _ => throw new NotSupportedException($"bwrap cannot apply the tmpfs option '{option}' of {mount.Destination}."),
                });
            }

            var destination = container.ResolveInRootfs(mount.Destination);
            args.AddRange(["--tmpfs", destination]);
            if (mount.ReadOnly)
            {
                args.AddRange(["--remount-ro", destination]);
            }
        }

        args.AddRange(["--chdir", container.WorkingDir, "--hostname", container.Hostname, "--clearenv"]);
        foreach (var variable in container.Env)
        {
            var equals = variable.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                args.AddRange(["--setenv", variable[..equals], variable[(equals + 1)..]]);
            }
        }

        if (root)
        {
            args.AddRange(["--cap-drop", "ALL"]);
            foreach (var cap in RuntimeSpec.DefaultCapabilities)
            {
                args.AddRange(["--cap-add", cap]);
            }
        }

        args.Add("--");
        args.AddRange(container.Args);
        return args;
    }

    /// <summary>
    /// The missing parent directories of every mount destination, created 0755 in the root file system as runc creates
    /// them: bwrap 0.8 makes the parents of a file it binds (<c>/etc</c> for <c>/etc/hosts</c>) 0700, and a command
    /// that then writes into such a directory would leave that mode in the layer.
    /// </summary>
    private static void CreateMountParents(PreparedContainer container)
    {
        foreach (var mount in container.Mounts)
        {
            var parent = Path.GetDirectoryName(container.ResolveInRootfs(mount.Destination));
            if (parent is not null && parent != "/")
            {
                RootfsPaths.ResolveRelative(container.Rootfs, parent, MissingComponent.CreateDirectory, directoriesOnly: false);
            }
        }
    }

    private static Task StopAsync(Process process)
    {
        // The whole tree: killing bwrap alone leaves its sandbox's init (its child) running; killing the init ends the
        // sandbox's pid namespace and every process in it.
        process.Kill(entireProcessTree: true);
        return Task.CompletedTask;
    }

    /// <summary>bwrap's own error (its lines start with <c>bwrap: </c>), when it failed before running the process.</summary>
    private static string? BwrapError(string stderrTail)
        => stderrTail.Split('\n').LastOrDefault(l => l.StartsWith("bwrap: ", StringComparison.Ordinal))?[7..].Trim();

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A tmpfs size option (<c>64m</c>, <c>65536k</c>, <c>1g</c>, bytes) in bytes, as bwrap's <c>--size</c> takes it.</summary>
    private static string Size(string value)
    {
        var unit = value.Length > 0 ? char.ToLowerInvariant(value[^1]) : ' ';
        var factor = unit switch { 'k' => 1024L, 'm' => 1024L * 1024, 'g' => 1024L * 1024 * 1024, _ => 1L };
        var digits = factor == 1 ? value : value[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? (number * factor).ToString(CultureInfo.InvariantCulture)
            : throw new NotSupportedException($"The tmpfs size '{value}' is not a number of bytes, k, m or g.");
    }
}
