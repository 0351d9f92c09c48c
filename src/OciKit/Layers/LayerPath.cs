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
