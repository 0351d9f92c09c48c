using System.Globalization;
using OciKit.Dockerfile;
using OciKit.Layers;

namespace OciKit.Build;

/// <summary>The kinds of <c>RUN --mount</c> OciKit carries out.</summary>
internal enum RunMountKind
{
    /// <summary>A directory or file of the context, a stage or an image; read-only unless <c>rw</c>, writes discarded.</summary>
    Bind,

    /// <summary>A directory kept between builds in the store's private folder, keyed by its id; never in a layer.</summary>
    Cache,

    /// <summary>An empty tmpfs.</summary>
    Tmpfs,

    /// <summary>A secret the build was given, as a read-only file or an environment variable; never in a layer, the history or the cache key.</summary>
    Secret,
}

/// <summary>
/// One <c>RUN --mount</c>, its fields expanded and defaulted as BuildKit's Dockerfile frontend does
/// (<c>instructions/commands_runmount.go</c>): bind mounts are read-only by default, a relative target is relative to the
/// working directory, a cache's id defaults to its target, a secret's id to its target's file name and its target to
/// <c>/run/secrets/ID</c>.
/// </summary>
internal sealed record RunMountSpec(RunMountKind Kind, string Target)
{
    /// <summary>The stage, image or context a bind mount reads (null: the build context).</summary>
    public string? From { get; init; }

    /// <summary>The path in the source (bind): relative, <c>""</c> for the whole source.</summary>
    public string Source { get; init; } = "";

    /// <summary>Whether the container sees the mount read-only.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>The cache's or the secret's id.</summary>
    public string Id { get; init; } = "";

    /// <summary>The cache's sharing mode: <c>shared</c>, <c>private</c> or <c>locked</c>.</summary>
    public string Sharing { get; init; } = "shared";

    /// <summary>The mode of a new cache directory or of the secret file.</summary>
    public UnixFileMode Mode { get; init; }

    /// <summary>The owner of a new cache directory or of the secret file.</summary>
    public int Uid { get; init; }

    /// <summary>The group of a new cache directory or of the secret file.</summary>
    public int Gid { get; init; }

    /// <summary>Whether a missing secret fails the build (otherwise the mount is left out).</summary>
    public bool Required { get; init; }

    /// <summary>A tmpfs' size in bytes, or null for the kernel's default.</summary>
    public long? Size { get; init; }

    /// <summary>For a secret: the environment variable it is exposed as instead of (or besides) a file.</summary>
    public string? Env { get; init; }

    /// <summary>What identifies the mount in the build cache key: its kind and settings, never a secret's or a cache's content.</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"mount {Kind} target={Target} from={From} source={Source} ro={ReadOnly} id={Id} sharing={Sharing} mode={(int)Mode} uid={Uid} gid={Gid} required={Required} size={Size} env={Env}");

    /// <summary>Reads one <c>--mount</c>.</summary>
    /// <param name="mount">The mount as parsed.</param>
    /// <param name="expand">Expands a field's variables (build arguments and the stage's environment).</param>
    /// <param name="workingDir">The stage's working directory, which a relative target is relative to.</param>
    /// <param name="error">Makes the exception for a problem (the caller adds the Dockerfile's line).</param>
    public static RunMountSpec Parse(RunMount mount, Func<string, string> expand, string workingDir, Func<string, Exception> error)
    {
        var type = expand(mount.Type);
        var kind = type switch
        {
            "bind" => RunMountKind.Bind,
            "cache" => RunMountKind.Cache,
            "tmpfs" => RunMountKind.Tmpfs,
            "secret" => RunMountKind.Secret,
            "ssh" => throw error("RUN --mount=type=ssh is not supported (no SSH agent is forwarded into builds)"),
            _ => throw error($"unsupported mount type \"{type}\""),
        };

        string? target = null, from = null, source = null, id = null, sharing = null, mode = null, uid = null, gid = null, size = null, env = null;
        bool? readOnly = null;
        var required = false;
        foreach (var (key, raw) in mount.Options)
        {
            var value = raw is null ? null : expand(raw);
            switch (key)
            {
                case "target" or "dst" or "destination":
                    target = value;
                    break;
                case "source" or "src":
                    source = value;
                    break;
                case "from":
                    from = value;
                    break;
                case "readonly" or "ro":
                    readOnly = ParseBool(key, value, error);
                    break;
                case "readwrite" or "rw":
                    readOnly = !ParseBool(key, value, error);
                    break;
                case "id":
                    id = value;
                    break;
                case "sharing":
                    sharing = value;
                    break;
                case "mode":
                    mode = value;
                    break;
                case "uid":
                    uid = value;
                    break;
                case "gid":
                    gid = value;
                    break;
                case "required":
                    required = ParseBool(key, value, error);
                    break;
                case "size":
                    size = value;
                    break;
                case "env":
                    env = value;
                    break;
                default:
                    throw error($"unexpected key '{key}' in a {type} mount");
            }
        }

        if (kind is not (RunMountKind.Bind or RunMountKind.Cache) && (from is not null || source is not null))
        {
            throw error($"a {type} mount takes no 'from' or 'source'");
        }

        if (kind == RunMountKind.Cache && from is not null)
        {
            throw error("RUN --mount=type=cache,from=… is not supported");
        }

        if (size is not null && kind != RunMountKind.Tmpfs)
        {
            throw error("'size' is only for tmpfs mounts");
        }

        if (env is not null && kind != RunMountKind.Secret)
        {
            throw error("'env' is only for secret mounts");
        }

        if (kind == RunMountKind.Secret)
        {
            id ??= target is { Length: > 0 } ? target.TrimEnd('/')[(target.TrimEnd('/').LastIndexOf('/') + 1)..] : null;
            if (string.IsNullOrEmpty(id))
            {
                throw error("a secret mount needs an id or a target");
            }

            if (target is null && env is null)
            {
                target = "/run/secrets/" + id;
            }
        }
        else if (string.IsNullOrEmpty(target))
        {
            throw error($"a {type} mount needs a target");
        }

        if (target is not null && !target.StartsWith('/'))
        {
            target = (workingDir.TrimEnd('/') + "/" + target).TrimEnd('/');
        }

        if (target is not null)
        {
            target = "/" + string.Join('/', target.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));
            if (target.Split('/').Contains(".."))
            {
                throw error($"mount target '{target}' may not contain '..'");
            }

            if (target == "/")
            {
                throw error("a mount cannot replace the root directory");
            }
        }

