using System.Collections.Immutable;
using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// An image configuration (<see href="https://github.com/opencontainers/image-spec/blob/main/config.md">image-spec, Image Configuration</see>),
/// also read from and written as Docker's <c>application/vnd.docker.container.image.v1+json</c>.
/// </summary>
/// <remarks>
/// Records compare collections by reference; compare <see cref="ToJson"/> bytes to compare content.
/// Fields Docker writes that the OCI spec does not define (<c>container_config</c>, <c>docker_version</c>, …) are not kept.
/// </remarks>
/// <param name="Os">The operating system, for example <c>linux</c>.</param>
/// <param name="Architecture">The CPU architecture, for example <c>amd64</c>.</param>
public sealed record ImageConfig(string Os, string Architecture)
{
    /// <summary>The only root filesystem type the spec defines.</summary>
    public const string LayersRootFsType = "layers";

    /// <summary>The CPU variant, for example <c>v8</c>.</summary>
    public string? Variant { get; init; }

    /// <summary>The operating system version (Windows).</summary>
    public string? OsVersion { get; init; }

    /// <summary>Required operating system features (Windows).</summary>
    public ImmutableArray<string>? OsFeatures { get; init; }

    /// <summary>When the image was created.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The person or entity that created the image.</summary>
    public string? Author { get; init; }

    /// <summary>The execution parameters for containers of this image (the <c>config</c> section).</summary>
    public ContainerConfig? Config { get; init; }

    /// <summary>The <c>rootfs.type</c>; always <see cref="LayersRootFsType"/> for valid images.</summary>
    public string RootFsType { get; init; } = LayersRootFsType;

    /// <summary>The DiffIDs (digests of the uncompressed layer tars), base first (<c>rootfs.diff_ids</c>).</summary>
    public ImmutableArray<Digest> DiffIds { get; init; } = [];

    /// <summary>The history of each layer, base first; entries with <see cref="HistoryEntry.EmptyLayer"/> have no layer.</summary>
    public ImmutableArray<HistoryEntry> History { get; init; } = [];

    /// <summary>The platform this configuration describes.</summary>
    public Platform Platform => new(Os, Architecture, Variant, OsVersion, OsFeatures is { Length: > 0 } f ? f : null);

    /// <summary>An empty configuration for a platform, the start of a <c>FROM scratch</c> image.</summary>
    /// <param name="platform">The platform.</param>
    /// <returns>The configuration.</returns>
    public static ImageConfig Empty(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        return new ImageConfig(platform.Os, platform.Architecture)
        {
            Variant = platform.Variant,
            OsVersion = platform.OsVersion,
            OsFeatures = platform.OsFeatures is { Count: > 0 } f ? [.. f] : null,
            Config = new ContainerConfig(),
        };
    }

    /// <summary>Parses a configuration.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="OciFormatException">The JSON is malformed or breaks a rule of the spec.</exception>
    public static ImageConfig Parse(ReadOnlyMemory<byte> utf8) => JsonIn.Read(utf8, "image configuration", Read);

    /// <summary>Tries to parse a configuration.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <param name="config">The configuration, when the bytes are a valid one.</param>
    /// <returns><see langword="true"/> when the bytes are a valid configuration.</returns>
    public static bool TryParse(ReadOnlyMemory<byte> utf8, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ImageConfig? config)
    {
        try
        {
            config = Parse(utf8);
            return true;
        }
        catch (OciFormatException)
        {
            config = null;
            return false;
        }
    }

