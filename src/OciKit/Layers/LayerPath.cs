using System.Text;

namespace OciKit.Layers;

/// <summary>Normalisation and validation of the relative, <c>/</c>-separated paths a layer holds.</summary>
internal static class LayerPath
{
    /// <summary>The prefix of a whiteout file (<see href="https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts">image-spec, Whiteouts</see>).</summary>
    public const string WhiteoutPrefix = ".wh.";

    /// <summary>The name of the opaque-directory marker.</summary>
    public const string OpaqueMarker = ".wh..wh..opq";

    /// <summary>
    /// Normalises a path: drops <c>.</c> segments, repeated and trailing slashes and a leading <c>./</c>;
    /// refuses absolute paths, any <c>..</c> segment, NUL characters and the root itself.
    /// </summary>
    /// <exception cref="LayerPathException">The path is not a safe relative path.</exception>
    public static string Normalize(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            throw new LayerPathException(path, "the path is empty");
        }

        if (path[0] == '/')
        {
            throw new LayerPathException(path, "absolute paths are not allowed in a layer");
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new LayerPathException(path, "the path contains a NUL character");
        }

        var builder = new StringBuilder(path.Length);
        foreach (var segment in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                throw new LayerPathException(path, "'..' segments are not allowed (the path could escape the layer root)");
            }

            if (builder.Length > 0)
            {
                builder.Append('/');
            }

            builder.Append(segment);
        }

        return builder.Length > 0
            ? builder.ToString()
            : throw new LayerPathException(path, "the path names the layer root itself");
    }

    /// <summary>
    /// Cleans a name read from a layer another tool wrote, as containerd's archive package does before it applies an
    /// entry (Go's <c>filepath.Clean</c>, then joined to the root): a leading <c>/</c> or <c>./</c>, repeated slashes,
    /// <c>.</c> segments and a trailing slash are dropped, and a <c>..</c> segment removes the segment before it. Unlike
    /// containerd, which clamps a <c>..</c> that climbs above the root, such a name is refused: no layer a well-behaved
    /// tool writes has one, and clamping would place the entry somewhere its writer did not mean.
    /// </summary>
    /// <param name="name">The entry name (or hard-link target) as stored in the tar stream.</param>
    /// <returns>The normalised relative path, or the empty string when the name is the root itself (<c>./</c>, <c>/</c>).</returns>
    /// <exception cref="LayerPathException">The name is empty, contains a NUL character or climbs above the root.</exception>
    public static string CleanRead(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new LayerPathException(name, "the path is empty");
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new LayerPathException(name, "the path contains a NUL character");
        }

        // The common case (a plain relative name: no empty, '.' or '..' segment) needs no rebuilding.
        if (IsClean(name))
        {
            return name;
        }

        var segments = new List<string>();
        foreach (var segment in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (segments.Count == 0)
                {
                    throw new LayerPathException(name, "'..' climbs above the layer root");
                }

                segments.RemoveAt(segments.Count - 1);
                continue;
            }

            segments.Add(segment);
        }

        return string.Join('/', segments);
    }

    private static bool IsClean(string name)
    {
        var start = 0;
        while (start <= name.Length)
        {
            var slash = name.IndexOf('/', start);
            var end = slash < 0 ? name.Length : slash;
            var length = end - start;
            if (length == 0 || (length == 1 && name[start] == '.') || (length == 2 && name[start] == '.' && name[start + 1] == '.'))
            {
                return false;
            }

            if (slash < 0)
            {
                return true;
            }

            start = slash + 1;
        }

        return false;
    }

    /// <summary>The parent of a normalised path, or <see langword="null"/> at the top level.</summary>
    public static string? Parent(string normalized)
    {
        var slash = normalized.LastIndexOf('/');
        return slash < 0 ? null : normalized[..slash];
    }

    /// <summary>The last segment of a normalised path.</summary>
    public static string Name(string normalized)
    {
        var slash = normalized.LastIndexOf('/');
        return slash < 0 ? normalized : normalized[(slash + 1)..];
    }

    /// <summary>Joins a normalised parent (or <see langword="null"/>) and a name.</summary>
    public static string Join(string? parent, string name) => parent is null ? name : parent + "/" + name;
}
