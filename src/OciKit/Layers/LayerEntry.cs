namespace OciKit.Layers;

/// <summary>What a <see cref="LayerEntry"/> puts into a layer.</summary>
public enum LayerEntryType
{
    /// <summary>A regular file with content.</summary>
    File,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link; its target is stored as written.</summary>
    Symlink,

    /// <summary>A hard link to another path of the same layer.</summary>
    Hardlink,

    /// <summary>A deletion of a path of a lower layer, written as a <c>.wh.NAME</c> file.</summary>
    Whiteout,

    /// <summary>A directory whose lower-layer content is hidden, written as a <c>.wh..wh..opq</c> file inside it.</summary>
    OpaqueWhiteout,

    /// <summary>A character device (<see cref="LayerEntry.DeviceMajor"/>, <see cref="LayerEntry.DeviceMinor"/>).</summary>
    CharacterDevice,

    /// <summary>A block device (<see cref="LayerEntry.DeviceMajor"/>, <see cref="LayerEntry.DeviceMinor"/>).</summary>
    BlockDevice,

    /// <summary>A named pipe (FIFO).</summary>
    Fifo,
}

/// <summary>
/// One entry of a layer to write: a file (with a way to open its content), a directory, a link or a whiteout.
/// Create entries with the factory methods; they validate and normalise the path.
/// </summary>
/// <remarks>
/// Paths are relative, <c>/</c>-separated and normalised (<c>./a//b/</c> becomes <c>a/b</c>); absolute paths and
/// <c>..</c> segments are refused with <see cref="LayerPathException"/>. Owner ids default to 0 and user and group
/// names to none, so a layer never carries host identities unless asked.
/// </remarks>
public sealed record LayerEntry
{
    private const UnixFileMode PermissionMask = (UnixFileMode)0xFFF;
    private readonly UnixFileMode _mode;
    private readonly int _uid;
    private readonly int _gid;

    private LayerEntry(LayerEntryType type, string path, UnixFileMode mode)
    {
        Type = type;
        Path = LayerPath.Normalize(path);
        _mode = mode;
        if (type is not (LayerEntryType.Whiteout or LayerEntryType.OpaqueWhiteout)
            && LayerPath.Name(Path).StartsWith(LayerPath.WhiteoutPrefix, StringComparison.Ordinal))
        {
            throw new LayerPathException(path, $"names starting with '{LayerPath.WhiteoutPrefix}' are reserved for whiteouts");
        }
    }

    /// <summary>What the entry is.</summary>
    public LayerEntryType Type { get; }

    /// <summary>The normalised relative path (for a whiteout, the path that is deleted).</summary>
    public string Path { get; }

    /// <summary>The link target: the stored text of a symlink, or the normalised layer path of a hard link's file.</summary>
    public string? LinkTarget { get; private init; }

    /// <summary>The content size in bytes of a file; 0 for every other type.</summary>
    public long Size { get; private init; }

    /// <summary>Permission bits, including set-user-id, set-group-id and sticky.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value has bits outside <c>07777</c>.</exception>
    public UnixFileMode Mode
    {
        get => _mode;
        init => _mode = (value & ~PermissionMask) == 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Only permission bits (07777) are allowed.");
    }

    /// <summary>The numeric owner id (default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Uid
    {
        get => _uid;
        init => _uid = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A uid is never negative.");
    }

    /// <summary>The numeric group id (default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Gid
    {
        get => _gid;
        init => _gid = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A gid is never negative.");
    }

    /// <summary>An optional owner name (none by default, which keeps layers free of host identities).</summary>
    public string? UserName { get; init; }

    /// <summary>An optional group name (none by default).</summary>
    public string? GroupName { get; init; }

    /// <summary>Optional extended attributes (for example <c>security.capability</c>), written as PAX <c>SCHILY.xattr.*</c> records.</summary>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? ExtendedAttributes { get; init; }

    /// <summary>
    /// The modification time written for this entry; <see langword="null"/> (the default) writes the layer's one
    /// timestamp (<see cref="LayerOptions.Timestamp"/>, else <c>SOURCE_DATE_EPOCH</c>, else the Unix epoch). Whole seconds are written.
    /// </summary>
    public DateTimeOffset? ModificationTime { get; init; }

    /// <summary>The major number of a device entry; 0 for every other type.</summary>
    public int DeviceMajor { get; private init; }

    /// <summary>The minor number of a device entry; 0 for every other type.</summary>
    public int DeviceMinor { get; private init; }

    /// <summary>Opens the content of a file; the writer owns and disposes the stream it returns.</summary>
    internal Func<Stream>? OpenContent { get; private init; }

