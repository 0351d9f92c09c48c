using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Execution;

/// <summary>
/// A container's writable root file system prepared from an image's layers, and the changes made in it since
/// preparation (or the last <see cref="CheckpointAsync"/>), as <c>docker container diff</c> lines or as layer entries.
/// </summary>
/// <remarks>
/// In <see cref="RootfsMode.Overlay"/> each layer is extracted once, in overlay format, into a directory keyed by the
/// chain of blob digests up to it (applying a layer depends on what is below it, as containerd's snapshotter keys by
/// chain ID), and the container is a kernel overlayfs mount whose upper directory holds exactly the changes. In
/// <see cref="RootfsMode.Copy"/> the layers are extracted into one directory and changes are found by comparing
/// <c>lstat</c> snapshots (type, mode, owner, size, times, inode, device, link target, extended attributes). Both give
/// the same changes for the same command.
/// </remarks>
public sealed class ContainerRootfs : IAsyncDisposable
{
    private const string OverlayXattrPrefix = "trusted.overlay.";
    private const int MountOptionLimit = 4095;
    private const int CrossDevice = 18;   // EXDEV

    private readonly string _work;
    private readonly List<string> _lowers = [];
    private string? _upper;
    private string? _overlayWork;
    private string? _lowerView;
    private bool _lowerViewMounted;
    private bool _mounted;
    private int _generation;
    private int _links;
    private Dictionary<string, NodeState>? _snapshot;

    // An unprivileged user's copy (no user may chown to other ids): every file on disk belongs to that user, so the
    // owner each file (device, inode) has in the image is kept here, and what a container creates gets Creator.
    private Dictionary<(ulong Device, ulong Inode), (int Uid, int Gid)>? _imageOwners;

    // The shared locks on the extracted-layer cache entries the overlay's lower directories are (CacheFolder).
    private readonly List<FileStream> _cacheLocks = [];
    private bool _disposed;

    private ContainerRootfs(string work, RootfsMode mode, string path)
    {
        _work = work;
        Mode = mode;
        Path = path;
    }

    /// <summary>The merged writable tree a runtime uses as its root.</summary>
    public string Path { get; }

    /// <summary><see cref="RootfsMode.Overlay"/> or <see cref="RootfsMode.Copy"/>: what was used.</summary>
    public RootfsMode Mode { get; }

    /// <summary>Whether every owner, device and extended attribute of the layers could be kept (false when not root).</summary>
    public bool OwnersKept { get; private set; } = true;

    /// <summary>
    /// For a tree an unprivileged user prepared (copy mode, not root): the owner, as the image sees it, of what the
    /// next container creates — the container's user and group, which its user namespace maps to the caller (bwrap
    /// maps one id). Files that were there keep the owners their layers gave them. Root (0, 0) unless set.
    /// </summary>
    internal (int Uid, int Gid) Creator { get; set; }

    /// <summary>
    /// Prepares a writable tree from layers in order (whiteouts, opaque directories, owners, modes, extended attributes,
    /// hard links and devices as in the layers), with the confinement of every other extraction: no entry, link or hard
    /// link leads outside the tree.
    /// </summary>
    /// <param name="layers">The image's layers, bottom first.</param>
    /// <param name="openLayer">Opens a layer's (compressed) blob; the returned stream is disposed here.</param>
    /// <param name="options">Where and how.</param>
    /// <param name="cancellationToken">Cancels the preparation (what was prepared is deleted).</param>
    /// <returns>The prepared tree; dispose it to unmount and delete it.</returns>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x64 or arm64.</exception>
    /// <exception cref="NotSupportedException"><see cref="RootfsMode.Overlay"/> was asked for and is not available.</exception>
    /// <exception cref="DigestMismatchException">A blob is not what its descriptor names.</exception>
    /// <exception cref="LayerPathException">An entry climbs above the root or lies below a non-directory.</exception>
    /// <exception cref="OciFormatException">A blob is not a valid layer.</exception>
    public static async Task<ContainerRootfs> PrepareAsync(IReadOnlyList<Descriptor> layers, Func<Descriptor, CancellationToken, Task<Stream>> openLayer, RootfsOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(openLayer);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.WorkDirectory);
        if (!RootfsNative.IsSupported)
        {
            throw new PlatformNotSupportedException("A container root file system needs Linux on x64 or arm64.");
        }

        var work = System.IO.Path.GetFullPath(options.WorkDirectory).TrimEnd('/');
        Directory.CreateDirectory(work);
        var mode = options.Mode;
        if (mode == RootfsMode.Overlay && !RootfsNative.IsRoot)
        {
            throw new NotSupportedException("Overlay mode needs root (kernel overlayfs); use RootfsMode.Copy or Auto.");
        }

