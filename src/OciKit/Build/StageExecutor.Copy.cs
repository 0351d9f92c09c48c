using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OciKit.Dockerfile;
using OciKit.Build.Sources;
using OciKit.Dockerfile.Ignore;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Build;

/// <content>COPY and ADD: source selection (independent of the image, so the cache key needs no layer read) and placement.</content>
internal sealed partial class StageExecutor
{
    // The hard-link identity of each file placed by the current copy (path in the image → source key).
    private readonly Dictionary<string, string> _hardLinkKeys = new(StringComparer.Ordinal);

    /// <summary>One copied object and where it is in its source tree (null for a download, which is in no tree).</summary>
    private sealed record Item(string? ResolvedPath, FileNode Node);

    /// <summary>One top-level source after wildcard expansion; a directory brings its whole content.</summary>
    private sealed record Selection(string SourcePath, string Name, Item Top, List<(string Relative, Item Item)> Children);

    /// <summary>The parsed common flags of COPY and ADD.</summary>
    private sealed record CopyRequest(
        Instruction Instruction, string Keyword, List<string> Sources, IReadOnlyList<HeredocSource> Heredocs, string Destination,
        string? From, string? Chown, string? Chmod, bool Link, bool Parents, IReadOnlyList<string> Exclude, bool IsAdd)
    {
        /// <summary>ADD's http(s) sources, downloaded before the key is computed.</summary>
        public List<string> Urls { get; init; } = [];

        /// <summary>ADD --checksum.</summary>
        public Digest? Checksum { get; init; }
    }

    private Task CopyAsync(CopyInstruction c, CancellationToken cancellationToken)
    {
        var env = ExpansionEnvironment;
        var request = new CopyRequest(
            c, "COPY", [.. c.Sources.Select(s => _session.Expand(s, env, c))], c.HeredocSources, _session.Expand(c.Destination, env, c),
            c.From, c.Chown is { } o ? _session.Expand(o, env, c) : null, c.Chmod is { } m ? _session.Expand(m, env, c) : null,
            c.Link, c.Parents, [.. c.Exclude.Select(e => _session.Expand(e, env, c))], IsAdd: false);
        return CopyCoreAsync(request, cancellationToken);
    }

