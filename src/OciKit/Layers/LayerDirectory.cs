using System.Buffers;

namespace OciKit.Layers;

/// <summary>
/// Turns directories on disk into layer entries: a whole tree, or the difference between two trees.
/// </summary>
/// <remarks>
/// Files, directories and symlinks (kept as links, never followed) are read with their permission bits; hard links are
/// detected by device and inode on Linux, and the first path in ordinal order carries the content. Owners are
/// <see cref="LayerOptions.Uid"/>/<see cref="LayerOptions.Gid"/> (default 0), never the host's, and extended attributes
/// are not read. Devices, FIFOs and sockets are refused with <see cref="NotSupportedException"/>.
/// </remarks>
public static class LayerDirectory
{
    /// <summary>The entries of a layer holding a directory's content (the directory itself is the root).</summary>
    /// <param name="directory">The directory.</param>
    /// <param name="options">Supplies the owner ids; default <see cref="LayerOptions.Default"/>.</param>
    /// <returns>The entries, in canonical order.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="NotSupportedException">The directory holds a device, FIFO or socket.</exception>
    /// <exception cref="LayerPathException">A file uses a reserved whiteout name.</exception>
    public static IReadOnlyList<LayerEntry> ReadEntries(string directory, LayerOptions? options = null)
    {
        options ??= LayerOptions.Default;
        var nodes = Walk(directory);
        return ToEntries(nodes, options);
    }

