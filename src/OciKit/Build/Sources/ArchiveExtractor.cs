using System.Formats.Tar;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Build.Sources;

/// <summary>
/// What <c>ADD</c> does with a local tar archive: recognise it as Docker does and extract it safely into layer entries.
/// </summary>
/// <remarks>
/// The rules follow Docker's <c>pkg/archive</c> <c>Unpack</c>, which BuildKit runs chrooted in the destination:
/// names are cleaned and joined under the destination, so an absolute name is neutralised (<c>/etc/x</c> lands at
/// <c>DEST/etc/x</c>) while a name whose <c>..</c> climbs above the destination is refused; a hard link must name a
/// path inside the destination and a symlink's target, taken from the link's own directory, must stay inside it
/// (absolute targets are kept as written: they resolve inside the container); parents through symlinks are followed
/// as inside a chroot; missing parents are created <c>0755</c> root-owned; a later entry replaces an earlier one
/// unless both are directories, in which case the later one's metadata wins; the archive's <c>.</c> entry is
/// skipped. Modes, owners, symlinks and hard links are kept. Extended attributes are not carried over, and devices
/// and FIFOs, which a layer entry cannot describe, are refused.
/// </remarks>
internal static class ArchiveExtractor
{
    /// <summary>Linux's limit on symlinks followed while resolving one path (MAXSYMLINKS).</summary>
    private const int MaxSymlinkHops = 40;

    private const int BlockSize = 512;
    private const UnixFileMode PermissionMask = (UnixFileMode)0xFFF;
    private const UnixFileMode ImplicitDirectoryMode = (UnixFileMode)0x1ED;

