using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>
/// The merged file system of an image's layers (whiteouts and opaque directories applied), for reading: metadata
/// is held in memory; a file's content stays in its layer blob until <see cref="MaterializeAsync"/> copies it out.
/// </summary>
internal sealed class ImageFs : FileTree
{
    private readonly Dictionary<string, FileNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<string>> _children = new(StringComparer.Ordinal) { [""] = new(StringComparer.Ordinal) };

    // Where a not yet materialized file's content lives: its layer and its path (or hard-link target) in that layer.
    private readonly Dictionary<string, (Descriptor Layer, string TarPath)> _inLayer = new(StringComparer.Ordinal);

    public static ImageFs Empty => new();

    /// <summary>Reads the metadata of every layer, bottom to top.</summary>
    public static async Task<ImageFs> LoadAsync(IEnumerable<Descriptor> layers, Func<Descriptor, Stream> openBlob, CancellationToken cancellationToken)
    {
        var fs = new ImageFs();
        foreach (var layer in layers)
        {
            await fs.ApplyLayerAsync(layer, openBlob, cancellationToken).ConfigureAwait(false);
        }

        return fs;
    }

    /// <summary>
    /// Applies one layer blob on top, as containerd applies a layer another tool wrote: each entry's parent directories
    /// are resolved through symlinks inside the tree (so <c>lib/x</c> under a <c>lib -&gt; usr/lib</c> link lands in
    /// <c>usr/lib/x</c>), missing parents are created <c>0755</c> root-owned, a repeated path replaces the earlier entry
    /// (a directory over a directory keeps its children), and a hard link shares the file an earlier entry wrote.
    /// </summary>
    /// <exception cref="LayerPathException">An entry's name climbs above the root, or its parent is not a directory.</exception>
    /// <exception cref="SymlinkLoopException">An entry's parent directories lead round a symlink loop.</exception>
    /// <exception cref="OciFormatException">A hard link names nothing the image holds before it, or a directory.</exception>
    public async Task ApplyLayerAsync(Descriptor layer, Func<Descriptor, Stream> openBlob, CancellationToken cancellationToken)
    {
        var blob = openBlob(layer);
        await using (blob.ConfigureAwait(false))
        {
            // Links whose target comes later in the stream (tar writers put the target first; this tolerates those that do not).
            var pending = new List<(string Path, string Target)>();
            var written = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var entry in LayerReader.ReadEntriesAsync(blob, layer.MediaType, cancellationToken).ConfigureAwait(false))
            {
                if (TryApplyWhiteout(entry.Type, entry.Path, written))
                {
                    continue;
                }

                var path = Place(entry.Path);
                written.Add(path);
                switch (entry.Type)
                {
                    case LayerEntryType.Hardlink:
                        if (!TryLink(layer, path, entry.LinkTarget!))
                        {
                            pending.Add((path, entry.LinkTarget!));
                        }

                        break;
                    default:
                        Set(path, new FileNode(entry.Type, entry.Mode & (UnixFileMode)0xFFF, entry.Uid, entry.Gid, entry.Size, entry.LinkTarget)
                        {
                            ContentKey = entry.Type == LayerEntryType.File ? layer.Digest + ":" + entry.Path : null,
                        });
                        if (entry.Type == LayerEntryType.File)
                        {
                            _inLayer[path] = (layer, entry.Path);
                        }

                        break;
                }
            }

            foreach (var (path, target) in pending)
            {
                if (!TryLink(layer, path, target))
                {
                    throw new OciFormatException("layer", $"layer {layer.Digest}: the hard link '{path}' names '{target}', which is not a file the image holds");
                }
            }
        }
    }

    /// <summary>Makes <paramref name="path"/> a hard link of the file at <paramref name="target"/>; false when there is none yet.</summary>
    private bool TryLink(Descriptor layer, string path, string target)
    {
        var resolvedTarget = Place(target);
        if (!_nodes.TryGetValue(resolvedTarget, out var node))
        {
            return false;
        }

        if (node.IsDirectory)
        {
            throw new OciFormatException("layer", $"layer {layer.Digest}: the hard link '{path}' names the directory '{target}'");
        }

        if (node.Type == LayerEntryType.File)
        {
            node = node with { HardLinkKey = node.HardLinkKey ?? layer.Digest + ":" + resolvedTarget };
            _nodes[resolvedTarget] = node;
        }

        var source = _inLayer.GetValueOrDefault(resolvedTarget);
        Set(path, node);
        if (source.Layer is not null)
        {
            _inLayer[path] = source;
        }

        return true;
    }

    /// <summary>Applies entries this build wrote (their content opens from where the entries read it).</summary>
    public void Apply(IEnumerable<LayerEntry> entries)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (TryApplyWhiteout(entry.Type, entry.Path, written))
            {
                continue;
            }

            var path = Place(entry.Path);
            written.Add(path);
            switch (entry.Type)
            {
                case LayerEntryType.Hardlink:
                    if (_nodes.TryGetValue(Place(entry.LinkTarget!), out var node))
                    {
                        Set(path, node);
                    }

                    break;
                default:
                    Set(path, new FileNode(entry.Type, entry.Mode, entry.Uid, entry.Gid, entry.Size, entry.LinkTarget) { Open = entry.OpenContent });
                    break;
            }
        }
    }

    /// <summary>
    /// Where an entry named <paramref name="path"/> lands: its parent resolved through symlinks inside the tree (its own
    /// last segment is not followed). Every path the tree holds has only directories above it, so a parent that is a
    /// directory already needs no resolution.
    /// </summary>
    /// <exception cref="LayerPathException">Something on the way is not a directory.</exception>
    private string Place(string path)
    {
        var slash = path.LastIndexOf('/');
        if (slash < 0)
        {
            return path;
        }

        var parent = path[..slash];
        if (_nodes.TryGetValue(parent, out var existing) && existing.IsDirectory)
        {
            return path;
        }

        var resolved = Resolve(parent, followFinal: true);
        for (var ancestor = resolved; ancestor.Length > 0; ancestor = LayerPath.Parent(ancestor) ?? string.Empty)
        {
            if (_nodes.TryGetValue(ancestor, out var node))
            {
                if (!node.IsDirectory)
                {
                    throw new LayerPathException(path, $"its parent '{ancestor}' is not a directory");
                }

                break;
            }
        }

        return LayerPath.Join(resolved.Length == 0 ? null : resolved, path[(slash + 1)..]);
    }

    /// <summary>
    /// Deletes what a whiteout names, or empties what an opaque marker names of all its layer did not write before it
    /// (<paramref name="written"/>: containerd's rule, which the on-disk applier follows too — a writer that sorts names
    /// puts <c>dir/-x</c> before <c>dir/.wh..wh..opq</c>); false for any other entry.
    /// </summary>
    private bool TryApplyWhiteout(LayerEntryType type, string path, HashSet<string> written)
    {
        switch (type)
        {
            case LayerEntryType.Whiteout:
                Remove(Place(path));
                return true;
            case LayerEntryType.OpaqueWhiteout:
                RemoveNotWritten(path.Length == 0 ? path : Resolve(path, followFinal: true), written);
                return true;
            default:
                return false;
        }
    }

    public override FileNode? GetExact(string path) => path.Length == 0 ? RootNode : _nodes.GetValueOrDefault(path);

    public override IReadOnlyList<string> ListExact(string directory) =>
        _children.TryGetValue(directory, out var names) ? [.. names] : [];

    /// <summary>Copies the content of files that still live in layer blobs into scratch files, one pass per layer.</summary>
    public async Task MaterializeAsync(IEnumerable<string> paths, Func<Descriptor, Stream> openBlob, string scratchDirectory, CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<Digest, (Descriptor Layer, Dictionary<string, List<string>> ByTarPath)>();
        foreach (var path in paths)
        {
            if (_inLayer.TryGetValue(path, out var source))
            {
                if (!wanted.TryGetValue(source.Layer.Digest, out var perLayer))
                {
                    perLayer = (source.Layer, new Dictionary<string, List<string>>(StringComparer.Ordinal));
                    wanted.Add(source.Layer.Digest, perLayer);
                }

                if (!perLayer.ByTarPath.TryGetValue(source.TarPath, out var targets))
                {
                    perLayer.ByTarPath[source.TarPath] = targets = [];
                }

                targets.Add(path);
            }
        }

        foreach (var (_, (layer, byTarPath)) in wanted)
        {
            var blob = openBlob(layer);
            await using (blob.ConfigureAwait(false))
            {
                await foreach (var entry in LayerReader.ReadEntriesAsync(blob, layer.MediaType, cancellationToken).ConfigureAwait(false))
                {
                    if (entry.Type != LayerEntryType.File || !byTarPath.TryGetValue(entry.Path, out var targets))
                    {
                        continue;
                    }

                    var file = Path.Combine(scratchDirectory, "content-" + Guid.NewGuid().ToString("N"));
                    var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
                    await using (output.ConfigureAwait(false))
                    {
                        await entry.Content!.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                    }

                    foreach (var target in targets)
                    {
                        _nodes[target] = _nodes[target] with { Open = () => LayerEntry.OpenForSequentialRead(file) };
                        _inLayer.Remove(target);
                    }
                }
            }
        }
    }

    private void Set(string path, FileNode node)
    {
        if (_nodes.TryGetValue(path, out var old) && old.IsDirectory && !node.IsDirectory)
        {
            RemoveChildren(path);
        }

        _nodes[path] = node;
        _inLayer.Remove(path);
        var name = path;
        var parent = "";
        var slash = path.LastIndexOf('/');
        if (slash >= 0)
        {
            parent = path[..slash];
            name = path[(slash + 1)..];
            if (!_nodes.ContainsKey(parent))
            {
                // A layer may omit a parent directory; it exists with default metadata.
                Set(parent, new FileNode(LayerEntryType.Directory, (UnixFileMode)0x1ED, 0, 0, 0, null));
            }
        }

        if (!_children.TryGetValue(parent, out var siblings))
        {
            _children[parent] = siblings = new SortedSet<string>(StringComparer.Ordinal);
        }

        siblings.Add(name);
        if (node.IsDirectory && !_children.ContainsKey(path))
        {
            _children[path] = new SortedSet<string>(StringComparer.Ordinal);
        }
    }

    private void Remove(string path)
    {
        RemoveChildren(path);
        _nodes.Remove(path);
        _inLayer.Remove(path);
        _children.Remove(path);
        var slash = path.LastIndexOf('/');
        var parent = slash >= 0 ? path[..slash] : "";
        if (_children.TryGetValue(parent, out var siblings))
        {
            siblings.Remove(slash >= 0 ? path[(slash + 1)..] : path);
        }
    }

    private void RemoveChildren(string directory)
    {
        if (!_children.TryGetValue(directory, out var names))
        {
            return;
        }

        foreach (var name in names.ToList())
        {
            Remove(directory.Length == 0 ? name : directory + "/" + name);
        }
    }

    /// <summary>Removes what lies in <paramref name="directory"/> except what this layer wrote, descending into what it wrote.</summary>
    private void RemoveNotWritten(string directory, HashSet<string> written)
    {
        if (!_children.TryGetValue(directory, out var names))
        {
            return;
        }

        foreach (var name in names.ToList())
        {
            var child = directory.Length == 0 ? name : directory + "/" + name;
            if (!written.Contains(child))
            {
                Remove(child);
            }
            else if (_nodes.TryGetValue(child, out var node) && node.IsDirectory)
            {
                RemoveNotWritten(child, written);
            }
        }
    }
}
