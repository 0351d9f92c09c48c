using OciKit.Dockerfile.Ignore;
using OciKit.Layers;

namespace OciKit.Build;

/// <summary>
/// The build context as COPY and ADD see it: the context directory minus what <c>.dockerignore</c> excludes.
/// Files are owned by root and keep their permission bits, as BuildKit sends them. Nothing outside the directory is
/// ever opened: symlinks resolve inside it (see <see cref="FileTree"/>).
/// </summary>
internal sealed class ContextTree : FileTree
{
    private readonly string _root;
    private readonly DockerIgnoreMatcher _ignore;

    public ContextTree(string root, DockerIgnoreMatcher ignore)
    {
        _root = Path.GetFullPath(root);
        _ignore = ignore;
        var mode = OperatingSystem.IsWindows() ? (UnixFileMode)0x1ED : File.GetUnixFileMode(_root) & (UnixFileMode)0xFFF;
        RootNode = new FileNode(LayerEntryType.Directory, mode, 0, 0, 0, null);
    }

    public override FileNode RootNode { get; }

    /// <summary>Reads the context's ignore file for a Dockerfile, if any.</summary>
    public static DockerIgnoreMatcher ReadIgnore(string contextDirectory, string dockerfilePath)
    {
        var file = DockerIgnoreFile.Select(contextDirectory, dockerfilePath, File.Exists);
        return file is null ? DockerIgnoreMatcher.Empty : DockerIgnoreMatcher.Create(DockerIgnoreFile.ReadPatterns(File.ReadAllText(file)));
    }

    public override FileNode? GetExact(string path)
    {
        if (path.Length == 0)
        {
            return RootNode;
        }

        var full = Path.Combine(_root, path);
        FileSystemInfo info = new FileInfo(full);
        if (info.LinkTarget is { } target)
        {
            return IsPresent(path, directory: false) ? new FileNode(LayerEntryType.Symlink, (UnixFileMode)0x1FF, 0, 0, 0, target) : null;
        }

        if (info.Exists)
        {
            return IsPresent(path, directory: false)
                ? new FileNode(LayerEntryType.File, Mode(full), 0, 0, ((FileInfo)info).Length, null)
                {
                    Open = () => new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan),
                    ContentKey = full,
                    HardLinkKey = Layers.UnixFileStatus.TryGet(full, out var device, out var inode, out _) ? $"{device}:{inode}" : null,
                }
                : null;
        }

        if (Directory.Exists(full))
        {
            return IsPresent(path, directory: true) ? new FileNode(LayerEntryType.Directory, Mode(full), 0, 0, 0, null) : null;
        }

        return null;
    }

    public override IReadOnlyList<string> ListExact(string directory)
    {
        var full = directory.Length == 0 ? _root : Path.Combine(_root, directory);
        var names = new List<string>();
        foreach (var entry in new DirectoryInfo(full).EnumerateFileSystemInfos())
        {
            var relative = directory.Length == 0 ? entry.Name : directory + "/" + entry.Name;
            var isDirectory = entry.LinkTarget is null && entry is DirectoryInfo;
            if (IsPresent(relative, isDirectory))
            {
                names.Add(entry.Name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static UnixFileMode Mode(string full) =>
        OperatingSystem.IsWindows() ? (UnixFileMode)0x1A4 : File.GetUnixFileMode(full) & (UnixFileMode)0xFFF;

    // An excluded directory stays visible when an exception pattern may re-include something inside it; its
    // excluded entries are still hidden one by one.
    private bool IsPresent(string relative, bool directory) =>
        !_ignore.IsExcluded(relative) || (directory && _ignore.ExceptionsMayMatchInside(relative));
}