    private async Task AddAsync(AddInstruction a, CancellationToken cancellationToken)
    {
        var env = ExpansionEnvironment;
        var sources = a.Sources.Select(s => _session.Expand(s, env, a)).ToList();
        foreach (var source in sources)
        {
            if (RemoteSource.IsGitUrl(source))
            {
                throw _session.Error(a, $"ADD of a Git repository ({source}) is not supported; clone it into the context and COPY it");
            }
        }

        var urls = sources.Where(RemoteSource.IsHttpUrl).ToList();
        Digest? checksum = null;
        if (a.Checksum is { } checksumText)
        {
            if (urls.Count == 0)
            {
                throw _session.Error(a, "checksum can't be specified for non-HTTP(S) sources");
            }

            if (!Digest.TryParse(_session.Expand(checksumText, env, a), out checksum))
            {
                throw _session.Error(a, $"invalid checksum digest format: {checksumText}");
            }
        }

        var request = new CopyRequest(
            a, "ADD", [.. sources.Where(s => !RemoteSource.IsHttpUrl(s))], a.HeredocSources, _session.Expand(a.Destination, env, a),
            null, a.Chown is { } o ? _session.Expand(o, env, a) : null, a.Chmod is { } m ? _session.Expand(m, env, a) : null,
            a.Link, false, [.. a.Exclude.Select(e => _session.Expand(e, env, a))], IsAdd: a.Unpack != false)
        {
            Urls = urls,
            Checksum = checksum,
        };
        await CopyCoreAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private async Task CopyCoreAsync(CopyRequest request, CancellationToken cancellationToken)
    {
        var at = request.Instruction;
        if (request.Sources.Count + request.Urls.Count + request.Heredocs.Count > 1 && !request.Destination.EndsWith('/'))
        {
            throw _session.Error(at, $"When using {request.Keyword} with more than one source file, the destination must be a directory and end with a /");
        }

        FileTree tree;
        string treeIdentity;
        ImageFs? imageTree = null;
        if (request.From is { } from)
        {
            if (_session.FindStage(from, _session.Dockerfile.Stages.Length, allowIndex: true) is { } stage)
            {
                var built = _session.BuiltStage(stage);
                await _session.EnsureLocalAsync(built.Image.Layers, at, cancellationToken).ConfigureAwait(false);
                imageTree = await ImageFs.LoadAsync(built.Image.Layers, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
                treeIdentity = "stage:" + built.Identity;
            }
            else if (int.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                throw _session.Error(at, $"invalid stage index {index}: the Dockerfile has {_session.Dockerfile.Stages.Length} stage(s)");
            }
            else
            {
                var (image, identity) = await ResolveFromImageAsync(from, at, cancellationToken).ConfigureAwait(false);
                imageTree = await ImageFs.LoadAsync(image.Layers, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
                treeIdentity = "image:" + identity;
            }

            tree = imageTree;
        }
        else
        {
            tree = _session.Context;
            treeIdentity = "context";
        }

        var exclude = request.Exclude.Count == 0 ? null : DockerIgnoreMatcher.Create(request.Exclude);
        var selections = new List<Selection>();
        foreach (var source in request.Sources)
        {
            selections.AddRange(Select(tree, source, exclude, at, fromContext: request.From is null));
        }

        foreach (var url in request.Urls)
        {
            selections.Add(await DownloadAsync(url, request, cancellationToken).ConfigureAwait(false));
        }

        var heredocs = request.Heredocs.Select(h =>
        {
            var data = h.Expand ? _session.Expand(h.Data, ExpansionEnvironment, at) : h.Data;
            var bytes = Encoding.UTF8.GetBytes(data);
            var node = new FileNode(LayerEntryType.File, (UnixFileMode)0x1A4, 0, 0, bytes.Length, null) { Open = () => new MemoryStream(bytes, writable: false) };
            return (Name: h.Path, Bytes: bytes, Node: node);
        }).ToList();

        // The cache key: the parent, the resolved instruction, and what every input is (content included).
        var inputs = new List<string> { treeIdentity };
        foreach (var selection in _session.Options.NoCache ? [] : selections)
        {
            inputs.Add(await DescribeAsync(selection.SourcePath, selection.Top, cancellationToken).ConfigureAwait(false));
            foreach (var (relative, item) in selection.Children)
            {
                inputs.Add(await DescribeAsync(relative, item, cancellationToken).ConfigureAwait(false));
            }
        }

        foreach (var (name, bytes, _) in heredocs)
        {
            inputs.Add("heredoc " + name + " " + Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }

        var step = $"{request.Keyword} from={request.From} chown={request.Chown} chmod={request.Chmod} link={request.Link} parents={request.Parents} "
            + $"exclude={string.Join(',', request.Exclude)} unpack={request.IsAdd} src={string.Join('\n', [.. request.Sources, .. request.Urls])} dest={request.Destination} workdir={Container.WorkingDir} user={Container.User}";
        var createdBy = request.Keyword + " " + string.Join(' ', [.. request.Sources, .. request.Urls.Select(RedactUrl), .. request.Heredocs.Select(h => "<<" + h.Path), request.Destination]);
        var key = _session.Options.NoCache ? "" : CacheKey(step, inputs);

        await CommitLayerAsync(at, createdBy, key, async () =>
        {
            if (imageTree is not null)
            {
                var files = selections.SelectMany(s => s.Children.Select(c => c.Item).Prepend(s.Top)).Where(i => i.Node.Type == LayerEntryType.File && i.ResolvedPath is not null).Select(i => i.ResolvedPath!);
                await imageTree.MaterializeAsync([.. files], _session.OpenBlob, _session.Scratch, cancellationToken).ConfigureAwait(false);
            }

            var target = request.Link ? ImageFs.Empty : await FileSystemAsync(cancellationToken).ConfigureAwait(false);
            return await PlaceAsync(request, tree, selections, heredocs.Select(h => (h.Name, h.Node)).ToList(), target, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(Images.Image Image, string Identity)> ResolveFromImageAsync(string reference, Instruction at, CancellationToken cancellationToken)
    {
        try
        {
            return await _session.ResolveImageAsync(reference, _image.Config.Platform, at, cancellationToken).ConfigureAwait(false);
        }
        catch (ImageNotFoundException ex)
        {
            throw _session.Error(at, $"--from image '{reference}': {ex.Message}", ex);
        }
    }

    /// <summary>Expands one source (a path or a wildcard pattern) into what it selects.</summary>
    private List<Selection> Select(FileTree tree, string source, DockerIgnoreMatcher? exclude, Instruction at, bool fromContext)
    {
        var relative = CleanSource(source, at, fromContext);
        var result = new List<Selection>();
        var matches = HasWildcard(relative) ? Glob(tree, relative) : [relative];
        if (matches.Count == 0 && !HasWildcard(relative))
        {
            throw _session.Error(at, $"\"/{relative}\": not found");
        }

        foreach (var match in matches)
        {
            if (exclude is not null && matches.Count > 1 && exclude.IsExcluded(match))
            {
                continue;
            }

            var resolved = tree.Resolve(match, followFinal: true);
            var node = resolved.Length == 0 ? tree.RootNode : tree.GetExact(resolved);
            if (node is null)
            {
                throw _session.Error(at, $"\"/{relative}\": not found");
            }

            var children = new List<(string, Item)>();
            if (node.IsDirectory)
            {
                Walk(tree, resolved, "", exclude, children);
            }

            var name = match.Length == 0 ? "" : match[(match.LastIndexOf('/') + 1)..];
            result.Add(new Selection(match, name, new Item(resolved, node), children));
        }

        return result;
    }

    private static void Walk(FileTree tree, string directory, string relative, DockerIgnoreMatcher? exclude, List<(string, Item)> into)
    {
        foreach (var name in tree.ListExact(directory))
        {
            var path = directory.Length == 0 ? name : directory + "/" + name;
            var rel = relative.Length == 0 ? name : relative + "/" + name;
            if (exclude is not null && exclude.IsExcluded(rel))
            {
                if (tree.GetExact(path) is { IsDirectory: true } && exclude.ExceptionsMayMatchInside(rel))
                {
                    Walk(tree, path, rel, exclude, into);
                }

                continue;
            }

            if (tree.GetExact(path) is not { } node)
            {
                continue;
            }

            into.Add((rel, new Item(path, node)));
            if (node.IsDirectory)
            {
                Walk(tree, path, rel, exclude, into);
            }
        }
    }

    /// <summary>
    /// A source path relative to the tree's root. In the context, a path that climbs above the root is refused (a
    /// symlink cannot lead out either: links resolve inside the tree).
    /// </summary>
    private string CleanSource(string source, Instruction at, bool fromContext)
    {
        var depth = 0;
        var parts = new List<string>();
        foreach (var part in source.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    depth++;
                    continue;
                }

                parts.RemoveAt(parts.Count - 1);
                continue;
            }

            parts.Add(part);
        }

        if (depth > 0 && fromContext && !source.StartsWith('/'))
        {
            throw _session.Error(at, $"forbidden path outside the build context: {source}");
        }

        return string.Join('/', parts);
    }

    private static bool HasWildcard(string path) => path.AsSpan().IndexOfAny("*?[") >= 0;

    /// <summary>Matches a pattern one path segment at a time, as Go's filepath.Glob does (no <c>**</c>).</summary>
    private static List<string> Glob(FileTree tree, string pattern)
    {
        var candidates = new List<string> { "" };
        foreach (var segment in pattern.Split('/'))
        {
            var next = new List<string>();
            foreach (var candidate in candidates)
            {
                if (!HasWildcard(segment))
                {
                    var path = candidate.Length == 0 ? segment : candidate + "/" + segment;
                    if (tree.Get(path, followFinal: false) is not null)
                    {
                        next.Add(path);
                    }

                    continue;
                }

                var directory = tree.Resolve(candidate, followFinal: true);
                if (tree.Get(directory, followFinal: false) is not { IsDirectory: true })
                {
                    continue;
                }

                var matcher = DockerIgnorePattern.Parse(segment);
                foreach (var name in tree.ListExact(directory))
                {
                    if (matcher.Matches(name))
                    {
                        next.Add(candidate.Length == 0 ? name : candidate + "/" + name);
                    }
                }
            }

            candidates = next;
        }

        return candidates;
    }

    /// <summary>A line describing one input for the cache key: path, type, mode, owner, size, link, content hash.</summary>
    private async Task<string> DescribeAsync(string path, Item item, CancellationToken cancellationToken)
    {
        var node = item.Node;
        var content = "";
        if (node.Type == LayerEntryType.File)
        {
            if (node.ContentKey is { } contentKey)
            {
                content = Path.IsPathRooted(contentKey) ? await _session.FileDigests.GetAsync(contentKey, cancellationToken).ConfigureAwait(false) : contentKey;
            }
            else if (node.Open is { } open)
            {
                var stream = open();
                await using (stream.ConfigureAwait(false))
                {
                    content = (await Primitives.Digest.ComputeSha256Async(stream, cancellationToken).ConfigureAwait(false)).ToString();
                }
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{path}\0{node.Type}\0{(int)node.Mode}\0{node.Uid}:{node.Gid}\0{node.Size}\0{node.LinkTarget}\0{content}\0{node.HardLinkKey}");
    }

    /// <summary>Where the selected objects land, as layer entries (parents included with the image's metadata).</summary>
    private async Task<IReadOnlyList<LayerEntry>> PlaceAsync(
        CopyRequest request, FileTree tree, List<Selection> selections, List<(string Name, FileNode Node)> heredocs, ImageFs target, CancellationToken cancellationToken)
    {
        var at = request.Instruction;
        (int Uid, int Gid)? owner = request.Chown is { Length: > 0 } chown ? await ResolveOwnerAsync(chown, at, cancellationToken).ConfigureAwait(false) : null;
        UnixFileMode? chmod = null;
        if (request.Chmod is { Length: > 0 } chmodText)
        {
            try
            {
                chmod = (UnixFileMode)Convert.ToInt32(chmodText, 8);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
            {
                throw _session.Error(at, $"invalid chmod parameter: '{chmodText}' (only octal modes are supported)", ex);
            }

            if ((int)chmod > 0xFFF)
            {
                throw _session.Error(at, $"invalid chmod parameter: '{chmodText}'");
            }
        }

        // The destination: WORKDIR-relative, a directory when it says so or already is one.
        var destination = request.Destination;
        var explicitDirectory = destination.EndsWith('/') || destination == "." || destination.EndsWith("/.", StringComparison.Ordinal);
        var absolute = destination.StartsWith('/') ? destination : (Container.WorkingDir ?? "/").TrimEnd('/') + "/" + destination;
        var clean = string.Join('/', Normalize(absolute));
        var multiple = selections.Count + heredocs.Count > 1;
        var followed = target.Resolve(clean, followFinal: true);
        var isDirectory = explicitDirectory || multiple || clean.Length == 0 || target.Get(followed, followFinal: false) is { IsDirectory: true };
        var destinationPath = isDirectory ? followed : target.Resolve(clean, followFinal: false);

        var entries = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
        var defaultUid = owner?.Uid ?? 0;
        var defaultGid = owner?.Gid ?? 0;
        foreach (var selection in selections)
        {
            var top = FreshNode(tree, selection.Top);
            string root;
            if (request.Parents)
            {
                root = Join(destinationPath, PivotPath(selection.SourcePath));
            }
            else if (top.IsDirectory)
            {
                root = destinationPath;
            }
            else
            {
                root = isDirectory ? Join(destinationPath, selection.Name) : destinationPath;
            }

            if (request.IsAdd && request.From is null && selection.Top.ResolvedPath is not null && top is { Type: LayerEntryType.File, ContentKey: { } hostPath }
                && await ArchiveExtractor.IsArchiveAsync(hostPath, cancellationToken).ConfigureAwait(false))
            {
                await ExtractAsync(entries, target, hostPath, destinationPath, request, owner, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (root.Length > 0)
            {
                Put(entries, target, root, top, request, owner, chmod, defaultUid, defaultGid);
            }

            foreach (var (relative, item) in selection.Children)
            {
                Put(entries, target, Join(root, relative), FreshNode(tree, item), request, owner, chmod, defaultUid, defaultGid);
            }
        }

        foreach (var (name, node) in heredocs)
        {
            var path = isDirectory ? Join(destinationPath, name) : destinationPath;
            Put(entries, target, path, node, request, owner, chmod, defaultUid, defaultGid);
        }

        LinkHardLinks(entries);
        if (selections.Count == 0 && heredocs.Count == 0 && destinationPath.Length > 0)
        {
            // An empty wildcard match still creates the destination directory, as BuildKit does.
            AddParents(entries, request.Link ? null : target, destinationPath + "/x", defaultUid, defaultGid, request.Link);
        }

        return [.. entries.Values];
    }

    /// <summary>
    /// Files of one copy that were hard links of each other in the source stay hard links, to the first of them in
    /// path order, as BuildKit and buildah copy them.
    /// </summary>
    private void LinkHardLinks(Dictionary<string, LayerEntry> entries)
    {
        if (_hardLinkKeys.Count < 2)
        {
            _hardLinkKeys.Clear();
            return;
        }

        var first = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in _hardLinkKeys.Keys.Order(StringComparer.Ordinal))
        {
            if (!entries.TryGetValue(path, out var entry) || entry.Type != LayerEntryType.File)
            {
                continue;
            }

            if (first.TryGetValue(_hardLinkKeys[path], out var target))
            {
                entries[path] = LayerEntry.Hardlink(path, target, entry.Mode) with { Uid = entry.Uid, Gid = entry.Gid };
            }
            else
            {
                first[_hardLinkKeys[path]] = path;
            }
        }

        _hardLinkKeys.Clear();
    }

    private void Put(
        Dictionary<string, LayerEntry> entries, ImageFs target, string path, FileNode node, CopyRequest request,
        (int Uid, int Gid)? owner, UnixFileMode? chmod, int parentUid, int parentGid)
    {
        if (node is { Type: LayerEntryType.File, HardLinkKey: { } linkKey })
        {
            _hardLinkKeys[path] = linkKey;
        }
        else
        {
            _hardLinkKeys.Remove(path);
        }

        AddParents(entries, request.Link ? null : target, path, parentUid, parentGid, request.Link);
        var fromContext = request.From is null;
        var uid = owner?.Uid ?? (fromContext ? 0 : node.Uid);
        var gid = owner?.Gid ?? (fromContext ? 0 : node.Gid);
        // --chmod applies to directories too, the destination of a directory copy included (BuildKit since 0.21, moby/buildkit#4945).
        var mode = node.Type == LayerEntryType.Symlink ? node.Mode : chmod ?? node.Mode;
        entries.Remove(path);
        entries[path] = node.Type switch
        {
            LayerEntryType.Directory => LayerEntry.Directory(path, mode) with { Uid = uid, Gid = gid },
            LayerEntryType.Symlink => LayerEntry.Symlink(path, node.LinkTarget!) with { Uid = uid, Gid = gid },
            _ => LayerEntry.File(path, node.Size, node.Open ?? throw _session.Error(request.Instruction, $"the content of '{path}' is unavailable"), mode) with { Uid = uid, Gid = gid },
        };
    }

    private static FileNode FreshNode(FileTree tree, Item item) => item.ResolvedPath is not { } path ? item.Node
        : (path.Length == 0 ? tree.RootNode : tree.GetExact(path)) ?? item.Node;

    private static string RedactUrl(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? RemoteSource.Redact(uri) : url;

    /// <summary>Downloads an ADD URL (verifying --checksum); the file is copied as is, mode 0600 as Docker does.</summary>
    private async Task<Selection> DownloadAsync(string url, CopyRequest request, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            throw _session.Error(request.Instruction, $"'{url}' is not a valid URL");
        }

        DownloadedFile file;
        try
        {
            file = await RemoteSource.DownloadAsync(uri, request.Checksum, _session.Scratch, _session.Options.HttpHandler, cancellationToken).ConfigureAwait(false);
        }
        catch (OciException ex) when (ex is not BuildException)
        {
            throw _session.Error(request.Instruction, ex.Message, ex);
        }

        var path = file.Path;
        var node = new FileNode(LayerEntryType.File, (UnixFileMode)0x180, 0, 0, new FileInfo(path).Length, null)
        {
            Open = () => LayerEntry.OpenForSequentialRead(path),
            ContentKey = path,
        };
        return new Selection(RedactUrl(url), file.FileName, new Item(null, node), []);
    }

    /// <summary>For --parents: the source path kept under the destination, from a <c>/./</c> pivot when there is one.</summary>
    private static string PivotPath(string sourcePath)
    {
        var pivot = sourcePath.IndexOf("/./", StringComparison.Ordinal);
        return pivot >= 0 ? sourcePath[(pivot + 3)..] : sourcePath;
    }

    private static string Join(string left, string right) =>
        left.Length == 0 ? right : right.Length == 0 ? left : left + "/" + right;

    /// <summary>ADD of a local tar archive: its entries land below the destination directory, none outside it.</summary>
    private async Task ExtractAsync(
        Dictionary<string, LayerEntry> entries, ImageFs target, string archive, string destinationPath, CopyRequest request, (int Uid, int Gid)? owner, CancellationToken cancellationToken)
    {
        IReadOnlyList<LayerEntry> extracted;
        try
        {
            extracted = await ArchiveExtractor.ExtractAsync(archive, "/" + destinationPath, _session.Scratch, cancellationToken).ConfigureAwait(false);
        }
        catch (OciException ex) when (ex is not BuildException)
        {
            throw _session.Error(request.Instruction, ex.Message, ex);
        }
        catch (NotSupportedException ex)
        {
            throw _session.Error(request.Instruction, ex.Message, ex);
        }

        if (destinationPath.Length > 0)
        {
            AddParents(entries, request.Link ? null : target, destinationPath + "/x", owner?.Uid ?? 0, owner?.Gid ?? 0, request.Link);
        }

        foreach (var entry in extracted)
        {
            AddParents(entries, request.Link ? null : target, entry.Path, owner?.Uid ?? 0, owner?.Gid ?? 0, request.Link);
            entries.Remove(entry.Path);
            entries[entry.Path] = owner is { } o ? entry with { Uid = o.Uid, Gid = o.Gid } : entry;
        }
    }
}