    /// <summary>Serializes the configuration in canonical form (compact, fixed member order, empty optional members omitted).</summary>
    /// <returns>The UTF-8 JSON bytes.</returns>
    public byte[] ToJson() => JsonOut.Write(w =>
    {
        w.WriteStartObject();
        JsonOut.Timestamp(w, "created", Created);
        JsonOut.OptionalString(w, "author", Author);
        w.WriteString("architecture", Architecture);
        w.WriteString("os", Os);
        JsonOut.OptionalString(w, "os.version", OsVersion);
        if (OsFeatures is { Length: > 0 } features)
        {
            JsonOut.Strings(w, "os.features", features);
        }

        JsonOut.OptionalString(w, "variant", Variant);
        if (Config is not null)
        {
            w.WritePropertyName("config");
            Config.Write(w);
        }

        w.WriteStartObject("rootfs");
        w.WriteString("type", RootFsType);
        w.WriteStartArray("diff_ids");
        foreach (var diffId in DiffIds.IsDefault ? [] : DiffIds)
        {
            w.WriteStringValue(diffId.ToString());
        }

        w.WriteEndArray();
        w.WriteEndObject();
        if (!History.IsDefaultOrEmpty)
        {
            w.WriteStartArray("history");
            foreach (var entry in History)
            {
                entry.Write(w);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    });

    internal static ImageConfig Read(JsonIn json)
    {
        var rootfs = json.RequiredObject("rootfs");
        var type = rootfs.RequiredString("type");
        if (type != LayersRootFsType)
        {
            throw rootfs.Error($"type must be '{LayersRootFsType}', found '{type}'");
        }

        var features = json.OptionalStrings("os.features");
        return new ImageConfig(json.RequiredString("os"), json.RequiredString("architecture"))
        {
            Variant = json.OptionalNonEmptyString("variant"),
            OsVersion = json.OptionalNonEmptyString("os.version"),
            OsFeatures = features is { Length: > 0 } ? features : null,
            Created = json.OptionalTimestamp("created"),
            Author = json.OptionalNonEmptyString("author"),
            Config = json.OptionalObject("config") is { } c ? ContainerConfig.Read(c) : null,
            RootFsType = type,
            DiffIds = rootfs.Required("diff_ids").Array(static d => d.AsDigest()),
            History = json.OptionalArray("history", HistoryEntry.Read),
        };
    }
}

/// <summary>The execution parameters of an image (the <c>config</c> section of an image configuration).</summary>
/// <remarks>Absent and empty values are the same: both read as <see langword="null"/> and neither is written.</remarks>
public sealed record ContainerConfig
{
    /// <summary>The user (and group) the process runs as: <c>user</c>, <c>uid</c>, <c>user:group</c>, <c>uid:gid</c>, ….</summary>
    public string? User { get; init; }

    /// <summary>Ports to expose, as <c>port/tcp</c>, <c>port/udp</c> or <c>port</c> (TCP).</summary>
    public ImmutableSortedSet<string>? ExposedPorts { get; init; }

    /// <summary>Environment variables, each <c>NAME=value</c>.</summary>
    public ImmutableArray<string>? Env { get; init; }

    /// <summary>The entrypoint arguments.</summary>
    public ImmutableArray<string>? Entrypoint { get; init; }

    /// <summary>The default arguments (or command when there is no entrypoint).</summary>
    public ImmutableArray<string>? Cmd { get; init; }

    /// <summary>Docker's health check.</summary>
    public Healthcheck? Healthcheck { get; init; }

    /// <summary>Docker's Windows-only flag that the command line is already escaped.</summary>
    public bool? ArgsEscaped { get; init; }

    /// <summary>Directories the runtime should make volumes of.</summary>
    public ImmutableSortedSet<string>? Volumes { get; init; }

    /// <summary>The working directory of the process.</summary>
    public string? WorkingDir { get; init; }

    /// <summary>Labels (arbitrary metadata; keys such as those in <see cref="AnnotationKeys"/>).</summary>
    public ImmutableSortedDictionary<string, string>? Labels { get; init; }

    /// <summary>Docker's <c>ONBUILD</c> triggers.</summary>
    public ImmutableArray<string>? OnBuild { get; init; }

    /// <summary>The signal that stops the container, for example <c>SIGTERM</c>.</summary>
    public string? StopSignal { get; init; }

    /// <summary>Docker's shell for the shell form of commands.</summary>
    public ImmutableArray<string>? Shell { get; init; }

    /// <summary>The value of an environment variable, or <see langword="null"/> when it is not set.</summary>
    /// <param name="name">The variable name (case-sensitive).</param>
    /// <returns>The value.</returns>
    public string? GetEnv(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (var entry in Env ?? [])
        {
            if (entry.Length > name.Length && entry[name.Length] == '=' && entry.StartsWith(name, StringComparison.Ordinal))
            {
                return entry[(name.Length + 1)..];
            }
        }

        return null;
    }

    /// <summary>A copy with an environment variable set (replacing it in place, or appended).</summary>
    /// <param name="name">The variable name.</param>
    /// <param name="value">The value.</param>
    /// <returns>The new configuration.</returns>
    public ContainerConfig WithEnv(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.Contains('=', StringComparison.Ordinal))
        {
            throw new ArgumentException("An environment variable name cannot contain '='.", nameof(name));
        }

        var env = Env ?? [];
        var entry = name + "=" + value;
        for (var i = 0; i < env.Length; i++)
        {
            if (env[i].StartsWith(name + "=", StringComparison.Ordinal))
            {
                return this with { Env = env.SetItem(i, entry) };
            }
        }

        return this with { Env = env.Add(entry) };
    }

    internal static ContainerConfig Read(JsonIn json)
    {
        var env = NonEmpty(json.OptionalStrings("Env"));
        if (env is { } e)
        {
            var i = 0;
            foreach (var entry in e)
            {
                if (entry.IndexOf('=', StringComparison.Ordinal) <= 0)
                {
                    throw new OciFormatException(json.Subject, $"{json.Path}.Env[{i}]: '{entry}' is not of the form NAME=value");
                }

                i++;
            }
        }

        return new ContainerConfig
        {
            User = json.OptionalNonEmptyString("User"),
            ExposedPorts = json.OptionalStringSet("ExposedPorts"),
            Env = env,
            Entrypoint = NonEmpty(json.OptionalStrings("Entrypoint")),
            Cmd = NonEmpty(json.OptionalStrings("Cmd")),
            Healthcheck = json.OptionalObject("Healthcheck") is { } h ? Healthcheck.Read(h) : null,
            ArgsEscaped = json.OptionalBool("ArgsEscaped") is true ? true : null,
            Volumes = json.OptionalStringSet("Volumes"),
            WorkingDir = json.OptionalNonEmptyString("WorkingDir"),
            Labels = json.OptionalStringMap("Labels"),
            OnBuild = NonEmpty(json.OptionalStrings("OnBuild")),
            StopSignal = json.OptionalNonEmptyString("StopSignal"),
            Shell = NonEmpty(json.OptionalStrings("Shell")),
        };
    }

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        JsonOut.OptionalString(w, "User", User);
        JsonOut.OptionalStringSet(w, "ExposedPorts", ExposedPorts);
        JsonOut.Strings(w, "Env", NonEmpty(Env));
        JsonOut.Strings(w, "Entrypoint", NonEmpty(Entrypoint));
        JsonOut.Strings(w, "Cmd", NonEmpty(Cmd));
        if (Healthcheck is not null)
        {
            w.WritePropertyName("Healthcheck");
            Healthcheck.Write(w);
        }

        if (ArgsEscaped is true)
        {
            w.WriteBoolean("ArgsEscaped", true);
        }

        JsonOut.OptionalStringSet(w, "Volumes", Volumes);
        JsonOut.OptionalString(w, "WorkingDir", WorkingDir);
        JsonOut.OptionalStringMap(w, "Labels", Labels);
        JsonOut.Strings(w, "OnBuild", NonEmpty(OnBuild));
        JsonOut.OptionalString(w, "StopSignal", StopSignal);
        JsonOut.Strings(w, "Shell", NonEmpty(Shell));
        w.WriteEndObject();
    }