    /// <summary>
    /// Whether <c>ADD</c> would extract the file: a regular file (not a symlink) whose content, once decompressed by
    /// magic bytes (gzip, bzip2, xz, zstd or none), starts with a valid tar header, which is BuildKit's
    /// <c>isArchivePath</c> test. An empty archive (only end-of-archive blocks) is not extracted, as with Docker.
    /// </summary>
    /// <param name="path">The file on disk.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Whether the file is a tar archive to extract.</returns>
    public static async Task<bool> IsArchiveAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (UnixFileStatus.TryGet(path, out _, out _, out var kind))
        {
            if (kind != UnixFileStatus.Kind.Regular)
            {
                return false;
            }
        }
        else
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null)
            {
                return false;
            }
        }

        return await IsArchiveAsync(() => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether content (a regular file's, opened by <paramref name="open"/>, which may be called more than once)
    /// is a tar archive <c>ADD</c> extracts; see <see cref="IsArchiveAsync(string, CancellationToken)"/>.
    /// </summary>
    /// <param name="open">Opens the content; the streams it returns are disposed here.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Whether the content is a tar archive to extract.</returns>
    public static async Task<bool> IsArchiveAsync(Func<Stream> open, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(open);
        try
        {
            var file = await ArchiveDecompression.OpenAsync(open, cancellationToken).ConfigureAwait(false);
            await using (file.ConfigureAwait(false))
            {
                var header = new byte[BlockSize];
                var read = await file.Content.ReadAtLeastAsync(header, BlockSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                return read == BlockSize && IsTarHeader(header);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Any failure to open or decompress means "not an archive" to Docker too: the file is then copied as is.
            return false;
        }
    }

    /// <summary>
    /// Whether a 512-byte block is a tar header Go's <c>archive/tar</c> accepts: not all zeros, and its checksum
    /// (unsigned or signed byte sum, the checksum field counted as spaces) matches the stored octal value.
    /// Written by hand because <see cref="TarReader"/> does not verify header checksums.
    /// </summary>
    internal static bool IsTarHeader(ReadOnlySpan<byte> block)
    {
        if (block.Length < BlockSize || !block[..BlockSize].ContainsAnyExcept((byte)0))
        {
            return false;
        }

        var field = block.Slice(148, 8).Trim(" \0"u8);
        long stored = 0;
        foreach (var b in field)
        {
            if (b is < (byte)'0' or > (byte)'7')
            {
                return false;
            }

            stored = (stored * 8) + (b - '0');
        }

        long unsigned = 0;
        long signed = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : block[i];
            unsigned += b;
            signed += (sbyte)b;
        }

        return stored == unsigned || stored == signed;
    }

    /// <summary>
    /// Extracts an archive into layer entries under <paramref name="destinationDirectoryInImage"/>. File contents are
    /// written to a new folder inside <paramref name="scratchDirectory"/>, which must outlive the returned entries.
    /// </summary>
    /// <param name="archivePath">The archive on disk (plain, gzip, bzip2, xz or zstd tar).</param>
    /// <param name="destinationDirectoryInImage">The absolute, <c>/</c>-separated directory the archive is extracted into.</param>
    /// <param name="scratchDirectory">Where file contents are kept until the layer is written.</param>
    /// <param name="cancellationToken">Cancels the extraction.</param>
    /// <returns>The entries below the destination (the destination itself excluded), in ordinal path order.</returns>
    /// <exception cref="ArchiveEntryException">An entry would land outside the destination or cannot be placed.</exception>
    /// <exception cref="OciFormatException">The file is not a readable (compressed) tar stream.</exception>
    /// <exception cref="NotSupportedException">The archive holds a device, a FIFO or a sparse file.</exception>
    public static Task<IReadOnlyList<LayerEntry>> ExtractAsync(string archivePath, string destinationDirectoryInImage, string scratchDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(archivePath);
        var full = Path.GetFullPath(archivePath);
        return ExtractAsync(() => new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read), Path.GetFileName(archivePath), destinationDirectoryInImage, scratchDirectory, cancellationToken);
    }

    /// <summary>
    /// Extracts archive content opened by <paramref name="open"/> (called twice: to detect the compression, then to
    /// decode), for sources that are not files on disk (a stage's or an image's file); see the path overload.
    /// </summary>
    /// <param name="open">Opens the archive's bytes; the streams it returns are disposed here.</param>
    /// <param name="archiveName">The archive's name for messages.</param>
    /// <param name="destinationDirectoryInImage">The absolute, <c>/</c>-separated directory the archive is extracted into.</param>
    /// <param name="scratchDirectory">Where file contents are kept until the layer is written.</param>
    /// <param name="cancellationToken">Cancels the extraction.</param>
    /// <returns>The entries below the destination (the destination itself excluded), in ordinal path order.</returns>
    /// <exception cref="ArchiveEntryException">An entry would land outside the destination or cannot be placed.</exception>
    /// <exception cref="OciFormatException">The content is not a readable (compressed) tar stream.</exception>
    /// <exception cref="NotSupportedException">The archive holds a device, a FIFO or a sparse file.</exception>
    public static async Task<IReadOnlyList<LayerEntry>> ExtractAsync(Func<Stream> open, string archiveName, string destinationDirectoryInImage, string scratchDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentException.ThrowIfNullOrEmpty(archiveName);
        ArgumentException.ThrowIfNullOrEmpty(destinationDirectoryInImage);
        ArgumentException.ThrowIfNullOrEmpty(scratchDirectory);
        if (destinationDirectoryInImage[0] != '/')
        {
            throw new ArgumentException("The destination must be an absolute path in the image.", nameof(destinationDirectoryInImage));
        }

        var trimmed = destinationDirectoryInImage.Trim('/');
        var prefix = trimmed.Length == 0 ? null : LayerPath.Normalize(trimmed);
        var blobs = Directory.CreateDirectory(Path.Combine(scratchDirectory, "add-" + Path.GetRandomFileName())).FullName;
        var tree = new Tree(archiveName);

        var file = await ArchiveDecompression.OpenAsync(open, cancellationToken).ConfigureAwait(false);
        await using (file.ConfigureAwait(false))
        {
            var reader = new TarReader(file.Content, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                var count = 0;
                while (await NextAsync(reader, archiveName, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    string? blob = null;
                    if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile)
                    {
                        blob = Path.Combine(blobs, (count++).ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
                        await WriteContentAsync(entry, blob, archiveName, cancellationToken).ConfigureAwait(false);
                    }

                    tree.Apply(entry, blob);
                }
            }
        }

        return tree.ToEntries(prefix);
    }

    private static async Task<TarEntry?> NextAsync(TarReader reader, string archiveName, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsCorruption(ex))
        {
            throw new OciFormatException("archive", $"'{archiveName}' is not a readable tar stream: {ex.Message}", ex);
        }
    }

    private static async Task WriteContentAsync(TarEntry entry, string blob, string archiveName, CancellationToken cancellationToken)
    {
        var output = new FileStream(blob, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        await using (output.ConfigureAwait(false))
        {
            if (entry.DataStream is { } data)
            {
                try
                {
                    await data.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsCorruption(ex))
                {
                    throw new OciFormatException("archive", $"'{archiveName}' is truncated or corrupt at '{entry.Name}': {ex.Message}", ex);
                }
            }
        }
    }

    // Decoders report corrupt input with their own exception types (SharpZipLib, SharpCompress, ZstdSharp).
    private static bool IsCorruption(Exception ex) => ex is not OperationCanceledException and not UnauthorizedAccessException
        and (InvalidDataException or EndOfStreamException or FormatException or ArgumentException or ICSharpCode.SharpZipLib.SharpZipBaseException or ZstdSharp.ZstdException
            or SharpCompress.Common.ArchiveException or IOException);

    private enum NodeKind
    {
        Directory,
        File,
        Symlink,
    }

    /// <summary>One inode of the extracted tree; hard links are several paths sharing one node.</summary>
    private sealed class Node(NodeKind kind, UnixFileMode mode, int uid, int gid)
    {
        public NodeKind Kind { get; } = kind;

        public UnixFileMode Mode { get; set; } = mode;

        public int Uid { get; set; } = uid;

        public int Gid { get; set; } = gid;

        public string? Blob { get; init; }

        public string? Target { get; init; }
    }

    /// <summary>
    /// The extracted tree, kept in memory (contents in scratch files) so that no path of the archive is ever used on
    /// the host's file system: escaping through a symlink is impossible by construction, not by checks.
    /// </summary>
    private sealed class Tree(string archiveName)
    {
        // Keyed by the resolved path relative to the destination; the destination itself ("") is implicit.
        private readonly Dictionary<string, Node> _nodes = new(StringComparer.Ordinal);

        public void Apply(TarEntry entry, string? blob)
        {
            switch (entry.EntryType)
            {
                case TarEntryType.GlobalExtendedAttributes:
                    return;
                case TarEntryType.Directory or TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile
                    or TarEntryType.SymbolicLink or TarEntryType.HardLink:
                    break;
                default:
                    throw new NotSupportedException($"Archive '{archiveName}' holds '{entry.Name}' of type {entry.EntryType}, which an image layer built by ADD cannot hold.");
            }

            var segments = Clean(entry.Name, entry.Name, "it climbs out of the destination with '..'");
            if (segments.Count == 0)
            {
                // The archive's "." entry: the destination exists already, Docker skips it.
                return;
            }

            var name = segments[^1];
            if (name.StartsWith(LayerPath.WhiteoutPrefix, StringComparison.Ordinal))
            {
                throw new ArchiveEntryException(archiveName, entry.Name, $"names starting with '{LayerPath.WhiteoutPrefix}' would be read as deletions in the layer");
            }

            if (entry.Uid < 0 || entry.Gid < 0)
            {
                throw new ArchiveEntryException(archiveName, entry.Name, "the owner id is negative");
            }

            var parent = Resolve(segments.GetRange(0, segments.Count - 1), create: true, entry.Name);
            var path = LayerPath.Join(parent.Length == 0 ? null : parent, name);
            var mode = entry.Mode & PermissionMask;
            var existing = _nodes.GetValueOrDefault(path);
            if (entry.EntryType == TarEntryType.Directory && existing is { Kind: NodeKind.Directory })
            {
                existing.Mode = mode;
                existing.Uid = entry.Uid;
                existing.Gid = entry.Gid;
                return;
            }

            Node node;
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    node = new Node(NodeKind.Directory, mode, entry.Uid, entry.Gid);
                    break;
                case TarEntryType.SymbolicLink:
                    // Checked where the link really lands (its parents resolved through symlinks), not at its lexical name:
                    // "x/../a/b" under a symlink "a" can land somewhere else, where the same target climbs out.
                    CheckSymlink(entry, [.. path.Split('/')]);
                    node = new Node(NodeKind.Symlink, (UnixFileMode)0x1FF, entry.Uid, entry.Gid) { Target = entry.LinkName };
                    break;
                case TarEntryType.HardLink:
                    node = FindHardlinkTarget(entry);
                    if (ReferenceEquals(node, existing))
                    {
                        return;
                    }

                    // Docker chowns and (unless the inode is a symlink) chmods the link's path: the shared inode changes.
                    node.Uid = entry.Uid;
                    node.Gid = entry.Gid;
                    if (node.Kind != NodeKind.Symlink)
                    {
                        node.Mode = mode;
                    }

                    break;
                default:
                    node = new Node(NodeKind.File, mode, entry.Uid, entry.Gid) { Blob = blob };
                    break;
            }

            if (existing is not null)
            {
                Remove(path);
            }

            _nodes[path] = node;
        }

        public List<LayerEntry> ToEntries(string? prefix)
        {
            var paths = new List<string>(_nodes.Keys);
            paths.Sort(StringComparer.Ordinal);
            var firstPath = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
            var entries = new List<LayerEntry>(paths.Count);
            foreach (var path in paths)
            {
                var node = _nodes[path];
                var layerPath = LayerPath.Join(prefix, path);
                LayerEntry entry;
                if (firstPath.TryGetValue(node, out var first))
                {
                    entry = LayerEntry.Hardlink(layerPath, LayerPath.Join(prefix, first), node.Kind == NodeKind.Symlink ? (UnixFileMode)0x1FF : node.Mode);
                }
                else
                {
                    firstPath.Add(node, path);
                    entry = node.Kind switch
                    {
                        NodeKind.Directory => LayerEntry.Directory(layerPath, node.Mode),
                        NodeKind.Symlink => LayerEntry.Symlink(layerPath, node.Target!),
                        _ => LayerEntry.FileFromDisk(layerPath, node.Blob!, node.Mode),
                    };
                }

                entries.Add(entry with { Uid = node.Uid, Gid = node.Gid });
            }

            return entries;
        }

        /// <summary>
        /// Cleans a name as Go's <c>filepath.Clean</c> and joins it under the destination: a rooted name cannot climb
        /// above the root, a relative one that would is refused.
        /// </summary>
        private List<string> Clean(string name, string entryName, string escapeReason)
        {
            var segments = new List<string>();
            var rooted = name.StartsWith('/');
            foreach (var segment in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                if (segment == ".")
                {
                    continue;
                }

                if (segment == "..")
                {
                    if (segments.Count > 0)
                    {
                        segments.RemoveAt(segments.Count - 1);
                    }
                    else if (!rooted)
                    {
                        throw new ArchiveEntryException(archiveName, entryName, escapeReason);
                    }

                    continue;
                }

                segments.Add(segment);
            }

            return segments;
        }

        /// <summary>
        /// Resolves directory segments to a path of the tree, following symlinks as a process chrooted in the
        /// destination would (absolute targets start at the destination, <c>..</c> stops there). Missing directories
        /// are created when <paramref name="create"/> is set, except behind a dangling symlink (Docker fails there too).
        /// </summary>
        private string Resolve(List<string> segments, bool create, string entryName)
        {
            var pending = new LinkedList<(string Segment, bool ViaLink)>();
            foreach (var segment in segments)
            {
                pending.AddLast((segment, false));
            }

            var current = string.Empty;
            var hops = 0;
            while (pending.First is { } first)
            {
                pending.RemoveFirst();
                var (segment, viaLink) = first.Value;
                if (segment == ".")
                {
                    continue;
                }

                if (segment == "..")
                {
                    current = LayerPath.Parent(current) ?? string.Empty;
                    continue;
                }

                var candidate = current.Length == 0 ? segment : current + "/" + segment;
                if (!_nodes.TryGetValue(candidate, out var node))
                {
                    if (!create || viaLink)
                    {
                        throw new ArchiveEntryException(archiveName, entryName, create ? $"its parent '{candidate}' is a dangling symlink" : $"'{candidate}' does not exist");
                    }

                    _nodes[candidate] = new Node(NodeKind.Directory, ImplicitDirectoryMode, 0, 0);
                    current = candidate;
                    continue;
                }

                switch (node.Kind)
                {
                    case NodeKind.Directory:
                        current = candidate;
                        break;
                    case NodeKind.Symlink:
                        if (++hops > MaxSymlinkHops)
                        {
                            throw new ArchiveEntryException(archiveName, entryName, "too many levels of symbolic links");
                        }

                        var target = node.Target!;
                        if (target.StartsWith('/'))
                        {
                            current = string.Empty;
                        }

                        var parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
                        for (var i = parts.Length - 1; i >= 0; i--)
                        {
                            pending.AddFirst((parts[i], true));
                        }

                        break;
                    default:
                        throw new ArchiveEntryException(archiveName, entryName, $"'{candidate}' is not a directory");
                }
            }

            return current;
        }

        /// <summary>Docker's check: the target, joined to the link's own directory, must stay inside the destination.</summary>
        private void CheckSymlink(TarEntry entry, List<string> segments)
        {
            if (entry.LinkName.Length == 0)
            {
                throw new ArchiveEntryException(archiveName, entry.Name, "the symlink has an empty target");
            }

            if (entry.LinkName.StartsWith('/'))
            {
                return;
            }

            var joined = string.Join('/', segments.GetRange(0, segments.Count - 1)) + "/" + entry.LinkName;
            Clean(joined.TrimStart('/'), entry.Name, $"the symlink target '{entry.LinkName}' points outside the destination");
        }

        private Node FindHardlinkTarget(TarEntry entry)
        {
            var reason = $"the hard link target '{entry.LinkName}' is outside the destination";
            var target = Clean(entry.LinkName, entry.Name, reason);
            if (target.Count == 0)
            {
                throw new ArchiveEntryException(archiveName, entry.Name, "a hard link cannot point to the destination directory");
            }

            var parent = Resolve(target.GetRange(0, target.Count - 1), create: false, entry.Name);
            var path = LayerPath.Join(parent.Length == 0 ? null : parent, target[^1]);
            if (!_nodes.TryGetValue(path, out var node))
            {
                throw new ArchiveEntryException(archiveName, entry.Name, $"the hard link target '{entry.LinkName}' is not in the archive before it");
            }

            return node.Kind == NodeKind.Directory
                ? throw new ArchiveEntryException(archiveName, entry.Name, $"the hard link target '{entry.LinkName}' is a directory")
                : node;
        }

        private void Remove(string path)
        {
            _nodes.Remove(path);
            var below = path + "/";
            foreach (var key in _nodes.Keys.Where(k => k.StartsWith(below, StringComparison.Ordinal)).ToList())
            {
                _nodes.Remove(key);
            }
        }
    }
}
