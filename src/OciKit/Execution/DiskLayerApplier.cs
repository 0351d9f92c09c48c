using System.Text;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Execution;

/// <summary>
/// Applies layer blobs onto a directory on disk with the rules <c>ImageFs</c> applies in memory (containerd's): each
/// entry's parent directories are resolved through symlinks inside the root (never outside: an absolute or climbing
/// link target is taken relative to the root), missing parents are created <c>0755</c>, the last entry of a path wins
/// (a directory over a directory keeps its children), a hard link shares the file an earlier entry wrote, whiteouts
/// delete and an opaque marker empties its directory of what lower layers gave it. Files are created exclusively
/// (never through an existing link); owners, modes, extended attributes and modification times are applied without
/// following links. Applied onto an overlayfs mount, the upper directory receives the layer in overlay format.
/// </summary>
internal sealed class DiskLayerApplier
{
    private const int CopyBufferSize = 1 << 20;
    private const UnixFileMode DefaultDirectoryMode = (UnixFileMode)0x1ED;

    private readonly string _root;
    private readonly bool _keepOwners;
    private readonly HashSet<string> _realDirectories = new(StringComparer.Ordinal);

    public DiskLayerApplier(string root, bool keepOwners)
    {
        _root = Path.GetFullPath(root).TrimEnd('/');
        _keepOwners = keepOwners;
        LayerOwners = keepOwners ? null : new(StringComparer.Ordinal);
    }

    /// <summary>Entries that could not be applied as in the layer (devices without privileges, owners).</summary>
    public int Skipped { get; private set; }

    /// <summary>
    /// When owners are not kept: the owner each written path (relative, resolved) has in the layers, the last layer's
    /// winning; a path created only as a missing parent is not listed (its owner is root).
    /// </summary>
    public Dictionary<string, (int Uid, int Gid)>? LayerOwners { get; }

    /// <summary>Reads a blob once, verifying its digest, and applies its entries on the root.</summary>
    /// <exception cref="DigestMismatchException">The blob is not what its descriptor names.</exception>
    public async Task ApplyAsync(Descriptor layer, Stream blob, CancellationToken cancellationToken)
    {
        // Verified as it is read: the read that reaches the descriptor's size fails on another digest, and a blob that
        // ends early or runs on fails on its size.
        await using var hashing = new VerifiedBlobStream(blob, layer, "the layer being applied", leaveOpen: true);
        var written = new HashSet<string>(StringComparer.Ordinal);
        var directoryTimes = new List<(string Path, DateTimeOffset Time, UnixFileMode Mode)>();
        var pendingLinks = new List<(string Path, string Target)>();
        _realDirectories.Clear();
        await foreach (var entry in LayerReader.ReadEntriesAsync(hashing, layer.MediaType, includeSpecial: true, cancellationToken).ConfigureAwait(false))
        {
            await ApplyEntryAsync(entry, written, directoryTimes, pendingLinks, cancellationToken).ConfigureAwait(false);
        }

        await hashing.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        foreach (var (path, target) in pendingLinks)
        {
            if (!TryLink(path, target))
            {
                throw new OciFormatException("layer", $"layer {layer.Digest}: the hard link '{path}' names '{target}', which is not a file the image holds");
            }
        }

        // Directory times last: creating their children changed them (and, unprivileged, modes: a read-only
        // directory must stay writable until its children are in).
        for (var i = directoryTimes.Count - 1; i >= 0; i--)
        {
            var (path, time, mode) = directoryTimes[i];
            var full = Full(path);
            if (RootfsNative.TryLstat(full, out var status) && status.IsDirectory)
            {
                if (!RootfsNative.IsRoot)
                {
                    RootfsNative.Chmod(full, mode);
                }

                RootfsNative.SetModificationTime(full, time);
            }
        }
    }