    private static ImmutableArray<string>? NonEmpty(ImmutableArray<string>? values) =>
        values is { IsDefaultOrEmpty: false } v ? v : null;
}

/// <summary>Docker's health check of a container (the <c>Healthcheck</c> member of the container configuration).</summary>
/// <remarks>Durations are stored in JSON as nanoseconds; they are kept here at <see cref="TimeSpan"/> precision (100 ns).</remarks>
public sealed record Healthcheck
{
    /// <summary>The test: <c>[]</c> inherits, <c>["NONE"]</c> disables, <c>["CMD", args…]</c> or <c>["CMD-SHELL", command]</c> runs.</summary>
    public ImmutableArray<string>? Test { get; init; }

    /// <summary>Time between checks.</summary>
    public TimeSpan? Interval { get; init; }

    /// <summary>Time a check may take before it counts as failed.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Start-up time during which failures do not count.</summary>
    public TimeSpan? StartPeriod { get; init; }

    /// <summary>Time between checks during the start period.</summary>
    public TimeSpan? StartInterval { get; init; }

    /// <summary>Consecutive failures needed to consider the container unhealthy.</summary>
    public int? Retries { get; init; }

    internal static Healthcheck Read(JsonIn json)
    {
        TimeSpan? Duration(string name) => json.OptionalInt64(name) is { } ns and not 0 ? TimeSpan.FromTicks(ns / TimeSpan.NanosecondsPerTick) : null;
        var retries = json.OptionalInt64("Retries");
        return new Healthcheck
        {
            Test = json.OptionalStrings("Test"),
            Interval = Duration("Interval"),
            Timeout = Duration("Timeout"),
            StartPeriod = Duration("StartPeriod"),
            StartInterval = Duration("StartInterval"),
            Retries = retries is null or 0 ? null
                : retries is >= 0 and <= int.MaxValue ? (int)retries
                : throw json.Error($"Retries must be a non-negative 32-bit integer, found {retries}"),
        };
    }

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        JsonOut.Strings(w, "Test", Test);
        void Duration(string name, TimeSpan? value)
        {
            if (value is { Ticks: not 0 } v)
            {
                w.WriteNumber(name, v.Ticks * TimeSpan.NanosecondsPerTick);
            }
        }

