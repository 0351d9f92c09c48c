using OciKit.Layers;

namespace OciKit.Build;

/// <summary>One file system object of a source tree (the context or an image's root), with the metadata a copy keeps.</summary>
/// <param name="Type">File, directory, symlink (never a whiteout).</param>
/// <param name="Mode">Permission bits.</param>
/// <param name="Uid">Owner id.</param>
/// <param name="Gid">Group id.</param>
/// <param name="Size">Content length of a file.</param>
/// <param name="LinkTarget">The text of a symlink.</param>
internal sealed record FileNode(LayerEntryType Type, UnixFileMode Mode, int Uid, int Gid, long Size, string? LinkTarget)
{
    /// <summary>Opens a file's content; the caller disposes the stream.</summary>
    public Func<Stream>? Open { get; init; }

    /// <summary>Files with the same key are hard links of one another (a device and inode, or a layer's link target).</summary>
    public string? HardLinkKey { get; init; }

    /// <summary>Where the content comes from, for the build cache (a host path or a layer digest and path).</summary>
    public string? ContentKey { get; init; }

    public bool IsDirectory => Type == LayerEntryType.Directory;
}

/// <summary>
/// A read view of a tree of files addressed by normalised relative paths (<c>a/b</c>, the root is <c>""</c>).
/// Symlinks are resolved as inside a chroot: absolute targets start at the tree's root and <c>..</c> stops there, so
/// no resolution ever leaves the tree.
/// </summary>
internal abstract class FileTree
{
    private const int MaxLinkHops = 255;

    /// <summary>The object at a path whose parents are already resolved, without following a final symlink.</summary>
    public abstract FileNode? GetExact(string path);

    /// <summary>The names of a resolved directory's entries, in ordinal order.</summary>
    public abstract IReadOnlyList<string> ListExact(string directory);

    /// <summary>
    /// Resolves every symlink on the way to <paramref name="path"/> (and the final one when <paramref name="followFinal"/>),
    /// staying inside the tree. Returns the resolved path, whether or not something exists there.
    /// </summary>
    /// <exception cref="SymlinkLoopException">The links lead round in a loop.</exception>
    public string Resolve(string path, bool followFinal)
    {
        var pending = new Stack<string>();
        PushSegments(pending, path);
        var resolved = new List<string>();
        var hops = 0;
        while (pending.Count > 0)
        {
            var segment = pending.Pop();
            if (segment is "" or ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            resolved.Add(segment);
            if (pending.Count == 0 && !followFinal)
            {
                break;
            }

            var current = string.Join('/', resolved);
            if (GetExact(current) is { Type: LayerEntryType.Symlink, LinkTarget: { } target })
            {
                if (++hops > MaxLinkHops)
                {
                    throw new SymlinkLoopException(path, MaxLinkHops);
                }

                resolved.RemoveAt(resolved.Count - 1);
                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }

                PushSegments(pending, target);
            }
        }

        return string.Join('/', resolved);
    }

    /// <summary>The object at a path, following symlinks in the parents and, when asked, the final one.</summary>
    public FileNode? Get(string path, bool followFinal)
    {
        var resolved = Resolve(path, followFinal);
        return resolved.Length == 0 ? RootNode : GetExact(resolved);
    }

    /// <summary>The metadata the tree's root directory has.</summary>
    public virtual FileNode RootNode { get; } = new(LayerEntryType.Directory, (UnixFileMode)0x1ED, 0, 0, 0, null);

    /// <summary>Normalises a slash-separated path: no leading slash, no empty or <c>.</c> segments (<c>..</c> kept).</summary>
    public static string Normalize(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('/', parts.Where(static p => p != "."));
    }

    private static void PushSegments(Stack<string> pending, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            pending.Push(parts[i]);
        }
    }
}