        if (mode == RootfsMode.Auto)
        {
            mode = RootfsNative.IsRoot && OverlayUsable(work) ? RootfsMode.Overlay : RootfsMode.Copy;
        }

        ContainerRootfs? rootfs = null;
        try
        {
            if (mode == RootfsMode.Overlay)
            {
                rootfs = new ContainerRootfs(work, RootfsMode.Overlay, System.IO.Path.Combine(work, "merged"));
                await rootfs.PrepareOverlayAsync(layers, openLayer, options, cancellationToken).ConfigureAwait(false);
                if (!rootfs._mounted)
                {
                    // Too many layers for one mount option: the tree is copied instead.
                    await rootfs.DisposeAsync().ConfigureAwait(false);
                    rootfs = null;
                    if (options.Mode == RootfsMode.Overlay)
                    {
                        throw new NotSupportedException($"{layers.Count} layers do not fit in one overlayfs mount option ({MountOptionLimit} bytes); use RootfsMode.Copy or Auto.");
                    }

                    mode = RootfsMode.Copy;
                }
            }

            if (mode == RootfsMode.Copy)
            {
                rootfs = new ContainerRootfs(work, RootfsMode.Copy, System.IO.Path.Combine(work, "rootfs"));
                Directory.CreateDirectory(rootfs.Path);
                var applier = new DiskLayerApplier(rootfs.Path, RootfsNative.IsRoot);
                foreach (var layer in layers)
                {
                    await ApplyBlobAsync(applier, layer, openLayer, cancellationToken).ConfigureAwait(false);
                }

                rootfs.OwnersKept = applier.Skipped == 0;
                rootfs._snapshot = Snapshot(rootfs.Path, null, cancellationToken);
                if (applier.LayerOwners is { } owners)
                {
                    // Every path not listed was created as a missing parent: root's, as in the image.
                    rootfs._imageOwners = [];
                    foreach (var (path, node) in rootfs._snapshot)
                    {
                        rootfs._imageOwners[(node.Status.Device, node.Status.Inode)] = owners.GetValueOrDefault(path);
                    }
                }
            }

            return rootfs!;
        }
        catch
        {
            if (rootfs is not null)
            {
                await rootfs.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// The changes since preparation or the last <see cref="CheckpointAsync"/>, sorted by path. Paths in
    /// <paramref name="ignored"/> (<c>ContainerRuntimes.ProvidedPaths</c>), what lies below them and directories the
    /// runtime created or touched only for them are left out. A deletion is reported for the topmost deleted path only.
    /// </summary>
    /// <param name="ignored">Absolute container paths the runtime provides.</param>
    /// <param name="cancellationToken">Cancels the comparison.</param>
    /// <returns>The changes.</returns>
    public Task<IReadOnlyList<FileChange>> GetChangesAsync(IReadOnlyCollection<string> ignored, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ignored);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var diff = Compute(ignored, cancellationToken);
        var changes = new List<FileChange>();
        foreach (var change in diff.Changes)
        {
            if (!change.Forced)
            {
                changes.Add(new FileChange(change.Kind, "/" + change.Path));
            }
        }

        changes.Sort(static (a, b) => string.CompareOrdinal(a.Path, b.Path));
        return Task.FromResult<IReadOnlyList<FileChange>>(changes);
    }

    /// <summary>
    /// The entries of the layer holding the changes: files with content, directories, symlinks, hard links (kept),
    /// devices and FIFOs; whiteouts for deleted paths; opaque markers for replaced directories; owners, modes and
    /// extended attributes as on disk; every modification time clamped to at most <paramref name="clampTime"/> (as
    /// BuildKit's <c>rewrite-timestamp</c> does), so a deterministic command gives a deterministic layer.
    /// </summary>
    /// <param name="ignored">Absolute container paths the runtime provides; never in the layer.</param>
    /// <param name="clampTime"><c>SOURCE_DATE_EPOCH</c>; <see langword="null"/>: the Unix epoch.</param>
    /// <param name="cancellationToken">Cancels the comparison.</param>
    /// <returns>The entries, for <see cref="LayerWriter.WriteAsync"/>; file content is read from the tree when the layer is written.</returns>
    public Task<IReadOnlyList<LayerEntry>> GetLayerEntriesAsync(IReadOnlyCollection<string> ignored, DateTimeOffset? clampTime, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ignored);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var clamp = clampTime ?? DateTimeOffset.UnixEpoch;
        var diff = Compute(ignored, cancellationToken);
        var included = new SortedDictionary<string, NodeState>(StringComparer.Ordinal);
        var whiteouts = new List<string>();
        var opaque = new List<string>();
        foreach (var change in diff.Changes)
        {
            if (change.Kind == FileChangeKind.Deleted)
            {
                var parent = LayerPath.Parent(change.Path);
                if (parent is null || !diff.Replaced.Contains(parent))
                {
                    whiteouts.Add(change.Path);
                }

                continue;
            }

            included[change.Path] = change.After!;
            if (change.After!.Status.IsDirectory && diff.Replaced.Contains(change.Path))
            {
                opaque.Add(change.Path);
            }
        }

        // Parents with their own metadata (a layer's missing parent would otherwise get 0755 root).
        foreach (var path in included.Keys.Concat(whiteouts).ToList())
        {
            for (var parent = LayerPath.Parent(path); parent is not null && !included.ContainsKey(parent); parent = LayerPath.Parent(parent))
            {
                included[parent] = diff.After[parent];
            }
        }

        var entries = new List<LayerEntry>(included.Count + whiteouts.Count + opaque.Count);
        var firstByInode = new Dictionary<(ulong, ulong), string>();
        var kept = _imageOwners is null ? null : KeptFiles(diff.After);
        foreach (var (path, node) in included)
        {
            var status = node.Status;
            var (uid, gid) = kept is null ? (status.Uid, status.Gid) : ImageOwner(status, kept);
            var mtime = status.ModificationTime < clamp ? status.ModificationTime : clamp;
            LayerEntry? entry = status.Type switch
            {
                RootfsNative.TypeDirectory => LayerEntry.Directory(path, status.Permissions),
                RootfsNative.TypeSymlink => LayerEntry.Symlink(path, node.LinkTarget!),
                RootfsNative.TypeRegular when status.Nlink > 1 && !firstByInode.TryAdd((status.Device, status.Inode), path)
                    => LayerEntry.Hardlink(path, firstByInode[(status.Device, status.Inode)], status.Permissions),
                RootfsNative.TypeRegular => LayerEntry.File(path, status.Size, OpenFile(node.FullPath), status.Permissions),
                RootfsNative.TypeCharDevice => LayerEntry.Device(path, LayerEntryType.CharacterDevice, status.Major, status.Minor, status.Permissions),
                RootfsNative.TypeBlockDevice => LayerEntry.Device(path, LayerEntryType.BlockDevice, status.Major, status.Minor, status.Permissions),
                RootfsNative.TypeFifo => LayerEntry.Fifo(path, status.Permissions),
                _ => null,   // sockets are not layer content
            };
            if (entry is null)
            {
                continue;
            }

            entries.Add(entry with
            {
                Uid = uid,
                Gid = gid,
                ModificationTime = mtime,
                ExtendedAttributes = node.Xattrs.Count == 0 ? null : node.Xattrs.ToDictionary(p => p.Key, p => (ReadOnlyMemory<byte>)p.Value, StringComparer.Ordinal),
            });
        }

        foreach (var path in whiteouts)
        {
            entries.Add(LayerEntry.Whiteout(path) with { ModificationTime = clamp });
        }

        foreach (var path in opaque)
        {
            entries.Add(LayerEntry.OpaqueDirectory(path) with { ModificationTime = clamp });
        }

        entries.Sort(static (a, b) => string.CompareOrdinal(a.TarPath, b.TarPath));
        return Task.FromResult<IReadOnlyList<LayerEntry>>(entries);
    }

