namespace OciKit.Execution;

/// <summary>How a container root file system is made writable.</summary>
public enum RootfsMode
{
    /// <summary>Kernel overlayfs when the process is root and the kernel allows the mount, else <see cref="Copy"/>.</summary>
    Auto,

    /// <summary>Kernel overlayfs: the layers, extracted once each, are the lower directories; changes land in an upper directory.</summary>
    Overlay,

    /// <summary>All layers extracted into one directory; changes are found by comparing a snapshot of every path's status.</summary>
    Copy,
}

/// <summary>Where and how <see cref="ContainerRootfs.PrepareAsync"/> prepares a tree.</summary>
public sealed record RootfsOptions
{
    /// <summary>An empty folder owned by the caller (scratch); everything belonging to this container lives here and is deleted on dispose.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>
    /// Where extracted layers are kept and reused (for example <c>STORE/.ocikit/rootfs</c>); <see langword="null"/>:
    /// nothing is kept. Only used in <see cref="RootfsMode.Overlay"/>.
    /// </summary>
    public string? LayerCacheDirectory { get; init; }

    /// <summary>The mode; default <see cref="RootfsMode.Auto"/>.</summary>
    public RootfsMode Mode { get; init; } = RootfsMode.Auto;
}

/// <summary>What happened to a path, as <c>docker container diff</c> reports it (A, C, D).</summary>
public enum FileChangeKind
{
    /// <summary>The path is new.</summary>
    Added,

    /// <summary>The path existed and its content, type or metadata changed.</summary>
    Changed,

    /// <summary>The path was deleted.</summary>
    Deleted,
}

/// <summary>One changed path of a container's root file system.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Path">The absolute container path (<c>/etc/x</c>).</param>
public sealed record FileChange(FileChangeKind Kind, string Path);