        if (sharing is not null && sharing is not ("shared" or "private" or "locked"))
        {
            throw error($"unsupported sharing value \"{sharing}\"");
        }

        return new RunMountSpec(kind, target ?? "")
        {
            From = from,
            Source = CleanSource(source, error),
            ReadOnly = kind switch
            {
                RunMountKind.Bind => readOnly ?? true,
                RunMountKind.Secret => true,
                _ => readOnly ?? false,
            },
            Id = kind == RunMountKind.Cache ? (string.IsNullOrEmpty(id) ? target! : id) : id ?? "",
            Sharing = sharing ?? "shared",
            Mode = mode is null ? (kind == RunMountKind.Secret ? (UnixFileMode)0x100 : (UnixFileMode)0x1ED) : ParseMode(mode, error),
            Uid = uid is null ? 0 : ParseId("uid", uid, error),
            Gid = gid is null ? 0 : ParseId("gid", gid, error),
            Required = required,
            Size = size is null ? null : ParseSize(size, error),
            Env = env,
        };
    }

    /// <summary>A mount source cleaned as layer entry names are (one rule: <see cref="LayerPath.CleanRead"/>); never above its root.</summary>
    private static string CleanSource(string? source, Func<string, Exception> error)
    {
        if (string.IsNullOrEmpty(source))
        {
            return "";
        }

        try
        {
            return LayerPath.CleanRead(source);
        }
        catch (LayerPathException ex)
        {
            throw error(ex.Reason.StartsWith("'..'", StringComparison.Ordinal)
                ? $"mount source '{source}' climbs outside its source"
                : $"mount source '{source}': {ex.Reason}");
        }
    }

    private static bool ParseBool(string key, string? value, Func<string, Exception> error) => value switch
    {
        null => true,
        _ when bool.TryParse(value, out var b) => b,
        "1" => true,
        "0" => false,
        _ => throw error($"invalid value for {key}: '{value}'"),
    };

    private static UnixFileMode ParseMode(string value, Func<string, Exception> error)
    {
        try
        {
            var mode = Convert.ToInt32(value, 8);
            return mode is >= 0 and <= 0xFFF ? (UnixFileMode)mode : throw error($"invalid mode '{value}'");
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            throw error($"invalid mode '{value}': an octal number is expected");
        }
    }

    private static int ParseId(string key, string value, Func<string, Exception> error) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : throw error($"invalid {key} '{value}': a number is expected");

    private static long ParseSize(string value, Func<string, Exception> error)
    {
        var units = new (string Suffix, long Factor)[] { ("kb", 1L << 10), ("k", 1L << 10), ("mb", 1L << 20), ("m", 1L << 20), ("gb", 1L << 30), ("g", 1L << 30), ("b", 1) };
        var text = value.Trim().ToLowerInvariant();
        long factor = 1;
        foreach (var (suffix, f) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                text = text[..^suffix.Length];
                factor = f;
                break;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= long.MaxValue / factor
            ? n * factor
            : throw error($"invalid size '{value}'");
    }
}