    private async Task ApplyEntryAsync(LayerReadEntry entry, HashSet<string> written, List<(string, DateTimeOffset, UnixFileMode)> directoryTimes, List<(string, string)> pendingLinks, CancellationToken cancellationToken)
    {
        switch (entry.Type)
        {
            case LayerEntryType.Whiteout:
            {
                var path = Place(entry.Path, create: false);
                if (path is not null)
                {
                    RemoveTree(Full(path));
                    _realDirectories.Clear();
                }

                return;
            }

            case LayerEntryType.OpaqueWhiteout:
            {
                var directory = entry.Path.Length == 0 ? string.Empty : Resolve(entry.Path, create: false);
                if (directory is not null)
                {
                    RemoveNotWritten(Full(directory), written);
                    _realDirectories.Clear();
                }

                return;
            }
        }

        var target = Place(entry.Path, create: true)!;
        var full = Full(target);
        written.Add(target);
        RootfsNative.TryLstat(full, out var existing);
        var exists = existing.Mode != 0;
        switch (entry.Type)
        {
            case LayerEntryType.Directory:
                if (exists && !existing.IsDirectory)
                {
                    RemoveTree(full);
                    exists = false;
                }

                if (!exists)
                {
                    RootfsNative.Mkdir(full, DefaultDirectoryMode);
                }

                _realDirectories.Add(target);
                directoryTimes.Add((target, entry.ModificationTime, entry.Mode & (UnixFileMode)0xFFF));
                break;
            case LayerEntryType.File:
            {
                if (exists)
                {
                    RemoveTree(full);
                }

                var output = new FileStream(full, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 });
                await using (output.ConfigureAwait(false))
                {
                    await entry.Content!.CopyToAsync(output, CopyBufferSize, cancellationToken).ConfigureAwait(false);
                }

                break;
            }

            case LayerEntryType.Symlink:
                if (exists)
                {
                    RemoveTree(full);
                }

                RootfsNative.Symlink(entry.LinkTarget!, full);
                break;
            case LayerEntryType.Hardlink:
                if (!TryLink(target, entry.LinkTarget!))
                {
                    pendingLinks.Add((target, entry.LinkTarget!));
                }

                return;
            case LayerEntryType.CharacterDevice or LayerEntryType.BlockDevice or LayerEntryType.Fifo:
                if (exists)
                {
                    RemoveTree(full);
                }

                if (entry.Type != LayerEntryType.Fifo && !RootfsNative.IsRoot)
                {
                    Skipped++;
                    return;
                }

                var type = entry.Type switch
                {
                    LayerEntryType.CharacterDevice => RootfsNative.TypeCharDevice,
                    LayerEntryType.BlockDevice => RootfsNative.TypeBlockDevice,
                    _ => RootfsNative.TypeFifo,
                };
                RootfsNative.Mknod(full, type, UnixFileMode.UserRead | UnixFileMode.UserWrite, entry.DeviceMajor, entry.DeviceMinor);
                break;
            default:
                return;
        }