        Duration("Interval", Interval);
        Duration("Timeout", Timeout);
        Duration("StartPeriod", StartPeriod);
        Duration("StartInterval", StartInterval);
        if (Retries is { } r and not 0)
        {
            w.WriteNumber("Retries", r);
        }

        w.WriteEndObject();
    }
}

/// <summary>One entry of an image's history (<c>history[]</c> in the configuration).</summary>
public sealed record HistoryEntry
{
    /// <summary>When the layer was created.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The command that created the layer.</summary>
    public string? CreatedBy { get; init; }

    /// <summary>The author of the build point.</summary>
    public string? Author { get; init; }

    /// <summary>A custom message.</summary>
    public string? Comment { get; init; }

    /// <summary>Whether this entry created no layer (a metadata-only step such as <c>ENV</c>).</summary>
    public bool EmptyLayer { get; init; }

    internal static HistoryEntry Read(JsonIn json)
    {
        json.ExpectObject();
        return new HistoryEntry
        {
            Created = json.OptionalTimestamp("created"),
            CreatedBy = json.OptionalNonEmptyString("created_by"),
            Author = json.OptionalNonEmptyString("author"),
            Comment = json.OptionalNonEmptyString("comment"),
            EmptyLayer = json.OptionalBool("empty_layer") ?? false,
        };
    }

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        JsonOut.Timestamp(w, "created", Created);
        JsonOut.OptionalString(w, "created_by", CreatedBy);
        JsonOut.OptionalString(w, "author", Author);
        JsonOut.OptionalString(w, "comment", Comment);
        if (EmptyLayer)
        {
            w.WriteBoolean("empty_layer", true);
        }

        w.WriteEndObject();
    }
}