    /// <summary>
    /// Called after the changes were committed as a layer: later <see cref="GetChangesAsync"/> and
    /// <see cref="GetLayerEntriesAsync"/> report only changes made after this call. The tree stays where it is, so
    /// consecutive RUNs of a stage reuse it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the checkpoint.</param>
    /// <returns>A task that completes when the checkpoint is taken.</returns>
    public Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Mode == RootfsMode.Copy)
        {
            var after = Snapshot(Path, null, cancellationToken);
            if (_imageOwners is not null)
            {
                var kept = KeptFiles(after);
                foreach (var node in after.Values)
                {
                    _imageOwners[(node.Status.Device, node.Status.Inode)] = ImageOwner(node.Status, kept);
                }
            }

            _snapshot = after;
            return Task.CompletedTask;
        }

        // The upper directory becomes the topmost lower directory of a fresh mount, unless one more lower directory
        // would not fit in the mount option: then the merged tree is copied into one directory, the only lower one.
        var nextLink = LinkPath(_links);
        if (OverlayData([nextLink, .. _lowers], _upper!, _overlayWork!).Length > MountOptionLimit)
        {
            var flat = System.IO.Path.Combine(_work, "flat-" + _generation);
            CopyTree(Path, flat, cancellationToken);
            UnmountOverlay();
            foreach (var link in _lowers)
            {
                // Earlier checkpoints and copies are this container's own; cached layers stay.
                var target = File.ResolveLinkTarget(link, returnFinalTarget: false)?.FullName ?? link;
                if (target.StartsWith(_work + "/", StringComparison.Ordinal))
                {
                    DiskLayerApplier.RemoveTree(target);
                }
            }

            _lowers.Clear();
            _lowers.Add(ShortLink(flat));
            DiskLayerApplier.RemoveTree(_upper!);
        }
        else
        {
            UnmountOverlay();
            var lower = System.IO.Path.Combine(_work, "lower-" + _generation);
            RootfsNative.Rename(_upper!, lower);
            _lowers.Insert(0, ShortLink(lower));
        }

        DiskLayerApplier.RemoveTree(_overlayWork!);
        if (!MountOverlay())
        {
            throw new NotSupportedException($"The work directory '{_work}' is too long for an overlayfs mount option ({MountOptionLimit} bytes).");
        }

        return Task.CompletedTask;
    }

    /// <summary>Unmounts and deletes everything in the work directory; idempotent.</summary>
    /// <returns>A task that completes when the tree is gone.</returns>
    public ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return ValueTask.CompletedTask;
        }

        _disposed = true;
        try
        {
            UnmountOverlay();
            MountTable.DetachBelow(_work);
            if (Directory.Exists(_work))
            {
                foreach (var child in Directory.EnumerateFileSystemEntries(_work))
                {
                    DiskLayerApplier.RemoveTree(child);
                }
            }
        }
        finally
        {
            // Only once nothing is mounted on them may the cached layers go.
            foreach (var held in _cacheLocks)
            {
                held.Dispose();
            }

            _cacheLocks.Clear();
        }

        return ValueTask.CompletedTask;
    }

    private async Task PrepareOverlayAsync(IReadOnlyList<Descriptor> layers, Func<Descriptor, CancellationToken, Task<Stream>> openLayer, RootfsOptions options, CancellationToken cancellationToken)
    {
        var cache = options.LayerCacheDirectory is { } configured ? System.IO.Path.GetFullPath(configured) : System.IO.Path.Combine(_work, "layers");
        Directory.CreateDirectory(cache);
        Directory.CreateDirectory(System.IO.Path.Combine(_work, "l"));
        var chains = CacheFolder.LayerChains(layers);
        for (var i = 0; i < layers.Count; i++)
        {
            var (layer, chain) = (layers[i], chains[i]);
            if (options.LayerCacheDirectory is not null)
            {
                // Held until this tree is disposed: a prune deletes only entries nobody holds.
                _cacheLocks.Add(await CacheFolder.UseAsync(System.IO.Path.Combine(cache, chain), cancellationToken).ConfigureAwait(false));
            }

            var tree = await ExtractLayerAsync(layer, chain, cache, openLayer, cancellationToken).ConfigureAwait(false);
            _lowers.Insert(0, ShortLink(tree));
        }

        if (_lowers.Count == 0)
        {
            var empty = System.IO.Path.Combine(_work, "empty");
            Directory.CreateDirectory(empty);
            _lowers.Add(empty);
        }

        Directory.CreateDirectory(Path);
        _mounted = MountOverlay();
    }

    /// <summary>The overlay-format tree of one layer over its lower layers, from the cache or extracted into it.</summary>
    private async Task<string> ExtractLayerAsync(Descriptor layer, string chain, string cache, Func<Descriptor, CancellationToken, Task<Stream>> openLayer, CancellationToken cancellationToken)
    {
        var entry = System.IO.Path.Combine(cache, chain);
        var tree = System.IO.Path.Combine(entry, "tree");
        if (IsComplete(entry, layer))
        {
            return tree;
        }

        // Extracted in the work directory (the caller's scratch, reclaimed with it when this process is killed), then
        // renamed into the cache whole.
        var temporary = System.IO.Path.Combine(_work, "extract-" + Guid.NewGuid().ToString("N"));
        var keepTemporary = false;
        var upper = System.IO.Path.Combine(temporary, "tree");
        var overlayWork = System.IO.Path.Combine(temporary, "work");
        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(overlayWork);
        string? mountPoint = null;
        try
        {
            var root = upper;
            if (_lowers.Count > 0)
            {
                // Applied through a mount of the lower layers, so parents resolve through their symlinks and the kernel
                // writes whiteouts and opaque directories in its own format into the upper directory.
                mountPoint = System.IO.Path.Combine(_work, "extracting");
                Directory.CreateDirectory(mountPoint);
                var data = OverlayData(_lowers, upper, overlayWork);
                if (data.Length > MountOptionLimit)
                {
                    throw new NotSupportedException($"The layer chain is too long for one overlayfs mount option ({MountOptionLimit} bytes).");
                }

                RootfsNative.Mount("overlay", mountPoint, "overlay", 0, data);
                root = mountPoint;
            }

            var applier = new DiskLayerApplier(root, keepOwners: true);
            await ApplyBlobAsync(applier, layer, openLayer, cancellationToken).ConfigureAwait(false);
            OwnersKept &= applier.Skipped == 0;
            if (mountPoint is not null)
            {
                RootfsNative.Unmount(mountPoint);
                mountPoint = null;
            }

            DiskLayerApplier.RemoveTree(overlayWork);
            await File.WriteAllTextAsync(System.IO.Path.Combine(temporary, "complete"), layer.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(entry))
            {
                // Left half-written by an older process (a complete entry is only ever renamed into place whole).
                if (IsComplete(entry, layer))
                {
                    return tree;
                }

                DiskLayerApplier.RemoveTree(entry);
            }

            try
            {
                RootfsNative.Rename(temporary, entry);
            }
            catch (IOException) when (IsComplete(entry, layer))
            {
                // Another preparer finished the same layer first.
            }
            catch (IOException ex) when (ex.HResult == CrossDevice)
            {
                // The cache is on another file system than the work directory: this container uses its own copy.
                keepTemporary = true;
                return System.IO.Path.Combine(temporary, "tree");
            }

            return tree;
        }
        finally
        {
            if (mountPoint is not null)
            {
                RootfsNative.Unmount(mountPoint);
            }

            if (!keepTemporary)
            {
                DiskLayerApplier.RemoveTree(temporary);
            }
        }
    }

    private static bool IsComplete(string entry, Descriptor layer)
    {
        var marker = System.IO.Path.Combine(entry, "complete");
        return File.Exists(marker) && Directory.Exists(System.IO.Path.Combine(entry, "tree"))
            && string.Equals(File.ReadAllText(marker), layer.Digest.ToString(), StringComparison.Ordinal);
    }

    private static async Task ApplyBlobAsync(DiskLayerApplier applier, Descriptor layer, Func<Descriptor, CancellationToken, Task<Stream>> openLayer, CancellationToken cancellationToken)
    {
        var blob = await openLayer(layer, cancellationToken).ConfigureAwait(false);
        await using (blob.ConfigureAwait(false))
        {
            await applier.ApplyAsync(layer, blob, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A short name for a lower directory (the mount option is limited to a page), as Docker's overlay2 does.</summary>
    private string ShortLink(string target)
    {
        var link = LinkPath(_links++);
        RootfsNative.Symlink(target, link);
        return link;
    }

    private string LinkPath(int number) => System.IO.Path.Combine(_work, "l", number.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Copies a tree as it is (owners, modes, xattrs, times, hard links, devices), never following a link.</summary>
    private static void CopyTree(string source, string destination, CancellationToken cancellationToken)
    {
        RootfsNative.Mkdir(destination, (UnixFileMode)0x1C0);
        var linked = new Dictionary<(ulong, ulong), string>();
        var directories = new List<(string From, string To, RootfsNative.Status Status)> { (source, destination, RootfsNative.Lstat(source)) };
        var pending = new Stack<(string From, string To)>([(source, destination)]);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (from, to) = pending.Pop();
            foreach (var child in Directory.EnumerateFileSystemEntries(from))
            {
                var target = to + child[from.Length..];
                var status = RootfsNative.Lstat(child);
                switch (status.Type)
                {
                    case RootfsNative.TypeDirectory:
                        RootfsNative.Mkdir(target, (UnixFileMode)0x1C0);
                        directories.Add((child, target, status));
                        pending.Push((child, target));
                        continue;
                    case RootfsNative.TypeRegular when status.Nlink > 1 && linked.TryGetValue((status.Device, status.Inode), out var first):
                        RootfsNative.Link(first, target);
                        continue;
                    case RootfsNative.TypeRegular:
                        using (var input = LayerEntry.OpenForSequentialRead(child))
                        using (var output = new FileStream(target, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0 }))
                        {
                            input.CopyTo(output, 1 << 20);
                        }

                        if (status.Nlink > 1)
                        {
                            linked[(status.Device, status.Inode)] = target;
                        }

                        break;
                    case RootfsNative.TypeSymlink:
                        RootfsNative.Symlink(RootfsNative.ReadLink(child), target);
                        break;
                    case RootfsNative.TypeSocket:
                        continue;
                    default:
                        RootfsNative.Mknod(target, status.Type, (UnixFileMode)0x180, status.Major, status.Minor);
                        break;
                }

                CopyMetadata(child, target, status);
            }
        }

        for (var i = directories.Count - 1; i >= 0; i--)
        {
            var (from, to, status) = directories[i];
            CopyMetadata(from, to, status);
        }

        static void CopyMetadata(string from, string to, RootfsNative.Status status)
        {
            RootfsNative.Lchown(to, status.Uid, status.Gid);
            if (!status.IsSymlink)
            {
                RootfsNative.Chmod(to, status.Permissions);
            }

            foreach (var (name, value) in RootfsNative.GetXattrs(from, static n => !n.StartsWith(OverlayXattrPrefix, StringComparison.Ordinal)))
            {
                RootfsNative.SetXattr(to, name, value);
            }

            RootfsNative.SetModificationTime(to, status.ModificationTime);
        }
    }

    private bool MountOverlay()
    {
        _generation++;
        _upper = System.IO.Path.Combine(_work, "upper");
        _overlayWork = System.IO.Path.Combine(_work, "ovl");
        Directory.CreateDirectory(_upper);
        Directory.CreateDirectory(_overlayWork);
        var data = OverlayData(_lowers, _upper, _overlayWork);
        if (data.Length > MountOptionLimit)
        {
            return false;
        }

        RootfsNative.Mount("overlay", Path, "overlay", 0, data);
        _mounted = true;

        // The lower layers alone, read-only: what the container's changes are compared with.
        _lowerView = System.IO.Path.Combine(_work, "lower");
        if (_lowers.Count == 1)
        {
            _lowerView = _lowers[0];
        }
        else
        {
            Directory.CreateDirectory(_lowerView);
            RootfsNative.Mount("overlay", _lowerView, "overlay", 1 /* MS_RDONLY */, "lowerdir=" + string.Join(':', _lowers) + ",index=off,redirect_dir=off,metacopy=off");
            _lowerViewMounted = true;
        }

        return true;
    }

    private void UnmountOverlay()
    {
        if (_mounted)
        {
            RootfsNative.Unmount(Path);
            _mounted = false;
        }

        if (_lowerViewMounted)
        {
            RootfsNative.Unmount(_lowerView!);
            _lowerViewMounted = false;
        }
    }

    private static string OverlayData(IEnumerable<string> lowers, string upper, string work)
    {
        foreach (var path in lowers.Append(upper).Append(work))
        {
            if (path.IndexOfAny([',', ':', '\\']) >= 0)
            {
                throw new NotSupportedException($"'{path}' contains a character overlayfs mount options cannot hold (',', ':' or '\\').");
            }
        }

        return "lowerdir=" + string.Join(':', lowers) + ",upperdir=" + upper + ",workdir=" + work + ",index=off,redirect_dir=off,metacopy=off";
    }

    private static bool? _overlayUsable;

    private static bool OverlayUsable(string work)
    {
        if (_overlayUsable is { } known)
        {
            return known;
        }

        var probe = System.IO.Path.Combine(work, ".probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            foreach (var part in new[] { "lower", "upper", "work", "merged" })
            {
                Directory.CreateDirectory(System.IO.Path.Combine(probe, part));
            }

            RootfsNative.Mount("overlay", System.IO.Path.Combine(probe, "merged"), "overlay", 0, OverlayData([System.IO.Path.Combine(probe, "lower")], System.IO.Path.Combine(probe, "upper"), System.IO.Path.Combine(probe, "work")));
            RootfsNative.Unmount(System.IO.Path.Combine(probe, "merged"));
            _overlayUsable = true;
        }
        catch (Exception ex) when (ex is IOException or NotSupportedException)
        {
            _overlayUsable = false;
        }
        finally
        {
            DiskLayerApplier.RemoveTree(probe);
        }

        return _overlayUsable.Value;
    }

    /// <summary>
    /// The files (device, inode) that were at the same path before the container ran: their image owners stand. Any
    /// other file was made by the container (a file renamed by it counts as made: the caller's own uid is all the
    /// disk can tell).
    /// </summary>
    private HashSet<(ulong, ulong)> KeptFiles(Dictionary<string, NodeState> after)
    {
        var kept = new HashSet<(ulong, ulong)>();
        foreach (var (path, node) in after)
        {
            if (_snapshot!.TryGetValue(path, out var old) && old.Status.Device == node.Status.Device && old.Status.Inode == node.Status.Inode)
            {
                kept.Add((node.Status.Device, node.Status.Inode));
            }
        }

        return kept;
    }

    /// <summary>In an unprivileged user's tree: a kept file's owner in the image, else the container's user's.</summary>
    private (int Uid, int Gid) ImageOwner(RootfsNative.Status status, HashSet<(ulong, ulong)> kept)
        => kept.Contains((status.Device, status.Inode)) ? _imageOwners!.GetValueOrDefault((status.Device, status.Inode)) : Creator;

    private static Func<Stream> OpenFile(string full) => () => LayerEntry.OpenForSequentialRead(full);

    // ---------- change detection ----------

    /// <summary>What a path is on disk: status, link target, extended attributes (without overlayfs' own), and where it is.</summary>
    private sealed record NodeState(RootfsNative.Status Status, string? LinkTarget, SortedDictionary<string, byte[]> Xattrs, string FullPath);

    private sealed record Change(string Path, FileChangeKind Kind, NodeState? After, bool Forced);

    private sealed record Diff(List<Change> Changes, HashSet<string> Replaced, Dictionary<string, NodeState> After);

    private static NodeState State(string full, RootfsNative.Status status) => new(
        status,
        status.IsSymlink ? RootfsNative.ReadLink(full) : null,
        RootfsNative.GetXattrs(full, static name => !name.StartsWith(OverlayXattrPrefix, StringComparison.Ordinal)),
        full);

    /// <summary>Every path below a root (relative), not descending into ignored paths.</summary>
    private static Dictionary<string, NodeState> Snapshot(string root, HashSet<string>? ignored, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, NodeState>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(string.Empty);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var directory = pending.Pop();
            var fullDirectory = directory.Length == 0 ? root : root + "/" + directory;
            foreach (var child in Directory.EnumerateFileSystemEntries(fullDirectory))
            {
                var name = child[(fullDirectory.Length + 1)..];
                var path = directory.Length == 0 ? name : directory + "/" + name;
                if (ignored is not null && ignored.Contains(path))
                {
                    continue;
                }

                if (!RootfsNative.TryLstat(child, out var status))
                {
                    continue;
                }

                result[path] = State(child, status);
                if (status.IsDirectory)
                {
                    pending.Push(path);
                }
            }
        }

        return result;
    }

    private Diff Compute(IReadOnlyCollection<string> ignoredPaths, CancellationToken cancellationToken)
    {
        var ignored = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in ignoredPaths)
        {
            var relative = path.Trim('/');
            if (relative.Length > 0)
            {
                ignored.Add(LayerPath.CleanRead(relative));
            }
        }

        var raw = new List<(string Path, NodeState? Before, NodeState? After)>();
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, NodeState> after;
        if (Mode == RootfsMode.Copy)
        {
            var before = _snapshot!;
            after = Snapshot(Path, ignored, cancellationToken);
            foreach (var (path, state) in after)
            {
                var old = before.GetValueOrDefault(path);
                raw.Add((path, old, state));
                if (old is not null && old.Status.IsDirectory && state.Status.IsDirectory && old.Status.Inode != state.Status.Inode)
                {
                    replaced.Add(path);
                }
            }

            foreach (var (path, state) in before)
            {
                if (!after.ContainsKey(path) && !IsIgnored(path, ignored))
                {
                    raw.Add((path, state, null));
                }
            }
        }
        else
        {
            // The upper directory is the change set; its states are compared with the lower layers' view.
            after = new Dictionary<string, NodeState>(StringComparer.Ordinal);
            var upper = Snapshot(_upper!, ignored, cancellationToken);
            var lowerIsDirectory = new Dictionary<string, bool>(StringComparer.Ordinal) { [string.Empty] = true };
            foreach (var path in upper.Keys.OrderBy(p => p, StringComparer.Ordinal))
            {
                var state = upper[path];
                var parent = LayerPath.Parent(path) ?? string.Empty;
                NodeState? old = null;
                if (lowerIsDirectory.GetValueOrDefault(parent) && !replaced.Contains(parent))
                {
                    var lowerFull = _lowerView + "/" + path;
                    if (RootfsNative.TryLstat(lowerFull, out var lowerStatus) && !lowerStatus.IsOverlayWhiteout)
                    {
                        old = State(lowerFull, lowerStatus);
                    }
                }

                lowerIsDirectory[path] = old is not null && old.Status.IsDirectory;
                if (state.Status.IsOverlayWhiteout)
                {
                    if (old is not null)
                    {
                        raw.Add((path, old, null));
                    }

                    continue;
                }

                after[path] = state;
                raw.Add((path, old, state));
                if (state.Status.IsDirectory && RootfsNative.TryGetXattr(state.FullPath, OverlayXattrPrefix + "opaque", out var opaque)
                    && opaque is [(byte)'y'] && old is not null && old.Status.IsDirectory)
                {
                    replaced.Add(path);
                    foreach (var child in Directory.EnumerateFileSystemEntries(old.FullPath))
                    {
                        var childPath = path + "/" + child[(old.FullPath.Length + 1)..];
                        if (!upper.ContainsKey(childPath) && !ignored.Contains(childPath) && RootfsNative.TryLstat(child, out var childStatus) && !childStatus.IsOverlayWhiteout)
                        {
                            raw.Add((childPath, State(child, childStatus), null));
                        }
                    }
                }
            }

            // Parents of upper paths that are not in the upper directory cannot exist (overlayfs copies parents up).
        }

        var changes = new Dictionary<string, Change>(StringComparer.Ordinal);
        var onlyTimes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, before, state) in raw)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (state is null)
            {
                var parent = LayerPath.Parent(path);
                if (parent is null || (after.TryGetValue(parent, out var parentState) && parentState.Status.IsDirectory))
                {
                    changes[path] = new Change(path, FileChangeKind.Deleted, null, false);
                }

                continue;
            }

            if (before is null)
            {
                changes[path] = new Change(path, FileChangeKind.Added, state, false);
                continue;
            }

            var difference = Compare(before, state, Mode == RootfsMode.Copy);
            if (difference != Difference.None || replaced.Contains(path))
            {
                changes[path] = new Change(path, FileChangeKind.Changed, state, false);
                if (difference == Difference.TimesOnly && !replaced.Contains(path))
                {
                    onlyTimes.Add(path);
                }
            }
        }

        // Hard links stay whole: every name of a changed inode goes into the layer.
        var byInode = new Dictionary<(ulong, ulong), List<string>>();
        foreach (var (path, state) in after)
        {
            if (state.Status.IsRegular && state.Status.Nlink > 1)
            {
                var key = (state.Status.Device, state.Status.Inode);
                if (!byInode.TryGetValue(key, out var names))
                {
                    byInode[key] = names = [];
                }

                names.Add(path);
            }
        }

        foreach (var names in byInode.Values)
        {
            if (names.Count > 1 && names.Any(n => changes.ContainsKey(n)))
            {
                foreach (var name in names)
                {
                    if (!changes.ContainsKey(name))
                    {
                        changes[name] = new Change(name, FileChangeKind.Changed, after[name], false);
                    }
                }
            }
        }

        // A replaced directory's whole content goes into the layer (the opaque marker hides the lower one).
        foreach (var directory in replaced)
        {
            var prefix = directory + "/";
            foreach (var (path, state) in after)
            {
                if (path.StartsWith(prefix, StringComparison.Ordinal) && !changes.ContainsKey(path))
                {
                    changes[path] = new Change(path, FileChangeKind.Changed, state, true);
                }
            }
        }

        // Directories the runtime created or touched only for the paths it provides.
        foreach (var path in changes.Keys.ToList())
        {
            var change = changes[path];
            if (change.After is not { Status.IsDirectory: true } || !IsAncestorOfIgnored(path, ignored))
            {
                continue;
            }

            if (change.Kind == FileChangeKind.Added || onlyTimes.Contains(path))
            {
                var prefix = path + "/";
                if (!changes.Keys.Any(other => other.StartsWith(prefix, StringComparison.Ordinal)))
                {
                    changes.Remove(path);
                }
            }
        }

        var list = changes.Values.ToList();
        list.Sort(static (a, b) => string.CompareOrdinal(a.Path, b.Path));
        return new Diff(list, replaced, after);
    }

    private static bool IsIgnored(string path, HashSet<string> ignored)
    {
        for (string? p = path; p is not null; p = LayerPath.Parent(p))
        {
            if (ignored.Contains(p))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsAncestorOfIgnored(string path, HashSet<string> ignored)
    {
        var prefix = path + "/";
        return ignored.Any(i => i.StartsWith(prefix, StringComparison.Ordinal));
    }

    private enum Difference
    {
        None,
        TimesOnly,
        Other,
    }

    private static Difference Compare(NodeState before, NodeState after, bool sameFileSystem)
    {
        var a = before.Status;
        var b = after.Status;
        if (a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.RDev != b.RDev
            || (!a.IsDirectory && a.Size != b.Size)
            || !string.Equals(before.LinkTarget, after.LinkTarget, StringComparison.Ordinal)
            || !SameXattrs(before.Xattrs, after.Xattrs))
        {
            return Difference.Other;
        }

        if (a.IsRegular)
        {
            // Same tree: a new inode is a rewrite; a change of ctime alone is not (a link made and removed, a chown to the
            // same owner), as Docker's naive diff ignores it. Overlay: the copied-up file is compared with the lower one.
            if (sameFileSystem ? a.Inode != b.Inode : !SameContent(before.FullPath, after.FullPath))
            {
                return Difference.Other;
            }
        }

        if (a.MtimeSec != b.MtimeSec || a.MtimeNsec != b.MtimeNsec)
        {
            return Difference.TimesOnly;
        }

        return Difference.None;
    }

    private static bool SameXattrs(SortedDictionary<string, byte[]> a, SortedDictionary<string, byte[]> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (name, value) in a)
        {
            if (!b.TryGetValue(name, out var other) || !value.AsSpan().SequenceEqual(other))
            {
                return false;
            }
        }

        return true;
    }

    private static bool SameContent(string a, string b)
    {
        const int ChunkSize = 1 << 16;
        using var left = LayerEntry.OpenForSequentialRead(a);
        using var right = LayerEntry.OpenForSequentialRead(b);
        var bufferA = new byte[ChunkSize];
        var bufferB = new byte[ChunkSize];
        while (true)
        {
            var n = left.ReadAtLeast(bufferA, ChunkSize, throwOnEndOfStream: false);
            var m = right.ReadAtLeast(bufferB, ChunkSize, throwOnEndOfStream: false);
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
}