    /// <summary>The path this entry has inside the tar stream (whiteouts carry their <c>.wh.</c> name).</summary>
    internal string TarPath => Type switch
    {
        LayerEntryType.Whiteout => LayerPath.Join(LayerPath.Parent(Path), LayerPath.WhiteoutPrefix + LayerPath.Name(Path)),
        LayerEntryType.OpaqueWhiteout => Path + "/" + LayerPath.OpaqueMarker,
        _ => Path,
    };

    /// <summary>A regular file whose content a callback opens when the layer is written.</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="size">The exact content length; the layer write fails if the stream yields another length.</param>
    /// <param name="openContent">Opens the content; called once, and the writer disposes the stream it returns.</param>
    /// <param name="mode">Permission bits, default <c>0644</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static LayerEntry File(string path, long size, Func<Stream> openContent, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        ArgumentNullException.ThrowIfNull(openContent);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return new LayerEntry(LayerEntryType.File, path, mode) { Mode = mode, Size = size, OpenContent = openContent };
    }

    /// <summary>A regular file whose content is read from a file on disk when the layer is written.</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="sourcePath">The file on disk; its length is taken now and must not change before the write.</param>
    /// <param name="mode">Permission bits, default <c>0644</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    /// <exception cref="FileNotFoundException">The source file does not exist.</exception>
    public static LayerEntry FileFromDisk(string path, string sourcePath, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        var info = new FileInfo(sourcePath);
        if (!info.Exists)
        {
            throw new FileNotFoundException("The source file does not exist.", sourcePath);
        }

        var full = info.FullName;
        return File(path, info.Length, () => OpenForSequentialRead(full), mode);
    }

    /// <summary>A directory.</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="mode">Permission bits, default <c>0755</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static LayerEntry Directory(string path, UnixFileMode mode = (UnixFileMode)0x1ED)
        => new(LayerEntryType.Directory, path, mode) { Mode = mode };

    /// <summary>A symbolic link. The target is stored as given (it may be absolute: it is resolved inside the container).</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="target">The link text.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    /// <exception cref="ArgumentException">The target is empty or contains a NUL character.</exception>
    public static LayerEntry Symlink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (target.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A link target cannot contain a NUL character.", nameof(target));
        }

        return new LayerEntry(LayerEntryType.Symlink, path, (UnixFileMode)0x1FF) { LinkTarget = target };
    }

    /// <summary>A hard link to a file written earlier in the same layer.</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="target">The layer path of the linked file.</param>
    /// <param name="mode">Permission bits recorded in the header, default <c>0644</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path or the target is not a safe relative path.</exception>
    public static LayerEntry Hardlink(string path, string target, UnixFileMode mode = (UnixFileMode)0x1A4)
        => new(LayerEntryType.Hardlink, path, mode) { Mode = mode, LinkTarget = LayerPath.Normalize(target) };

    /// <summary>A deletion of a path that exists in a lower layer.</summary>
    /// <param name="deletedPath">The path to delete; written as <c>.wh.NAME</c> in its parent directory.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static LayerEntry Whiteout(string deletedPath) => new(LayerEntryType.Whiteout, deletedPath, 0);

    /// <summary>Marks a directory opaque: the content lower layers gave it is hidden.</summary>
    /// <param name="directoryPath">The directory; written as <c>DIR/.wh..wh..opq</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static LayerEntry OpaqueDirectory(string directoryPath) => new(LayerEntryType.OpaqueWhiteout, directoryPath, 0);

    /// <summary>A character or block device.</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="type"><see cref="LayerEntryType.CharacterDevice"/> or <see cref="LayerEntryType.BlockDevice"/>.</param>
    /// <param name="major">The device's major number.</param>
    /// <param name="minor">The device's minor number.</param>
    /// <param name="mode">Permission bits, default <c>0644</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The type is not a device type, or a number is negative.</exception>
    public static LayerEntry Device(string path, LayerEntryType type, int major, int minor, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        if (type is not (LayerEntryType.CharacterDevice or LayerEntryType.BlockDevice))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "A device entry is a character or block device.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(major);
        ArgumentOutOfRangeException.ThrowIfNegative(minor);
        return new LayerEntry(type, path, mode) { Mode = mode, DeviceMajor = major, DeviceMinor = minor };
    }

    /// <summary>A named pipe (FIFO).</summary>
    /// <param name="path">The path in the layer.</param>
    /// <param name="mode">Permission bits, default <c>0644</c>.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static LayerEntry Fifo(string path, UnixFileMode mode = (UnixFileMode)0x1A4) => new(LayerEntryType.Fifo, path, mode) { Mode = mode };

    internal static FileStream OpenForSequentialRead(string path) => new(
        path,
        new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            // No FileOptions.Asynchronous: on Unix it adds nothing but a thread-pool hop per read.
            Options = FileOptions.SequentialScan,
            BufferSize = 0,
        });
}