    /// <summary>
    /// The entries of the layer that turns <paramref name="lowerDirectory"/> into <paramref name="upperDirectory"/>:
    /// added and changed entries (with their parent directories) and whiteouts for what was deleted.
    /// </summary>
    /// <param name="lowerDirectory">The tree before the change.</param>
    /// <param name="upperDirectory">The tree after the change.</param>
    /// <param name="options">Supplies the owner ids; default <see cref="LayerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the comparison of file contents.</param>
    /// <returns>The entries, in canonical order.</returns>
    /// <exception cref="DirectoryNotFoundException">A directory does not exist.</exception>
    /// <exception cref="NotSupportedException">A tree holds a device, FIFO or socket.</exception>
    public static async Task<IReadOnlyList<LayerEntry>> DiffAsync(string lowerDirectory, string upperDirectory, LayerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= LayerOptions.Default;
        var lower = Index(Walk(lowerDirectory));
        var upperNodes = Walk(upperDirectory);
        var upper = Index(upperNodes);

        var selected = new List<Node>();
        var selectedPaths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in upperNodes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!lower.TryGetValue(node.Path, out var old) || await ChangedAsync(old, node, cancellationToken).ConfigureAwait(false))
            {
                selected.Add(node);
                selectedPaths.Add(node.Path);
            }
        }

        var whiteouts = new List<string>();
        foreach (var (path, _) in lower)
        {
            if (upper.ContainsKey(path))
            {
                continue;
            }

            // A deletion below a deleted or replaced directory is covered by that directory's own whiteout or entry.
            var parent = LayerPath.Parent(path);
            if (parent is null || (upper.TryGetValue(parent, out var up) && up.Type == LayerEntryType.Directory
                && lower.TryGetValue(parent, out var low) && low.Type == LayerEntryType.Directory))
            {
                whiteouts.Add(path);
            }
        }

        // Every entry needs its parents, with the modes the upper tree gives them.
        foreach (var path in new List<string>([.. selectedPaths, .. whiteouts]))
        {
            for (var parent = LayerPath.Parent(path); parent is not null && selectedPaths.Add(parent); parent = LayerPath.Parent(parent))
            {
                selected.Add(upper[parent]);
            }
        }

        var entries = new List<LayerEntry>(ToEntries(selected, options));
        foreach (var path in whiteouts)
        {
            entries.Add(LayerEntry.Whiteout(path));
        }

        entries.Sort(static (a, b) => string.CompareOrdinal(a.TarPath, b.TarPath));
        return entries;
    }

    private static Dictionary<string, Node> Index(List<Node> nodes)
    {
        var index = new Dictionary<string, Node>(nodes.Count, StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            index.Add(node.Path, node);
        }

        return index;
    }

    private static List<LayerEntry> ToEntries(List<Node> nodes, LayerOptions options)
    {
        // Hard links: the first path of each inode in ordinal order carries the content, the others link to it.
        var sorted = new List<Node>(nodes);
        sorted.Sort(static (a, b) => string.CompareOrdinal(a.Path, b.Path));
        var firstByInode = new Dictionary<(ulong, ulong), string>();
        var entries = new List<LayerEntry>(sorted.Count);
        foreach (var node in sorted)
        {
            var entry = node.Type switch
            {
                LayerEntryType.Directory => LayerEntry.Directory(node.Path, node.Mode),
                LayerEntryType.Symlink => LayerEntry.Symlink(node.Path, node.LinkTarget!),
                _ => node.Inode is { } inode && !firstByInode.TryAdd(inode, node.Path)
                    ? LayerEntry.Hardlink(node.Path, firstByInode[inode], node.Mode)
                    : LayerEntry.File(node.Path, node.Size, OpenFile(node.FullPath), node.Mode),
            };
            entries.Add(entry with { Uid = options.Uid, Gid = options.Gid });
        }

        return entries;
    }

    private static Func<Stream> OpenFile(string fullPath) => () => LayerEntry.OpenForSequentialRead(fullPath);

    private static List<Node> Walk(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var root = new DirectoryInfo(directory);
        if (!root.Exists)
        {
            throw new DirectoryNotFoundException($"The directory '{directory}' does not exist.");
        }

        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
            ReturnSpecialDirectories = false,
        };
        var nodes = new List<Node>();
        var pending = new Stack<(DirectoryInfo Directory, string? Path)>();
        pending.Push((root, null));
        while (pending.Count > 0)
        {
            var (dir, dirPath) = pending.Pop();
            foreach (var info in dir.EnumerateFileSystemInfos("*", options))
            {
                var path = LayerPath.Join(dirPath, info.Name);
                UnixFileStatus.Kind kind;
                (ulong, ulong)? inode = null;
                if (UnixFileStatus.TryGet(info.FullName, out var device, out var ino, out kind))
                {
                    inode = (device, ino);
                }
                else
                {
                    kind = info.LinkTarget is not null ? UnixFileStatus.Kind.Symlink
                        : info is DirectoryInfo ? UnixFileStatus.Kind.Directory
                        : UnixFileStatus.Kind.Regular;
                }

                switch (kind)
                {
                    case UnixFileStatus.Kind.Symlink:
                        nodes.Add(new Node(path, LayerEntryType.Symlink, (UnixFileMode)0x1FF, 0, info.LinkTarget, info.FullName, null));
                        break;
                    case UnixFileStatus.Kind.Directory:
                        nodes.Add(new Node(path, LayerEntryType.Directory, ModeOf(info), 0, null, info.FullName, null));
                        pending.Push(((DirectoryInfo)info, path));
                        break;
                    case UnixFileStatus.Kind.Regular:
                        nodes.Add(new Node(path, LayerEntryType.File, ModeOf(info), ((FileInfo)info).Length, null, info.FullName, inode));
                        break;
                    default:
                        throw new NotSupportedException($"'{info.FullName}' is a device, FIFO or socket, which a layer built from a directory does not hold.");
                }
            }
        }

        return nodes;
    }

    private static UnixFileMode ModeOf(FileSystemInfo info) => OperatingSystem.IsWindows()
        ? (info is DirectoryInfo ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4)
        : info.UnixFileMode;

    private static async Task<bool> ChangedAsync(Node before, Node after, CancellationToken cancellationToken)
    {
        if (before.Type != after.Type || before.Mode != after.Mode || before.Size != after.Size
            || !string.Equals(before.LinkTarget, after.LinkTarget, StringComparison.Ordinal))
        {
            return true;
        }

        return after.Type == LayerEntryType.File && !await SameContentAsync(before.FullPath, after.FullPath, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<bool> SameContentAsync(string a, string b, CancellationToken cancellationToken)
    {
        const int ChunkSize = 81920;
        var left = LayerEntry.OpenForSequentialRead(a);
        await using (left.ConfigureAwait(false))
        {
            var right = LayerEntry.OpenForSequentialRead(b);
            await using (right.ConfigureAwait(false))
            {
                var bufferA = ArrayPool<byte>.Shared.Rent(ChunkSize);
                var bufferB = ArrayPool<byte>.Shared.Rent(ChunkSize);
                try
                {
                    while (true)
                    {
                        var n = await left.ReadAtLeastAsync(bufferA.AsMemory(0, ChunkSize), ChunkSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                        var m = await right.ReadAtLeastAsync(bufferB.AsMemory(0, ChunkSize), ChunkSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                        if (n != m || !bufferA.AsSpan(0, n).SequenceEqual(bufferB.AsSpan(0, m)))
                        {
                            return false;
                        }

                        if (n == 0)
                        {
                            return true;
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(bufferA);
                    ArrayPool<byte>.Shared.Return(bufferB);
                }
            }
        }
    }

    private sealed record Node(string Path, LayerEntryType Type, UnixFileMode Mode, long Size, string? LinkTarget, string FullPath, (ulong Device, ulong Inode)? Inode);
}