        ApplyMetadata(full, entry.Type, entry.Mode, entry.Uid, entry.Gid, entry.ExtendedAttributes);
        if (LayerOwners is not null)
        {
            LayerOwners[target] = (entry.Uid, entry.Gid);
        }
        if (entry.Type != LayerEntryType.Directory)
        {
            RootfsNative.SetModificationTime(full, entry.ModificationTime);
        }
    }

    /// <summary>Owner, then mode (chown clears set-id bits), then extended attributes; never through a symlink.</summary>
    private void ApplyMetadata(string full, LayerEntryType type, UnixFileMode mode, int uid, int gid, IReadOnlyDictionary<string, string> xattrs)
    {
        if (_keepOwners)
        {
            RootfsNative.Lchown(full, uid, gid);
        }
        else if (uid != 0 || gid != 0)
        {
            Skipped++;
        }

        if (type != LayerEntryType.Symlink)
        {
            var permissions = mode & (UnixFileMode)0xFFF;
            RootfsNative.Chmod(full, type == LayerEntryType.Directory && !RootfsNative.IsRoot ? permissions | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : permissions);
        }

        foreach (var (name, value) in xattrs)
        {
            // Never let a layer forge overlayfs' own whiteout and opaque markers.
            if (name.StartsWith("trusted.overlay.", StringComparison.Ordinal) || name.StartsWith("user.overlay.", StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                RootfsNative.SetXattr(full, name, Encoding.UTF8.GetBytes(value));
            }
            catch (IOException) when (!RootfsNative.IsRoot || type == LayerEntryType.Symlink)
            {
                Skipped++;
            }
        }
    }

    private bool TryLink(string path, string target)
    {
        var resolvedTarget = Place(target, create: false);
        if (resolvedTarget is null || !RootfsNative.TryLstat(Full(resolvedTarget), out var status))
        {
            return false;
        }

        if (status.IsDirectory)
        {
            throw new OciFormatException("layer", $"the hard link '{path}' names the directory '{target}'");
        }

        var full = Full(path);
        if (RootfsNative.TryLstat(full, out var existing))
        {
            if (existing.Inode == status.Inode && existing.Device == status.Device)
            {
                return true;
            }

            RemoveTree(full);
        }

        RootfsNative.Link(Full(resolvedTarget), full);
        return true;
    }

    /// <summary>Where an entry lands: its parent resolved inside the root, its own last segment not followed.</summary>
    private string? Place(string path, bool create)
    {
        var slash = path.LastIndexOf('/');
        if (slash < 0)
        {
            return path;
        }

        var parent = path[..slash];
        if (_realDirectories.Contains(parent))
        {
            return path;
        }

        var resolved = Resolve(parent, create);
        return resolved is null ? null : LayerPath.Join(resolved.Length == 0 ? null : resolved, path[(slash + 1)..]);
    }

    /// <summary>
    /// Resolves a directory path inside the root, following every symlink on the way with the root as <c>/</c> (so no
    /// link leads out) and creating missing directories when asked; null when a part is missing and not created.
    /// </summary>
    /// <exception cref="LayerPathException">A part on the way is not a directory.</exception>
    /// <exception cref="SymlinkLoopException">Too many symlinks were followed.</exception>
    private string? Resolve(string path, bool create) =>
        RootfsPaths.ResolveRelative(_root, path, create ? MissingComponent.CreateDirectory : MissingComponent.Fail, directoriesOnly: true, _realDirectories);

    /// <summary>Empties a directory of what this layer did not write, descending into what it did (containerd's rule).</summary>
    private void RemoveNotWritten(string fullDirectory, HashSet<string> written)
    {
        foreach (var child in Directory.EnumerateFileSystemEntries(fullDirectory))
        {
            if (!written.Contains(Relative(child)))
            {
                RemoveTree(child);
            }
            else if (RootfsNative.TryLstat(child, out var status) && status.IsDirectory)
            {
                RemoveNotWritten(child, written);
            }
        }
    }

    private string Full(string relative) => relative.Length == 0 ? _root : _root + "/" + relative;

    private string Relative(string full) => full.Length == _root.Length ? string.Empty : full[(_root.Length + 1)..];

    /// <summary>Deletes a path; a directory with its content, never following a symlink.</summary>
    internal static void RemoveTree(string full)
    {
        if (!RootfsNative.TryLstat(full, out var status))
        {
            return;
        }

        if (!status.IsDirectory)
        {
            RootfsNative.Unlink(full);
            return;
        }

        if (!RootfsNative.IsRoot && (status.Permissions & UnixFileMode.UserWrite) == 0)
        {
            // Unprivileged, a read-only directory must be made writable before its entries can go.
            RootfsNative.Chmod(full, status.Permissions | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        foreach (var child in Directory.EnumerateFileSystemEntries(full))
        {
            RemoveTree(child);
        }

        RootfsNative.Rmdir(full);
    }
}
