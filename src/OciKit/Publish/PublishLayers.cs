using System.Collections.Immutable;
using OciKit.Layers;

namespace OciKit.Publish;

/// <summary>The files of one layer of a published application.</summary>
/// <param name="Kind">Which layer.</param>
/// <param name="Files">Its files, in ordinal order of their relative paths.</param>
public sealed record PublishLayer(PublishLayerKind Kind, ImmutableArray<PublishedFile> Files)
{
    /// <summary>
    /// The layer's entries: each file below <paramref name="workingDirectory"/>, owned by root, executable when the
    /// file on disk is (the app host), otherwise read-only for others.
    /// </summary>
    /// <param name="workingDirectory">The absolute directory the application lives in, such as <c>/app</c>.</param>
    /// <returns>The entries to pass to <see cref="LayerWriter.WriteAsync"/>.</returns>
    public IEnumerable<LayerEntry> ToEntries(string workingDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(workingDirectory);
        var root = workingDirectory.Trim('/');
        foreach (var file in Files)
        {
            var path = root.Length == 0 ? file.RelativePath : root + "/" + file.RelativePath;
            yield return LayerEntry.FileFromDisk(path, file.SourcePath, IsExecutable(file.SourcePath) ? ExecutableMode : RegularMode);
        }
    }

    private const UnixFileMode RegularMode = (UnixFileMode)0x1A4; // 0644
    private const UnixFileMode ExecutableMode = (UnixFileMode)0x1ED; // 0755

    private static bool IsExecutable(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;
}

/// <summary>Splits a publish output into stable layers (see <see cref="PublishLayerKind"/>).</summary>
public static class PublishLayers
{
    /// <summary>
    /// Lists a publish directory and assigns each file its layer: a file <paramref name="origins"/> describes is
    /// classified from its metadata (<see cref="PublishedFileOrigin.Classify"/>); any other file belongs to the app.
    /// </summary>
    /// <param name="publishDirectory">The publish directory.</param>
    /// <param name="origins">What MSBuild knows of the published files, keyed by relative path.</param>
    /// <returns>The files, in ordinal order of their relative paths.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static ImmutableArray<PublishedFile> Collect(string publishDirectory, IEnumerable<PublishedFileOrigin> origins)
    {
        ArgumentException.ThrowIfNullOrEmpty(publishDirectory);
        ArgumentNullException.ThrowIfNull(origins);
        var root = Path.GetFullPath(publishDirectory);
        if (!System.IO.Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"The publish directory '{root}' does not exist.");
        }

        var kinds = new Dictionary<string, PublishLayerKind>(StringComparer.Ordinal);
        foreach (var origin in origins)
        {
            kinds[Normalize(origin.RelativePath)] = origin.Classify();
        }

        var files = new List<PublishedFile>();
        foreach (var path in System.IO.Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var relative = Normalize(Path.GetRelativePath(root, path));
            files.Add(new PublishedFile(path, relative, kinds.GetValueOrDefault(relative, PublishLayerKind.App)));
        }

        files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return [.. files];
    }

    /// <summary>Groups files into layers, lowest first, leaving out empty ones.</summary>
    /// <param name="files">The files.</param>
    /// <returns>The layers in <see cref="PublishLayerKind"/> order, each with its files in ordinal path order.</returns>
    /// <exception cref="ArgumentException">Two files have the same relative path.</exception>
    public static ImmutableArray<PublishLayer> Split(IEnumerable<PublishedFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var groups = new SortedDictionary<PublishLayerKind, List<PublishedFile>>();
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file, nameof(files));
            var normalized = file with { RelativePath = Normalize(file.RelativePath) };
            if (!seen.Add(normalized.RelativePath))
            {
                throw new ArgumentException($"The path '{normalized.RelativePath}' is published twice.", nameof(files));
            }

            if (!groups.TryGetValue(file.Kind, out var list))
            {
                groups[file.Kind] = list = [];
            }

            list.Add(normalized);
        }

        var layers = ImmutableArray.CreateBuilder<PublishLayer>(groups.Count);
        foreach (var (kind, list) in groups)
        {
            list.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
            layers.Add(new PublishLayer(kind, [.. list]));
        }

        return layers.MoveToImmutable();
    }

    private static string Normalize(string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        var normalized = relativePath.Replace('\\', '/').TrimStart('/');
        while (normalized.StartsWith("./", StringComparison.Ordinal))
        {
            normalized = normalized[2..];
        }

        return normalized;
    }
}
