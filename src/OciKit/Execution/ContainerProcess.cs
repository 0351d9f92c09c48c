namespace OciKit.Execution;

/// <summary>The network a container process sees.</summary>
public enum ContainerNetwork
{
    /// <summary>The host's network namespace (what buildah's chroot isolation gives a <c>RUN</c>, and Docker's <c>--network=host</c>).</summary>
    Host,

    /// <summary>A new network namespace with only the loopback interface: no way out.</summary>
    None,
}

/// <summary>What a <see cref="ContainerMount"/> mounts.</summary>
public enum ContainerMountType
{
    /// <summary>A host file or directory bound into the container.</summary>
    Bind,

    /// <summary>A new, empty in-memory file system.</summary>
    Tmpfs,
}

/// <summary>A mount the caller asks for (<c>RUN --mount</c>, <c>ocikit run -v</c>), made after the default ones.</summary>
/// <param name="Type">Bind or tmpfs.</param>
/// <param name="Source">The host path for <see cref="ContainerMountType.Bind"/>; ignored for <see cref="ContainerMountType.Tmpfs"/>.</param>
/// <param name="Destination">The absolute path in the container.</param>
/// <param name="ReadOnly">Whether the container cannot write through the mount.</param>
public sealed record ContainerMount(ContainerMountType Type, string Source, string Destination, bool ReadOnly)
{
    /// <summary>Extra mount options, for example <c>mode=1777</c> or <c>size=64m</c>.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

/// <summary>The process a container runs and the view of the system it gets.</summary>
public sealed record ContainerProcess
{
    /// <summary>The argument vector; <c>Args[0]</c> is resolved through <c>PATH</c> of <see cref="Env"/> by the runtime.</summary>
    public required IReadOnlyList<string> Args { get; init; }

    /// <summary>The environment, <c>KEY=VALUE</c>; <c>PATH</c> is defaulted as Docker does when absent, <c>HOME</c> from <c>/etc/passwd</c>.</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    /// <summary>
    /// The user: empty (root), a name, a uid, <c>name:group</c>, <c>uid:gid</c>…, resolved in the root file system's own
    /// <c>/etc/passwd</c> and <c>/etc/group</c>.
    /// </summary>
    public string User { get; init; } = "";

    /// <summary>The working directory, created when missing.</summary>
    public string WorkingDir { get; init; } = "/";

    /// <summary>The container's host name.</summary>
    public string Hostname { get; init; } = "ocikit";

    /// <summary>The network the process sees.</summary>
    public ContainerNetwork Network { get; init; } = ContainerNetwork.Host;

    /// <summary>The caller's mounts, made after the default ones.</summary>
    public IReadOnlyList<ContainerMount> Mounts { get; init; } = [];

    /// <summary>
    /// Whether to allocate a pseudo-terminal (<c>ocikit run -t</c>): the process gets it as its standard streams and
    /// controlling terminal, sized like the caller's terminal (80x24 when the caller has none); its output, standard
    /// error merged in as Docker does, goes to <see cref="ContainerIO.Stdout"/> through the terminal's line discipline
    /// (<c>\n</c> arrives as <c>\r\n</c>), and <see cref="ContainerIO.Stdin"/> is typed into it (and echoed). Putting
    /// the caller's own terminal into raw mode is the caller's business. Needs <c>setsid</c> (util-linux).
    /// </summary>
    public bool Terminal { get; init; }
}

/// <summary>The streams of a container process.</summary>
public sealed record ContainerIO
{
    /// <summary>What the process reads; <see langword="null"/> gives it an empty input.</summary>
    public Stream? Stdin { get; init; }

    /// <summary>Where its output goes, written as it arrives; <see langword="null"/> discards it.</summary>
    public Stream? Stdout { get; init; }

    /// <summary>
    /// Where its error output goes, written as it arrives; <see langword="null"/> discards it. With a terminal
    /// (<see cref="ContainerProcess.Terminal"/>) the process' error output arrives in <see cref="Stdout"/>.
    /// </summary>
    public Stream? Stderr { get; init; }
}

/// <summary>One run of a process in a container.</summary>
/// <param name="Id">A unique container id, <c>[a-z0-9-]</c>.</param>
/// <param name="Rootfs">The prepared writable tree the process gets as its root (<c>ContainerRootfs.Path</c>).</param>
/// <param name="StateDirectory">
/// An empty folder the runtime may use: the bundle's <c>config.json</c>, the generated <c>/etc/hosts</c>,
/// <c>/etc/resolv.conf</c> and <c>/etc/hostname</c>, the runtime's own state.
/// </param>
/// <param name="Process">The process and its view of the system.</param>
/// <param name="IO">Its streams.</param>
public sealed record ContainerRun(string Id, string Rootfs, string StateDirectory, ContainerProcess Process, ContainerIO IO);

/// <summary>A container runtime: runc, crun or bubblewrap.</summary>
public interface IContainerRuntime
{
    /// <summary>The runtime's name: <c>runc</c>, <c>crun</c> or <c>bwrap</c>.</summary>
    string Name { get; }

    /// <summary>The runtime's executable.</summary>
    string ExecutablePath { get; }

    /// <summary>
    /// Runs the process to completion. Cancellation kills the container (SIGTERM, then SIGKILL after a grace period),
    /// cleans the runtime's state and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="run">What to run, where.</param>
    /// <param name="cancellationToken">Stops the container.</param>
    /// <returns>The process' exit code, 128+N when it was killed by signal N.</returns>
    /// <exception cref="ContainerRunException">The user is unknown in the image, or the runtime could not start the process.</exception>
    Task<int> RunAsync(ContainerRun run, CancellationToken cancellationToken = default);
}
