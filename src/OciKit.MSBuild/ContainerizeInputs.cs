using System.Text.Json;

namespace OciKit.MSBuild;

// Compiled into the task (OciKit.MSBuild) and into the out-of-process host (OciKit.MSBuild.Host). Nothing in this file
// names a type of OciKit's: on the out-of-process path the MSBuild node copies the task's inputs into these records,
// writes them, starts the host and reads its outcome without loading OciKit.dll, and JIT-compiles (almost) nothing,
// since every method it runs is precompiled (ReadyToRun) and none instantiates a generic type over one of ours.

/// <summary>An MSBuild item as the task received it: its spec and the metadata the mapping reads (absent ones left out).</summary>
/// <param name="ItemSpec">The item's spec (<c>Include</c>).</param>
/// <param name="Metadata">Its metadata by name (case-insensitive, as MSBuild's); only those set.</param>
internal sealed record ContainerizeInputItem(string ItemSpec, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>An item without metadata.</summary>
    /// <param name="itemSpec">The item's spec.</param>
    public ContainerizeInputItem(string itemSpec)
        : this(itemSpec, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase))
    {
    }

    /// <summary>A metadata value, empty when not set (as <c>ITaskItem.GetMetadata</c>).</summary>
    /// <param name="name">The metadata's name.</param>
    /// <returns>Its value.</returns>
    public string Get(string name) => Metadata.TryGetValue(name, out var value) ? value : string.Empty;

    /// <summary>Whether the metadata is set at all (even to an empty value).</summary>
    /// <param name="name">The metadata's name.</param>
    /// <returns>Whether it is.</returns>
    public bool Has(string name) => Metadata.ContainsKey(name);
}

/// <summary>
/// The task's inputs as they came from MSBuild: its properties and items, unparsed. <see cref="ContainerizeJob.FromInputs"/>
/// is the one mapping from them to requests, run where the work runs (in the host, or in process). Names files and
/// environment variables only, never a secret's value.
/// </summary>
internal sealed record ContainerizeInputs
{
    /// <summary><c>PublishDir</c>.</summary>
    public string PublishDirectory { get; init; } = string.Empty;

    /// <summary>One per platform of a multi-platform image (<c>ContainerRuntimeIdentifiers</c>); empty for one image.</summary>
    public string[] RuntimeIdentifiers { get; init; } = [];

    /// <summary>The <c>ResolvedFileToPublish</c> items with the metadata that chooses their layer and platform.</summary>
    public ContainerizeInputItem[] PublishedFiles { get; init; } = [];

    /// <summary><c>AssemblyName</c>.</summary>
    public string AssemblyName { get; init; } = string.Empty;

    /// <summary><c>ContainerBaseImage</c>.</summary>
    public string BaseImage { get; init; } = string.Empty;

    /// <summary><c>ContainerRegistry</c>.</summary>
    public string? Registry { get; init; }

    /// <summary><c>ContainerRepository</c>.</summary>
    public string Repository { get; init; } = string.Empty;

    /// <summary><c>ContainerImageTags</c>.</summary>
    public string[] Tags { get; init; } = [];

    /// <summary><c>ContainerWorkingDirectory</c>.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary><c>ContainerUser</c>.</summary>
    public string? User { get; init; }

    /// <summary><c>ContainerPort</c> items (<c>Type</c> metadata).</summary>
    public ContainerizeInputItem[] Ports { get; init; } = [];

    /// <summary><c>ContainerEnvironmentVariable</c> items (<c>Value</c> metadata).</summary>
    public ContainerizeInputItem[] EnvironmentVariables { get; init; } = [];

    /// <summary><c>ContainerLabel</c> items (<c>Value</c> metadata).</summary>
    public ContainerizeInputItem[] Labels { get; init; } = [];

    /// <summary><c>ContainerAppCommand</c>.</summary>
    public string[] AppCommand { get; init; } = [];

    /// <summary><c>ContainerAppCommandArgs</c>.</summary>
    public string[] AppCommandArgs { get; init; } = [];

    /// <summary><c>ContainerDefaultArgs</c>.</summary>
    public string[] DefaultArgs { get; init; } = [];

    /// <summary><c>ContainerAppCommandInstruction</c>.</summary>
    public string? AppCommandInstruction { get; init; }

    /// <summary><c>ContainerArchiveOutputPath</c>.</summary>
    public string? ArchiveOutputPath { get; init; }

    /// <summary><c>ContainerImageFormat</c>.</summary>
    public string? ImageFormat { get; init; }

    /// <summary><c>RuntimeIdentifier</c>.</summary>
    public string? RuntimeIdentifier { get; init; }

    /// <summary>The creation time (Unix seconds or a date).</summary>
    public string? Created { get; init; }

    /// <summary>The source repository URL.</summary>
    public string? SourceUrl { get; init; }

    /// <summary>The source revision.</summary>
    public string? Revision { get; init; }

    /// <summary>The local store's directory.</summary>
    public string? StorePath { get; init; }

    /// <summary><c>OciKitKeepInStore</c>.</summary>
    public bool KeepInStore { get; init; }

    /// <summary><c>ContainerSigningKey</c>: the key's file.</summary>
    public string? SigningKey { get; init; }

    /// <summary><c>ContainerSigningKeyPassphraseEnvironmentVariable</c>: a variable's name, never the passphrase.</summary>
    public string? SigningKeyPassphraseEnvironmentVariable { get; init; }

    /// <summary><c>ContainerGenerateSbom</c>.</summary>
    public bool GenerateSbom { get; init; }

    /// <summary><c>ContainerTrustPolicy</c>: the policy's file.</summary>
    public string? TrustPolicy { get; init; }

    /// <summary><c>ContainerCacheRepository</c>.</summary>
    public string? CacheRepository { get; init; }

    /// <summary>The registry client's user agent.</summary>
    public string UserAgent { get; init; } = string.Empty;
}

/// <summary>What the work produced, as the task outputs and logs it (plain text: the task may not load OciKit.dll).</summary>
internal sealed record ContainerizeJobResult
{
    /// <summary>The image's (or index's) manifest digest.</summary>
    public required string Digest { get; init; }

    /// <summary>Its media type.</summary>
    public required string ManifestMediaType { get; init; }

    /// <summary>Every reference the image got.</summary>
    public required string[] References { get; init; }

    /// <summary>The archive written, if any.</summary>
    public string? ArchivePath { get; init; }

    /// <summary>Where the image went, for the summary line (<c>registry host</c> or <c>local store path</c>).</summary>
    public required string Destination { get; init; }

    /// <summary>How many platform images.</summary>
    public int Platforms { get; init; }

    /// <summary>How many layers were added on top of the bases, over all platforms.</summary>
    public int AppLayers { get; init; }

    /// <summary>Blobs sent to the registry.</summary>
    public int BlobsUploaded { get; init; }

    /// <summary>The signature made, if any.</summary>
    public ContainerizeSignatureResult? Signature { get; init; }

    /// <summary>The SBOMs attached.</summary>
    public ContainerizeSbomResult[] Sboms { get; init; } = [];

    /// <summary>The line the task logs at high importance when done.</summary>
    public string Summary => $"OciKit: {References[0]}@{Digest} → {Destination} ({Platforms} platform(s), {AppLayers} app layer(s), {BlobsUploaded} blob(s) uploaded)";
}

/// <summary>A signature made: its manifest's digest, the reference it was pushed to, the key's fingerprint.</summary>
/// <param name="Manifest">The signature manifest's digest.</param>
/// <param name="Reference">Where it was pushed.</param>
/// <param name="KeyFingerprint">The public key's fingerprint.</param>
internal sealed record ContainerizeSignatureResult(string Manifest, string Reference, string KeyFingerprint);

/// <summary>An SBOM attached: the artifact's digest, its subject, how many packages it lists.</summary>
/// <param name="Artifact">The SBOM artifact's manifest digest.</param>
/// <param name="Subject">The image it describes.</param>
/// <param name="Packages">How many packages.</param>
internal sealed record ContainerizeSbomResult(string Artifact, string Subject, int Packages);

/// <summary>
/// What the work left for the task: the result, or the coded error (<see cref="ErrorCodes"/>) the task logs (a null
/// code: a bug, its whole text in the message).
/// </summary>
/// <param name="Result">The result, when the work succeeded.</param>
/// <param name="ErrorCode">The error's code.</param>
/// <param name="ErrorMessage">The error's message.</param>
internal sealed record ContainerizeJobOutcome(ContainerizeJobResult? Result, string? ErrorCode = null, string? ErrorMessage = null);

/// <summary>How the task and the out-of-process host talk: <c>HOST INPUTS OUTCOME</c>, lines on standard output, standard input closed to stop.</summary>
internal static class ContainerizeHostProtocol
{
    /// <summary>The host's file name in <c>tasks/net10.0/RID/</c>.</summary>
    public const string ExecutableName = "ocikit-msbuild-host";

    /// <summary>A line the host writes at normal importance starts with this; <see cref="DetailPrefix"/> at low importance.</summary>
    public const string ProgressPrefix = "progress: ";

    /// <summary>See <see cref="ProgressPrefix"/>.</summary>
    public const string DetailPrefix = "detail: ";

    /// <summary>
    /// <c>ocikit-msbuild-host --wait NAME=VALUE...</c>: the host started early (OciKitStartHost), which readies what it can
    /// for the settings named (<c>userAgent</c>, <c>store</c>, <c>registry</c>, <c>repository</c>, <c>tags</c>,
    /// <c>cache</c>, <c>base</c>) and then reads its job's two paths from standard input, a line each (the inputs', then
    /// the outcome's); standard input closing before them ends it with nothing done. Before them may come
    /// <see cref="PrepareUploadsLine"/>.
    /// </summary>
    public const string WaitFlag = "--wait";

    /// <summary>
    /// A line on a waiting host's standard input (<see cref="WaitFlag"/>): a job is sure to follow (the project was just
    /// compiled anew), so the host opens the upload sessions its push will take (ContainerizePrefetch.PrepareUploads).
    /// Not a path: the job's paths are absolute.
    /// </summary>
    public const string PrepareUploadsLine = "prepare-uploads";
}

/// <summary>
/// The inputs file and the outcome file of the out-of-process host: JSON written with <see cref="Utf8JsonWriter"/> and
/// read with <see cref="JsonDocument"/> by hand. Written by hand because the serializer's generic metadata over these
/// records is what the MSBuild node would JIT-compile on every cold build (measured: ~40 ms, ~600 methods).
/// </summary>
internal static class ContainerizeWire
{
    /// <summary>
    /// Writes the inputs into a new file readable by its owner only, synchronously, as the task's entry point is: a new
    /// file in a private directory that the host reads once it has been closed, so it needs no rename.
    /// </summary>
    /// <param name="path">The file, which must not exist.</param>
    /// <param name="inputs">The inputs.</param>
    public static void WriteInputs(string path, ContainerizeInputs inputs)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var file = new FileStream(path, options);
        using var json = new Utf8JsonWriter(file);
        json.WriteStartObject();
        json.WriteString("publishDirectory", inputs.PublishDirectory);
        WriteStrings(json, "runtimeIdentifiers", inputs.RuntimeIdentifiers);
        WriteItems(json, "publishedFiles", inputs.PublishedFiles);
        json.WriteString("assemblyName", inputs.AssemblyName);
        json.WriteString("baseImage", inputs.BaseImage);
        json.WriteString("registry", inputs.Registry);
        json.WriteString("repository", inputs.Repository);
        WriteStrings(json, "tags", inputs.Tags);
        json.WriteString("workingDirectory", inputs.WorkingDirectory);
        json.WriteString("user", inputs.User);
        WriteItems(json, "ports", inputs.Ports);
        WriteItems(json, "environmentVariables", inputs.EnvironmentVariables);
        WriteItems(json, "labels", inputs.Labels);
        WriteStrings(json, "appCommand", inputs.AppCommand);
        WriteStrings(json, "appCommandArgs", inputs.AppCommandArgs);
        WriteStrings(json, "defaultArgs", inputs.DefaultArgs);
        json.WriteString("appCommandInstruction", inputs.AppCommandInstruction);
        json.WriteString("archiveOutputPath", inputs.ArchiveOutputPath);
        json.WriteString("imageFormat", inputs.ImageFormat);
        json.WriteString("runtimeIdentifier", inputs.RuntimeIdentifier);
        json.WriteString("created", inputs.Created);
        json.WriteString("sourceUrl", inputs.SourceUrl);
        json.WriteString("revision", inputs.Revision);
        json.WriteString("storePath", inputs.StorePath);
        json.WriteBoolean("keepInStore", inputs.KeepInStore);
        json.WriteString("signingKey", inputs.SigningKey);
        json.WriteString("signingKeyPassphraseEnvironmentVariable", inputs.SigningKeyPassphraseEnvironmentVariable);
        json.WriteBoolean("generateSbom", inputs.GenerateSbom);
        json.WriteString("trustPolicy", inputs.TrustPolicy);
        json.WriteString("cacheRepository", inputs.CacheRepository);
        json.WriteString("userAgent", inputs.UserAgent);
        json.WriteEndObject();
    }

    /// <summary>Reads the inputs <see cref="WriteInputs"/> wrote.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The inputs.</returns>
    /// <exception cref="FormatException">The file holds no inputs.</exception>
    public static ContainerizeInputs ReadInputs(string path)
    {
        using var document = Parse(File.ReadAllBytes(path), path);
        var root = document.RootElement;
        return new ContainerizeInputs
        {
            PublishDirectory = String(root, "publishDirectory") ?? string.Empty,
            RuntimeIdentifiers = Strings(root, "runtimeIdentifiers"),
            PublishedFiles = Items(root, "publishedFiles"),
            AssemblyName = String(root, "assemblyName") ?? string.Empty,
            BaseImage = String(root, "baseImage") ?? string.Empty,
            Registry = String(root, "registry"),
            Repository = String(root, "repository") ?? string.Empty,
            Tags = Strings(root, "tags"),
            WorkingDirectory = String(root, "workingDirectory"),
            User = String(root, "user"),
            Ports = Items(root, "ports"),
            EnvironmentVariables = Items(root, "environmentVariables"),
            Labels = Items(root, "labels"),
            AppCommand = Strings(root, "appCommand"),
            AppCommandArgs = Strings(root, "appCommandArgs"),
            DefaultArgs = Strings(root, "defaultArgs"),
            AppCommandInstruction = String(root, "appCommandInstruction"),
            ArchiveOutputPath = String(root, "archiveOutputPath"),
            ImageFormat = String(root, "imageFormat"),
            RuntimeIdentifier = String(root, "runtimeIdentifier"),
            Created = String(root, "created"),
            SourceUrl = String(root, "sourceUrl"),
            Revision = String(root, "revision"),
            StorePath = String(root, "storePath"),
            KeepInStore = Boolean(root, "keepInStore"),
            SigningKey = String(root, "signingKey"),
            SigningKeyPassphraseEnvironmentVariable = String(root, "signingKeyPassphraseEnvironmentVariable"),
            GenerateSbom = Boolean(root, "generateSbom"),
            TrustPolicy = String(root, "trustPolicy"),
            CacheRepository = String(root, "cacheRepository"),
            UserAgent = String(root, "userAgent") ?? string.Empty,
        };
    }

    /// <summary>Writes an outcome (the host writes it into a temporary file it then renames).</summary>
    /// <param name="stream">Where to; left open.</param>
    /// <param name="outcome">The outcome.</param>
    public static void WriteOutcome(Stream stream, ContainerizeJobOutcome outcome)
    {
        using var json = new Utf8JsonWriter(stream);
        json.WriteStartObject();
        if (outcome.Result is { } result)
        {
            json.WriteStartObject("result");
            json.WriteString("digest", result.Digest);
            json.WriteString("manifestMediaType", result.ManifestMediaType);
            WriteStrings(json, "references", result.References);
            json.WriteString("archivePath", result.ArchivePath);
            json.WriteString("destination", result.Destination);
            json.WriteNumber("platforms", result.Platforms);
            json.WriteNumber("appLayers", result.AppLayers);
            json.WriteNumber("blobsUploaded", result.BlobsUploaded);
            if (result.Signature is { } signature)
            {
                json.WriteStartObject("signature");
                json.WriteString("manifest", signature.Manifest);
                json.WriteString("reference", signature.Reference);
                json.WriteString("keyFingerprint", signature.KeyFingerprint);
                json.WriteEndObject();
            }

            json.WriteStartArray("sboms");
            foreach (var sbom in result.Sboms)
            {
                json.WriteStartObject();
                json.WriteString("artifact", sbom.Artifact);
                json.WriteString("subject", sbom.Subject);
                json.WriteNumber("packages", sbom.Packages);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteString("errorCode", outcome.ErrorCode);
        json.WriteString("errorMessage", outcome.ErrorMessage);
        json.WriteEndObject();
    }

    /// <summary>Reads an outcome <see cref="WriteOutcome"/> wrote.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="FormatException">The file holds no outcome.</exception>
    public static ContainerizeJobOutcome ReadOutcome(string path)
    {
        using var document = Parse(File.ReadAllBytes(path), path);
        var root = document.RootElement;
        ContainerizeJobResult? result = null;
        if (root.TryGetProperty("result", out var r) && r.ValueKind == JsonValueKind.Object)
        {
            ContainerizeSignatureResult? signature = null;
            if (r.TryGetProperty("signature", out var s) && s.ValueKind == JsonValueKind.Object)
            {
                signature = new(Required(s, "manifest"), Required(s, "reference"), Required(s, "keyFingerprint"));
            }

            var sboms = new List<ContainerizeSbomResult>();
            if (ArrayOf(r, "sboms") is { } list)
            {
                foreach (var sbom in list.EnumerateArray())
                {
                    sboms.Add(new(Required(sbom, "artifact"), Required(sbom, "subject"), Number(sbom, "packages")));
                }
            }

            result = new ContainerizeJobResult
            {
                Digest = Required(r, "digest"),
                ManifestMediaType = Required(r, "manifestMediaType"),
                References = Strings(r, "references"),
                ArchivePath = String(r, "archivePath"),
                Destination = Required(r, "destination"),
                Platforms = Number(r, "platforms"),
                AppLayers = Number(r, "appLayers"),
                BlobsUploaded = Number(r, "blobsUploaded"),
                Signature = signature,
                Sboms = [.. sboms],
            };
        }

        return new ContainerizeJobOutcome(result, String(root, "errorCode"), String(root, "errorMessage"));
    }

    private static JsonDocument Parse(byte[] bytes, string path)
    {
        try
        {
            var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new FormatException($"'{path}' holds no JSON object.");
            }

            return document;
        }
        catch (JsonException e)
        {
            throw new FormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, string[] values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static void WriteItems(Utf8JsonWriter json, string name, ContainerizeInputItem[] items)
    {
        json.WriteStartArray(name);
        foreach (var item in items)
        {
            json.WriteStartObject();
            json.WriteString("itemSpec", item.ItemSpec);
            json.WriteStartObject("metadata");
            foreach (var (key, value) in item.Metadata)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static string? String(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null => null,
            _ => throw new FormatException($"'{name}' is not a string."),
        } : null;

    private static string Required(JsonElement element, string name)
        => String(element, name) ?? throw new FormatException($"'{name}' is missing.");

    private static bool Boolean(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"'{name}' is not a Boolean."),
        };

    private static int Number(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number
            : throw new FormatException($"'{name}' is not a number.");

    /// <summary>The array a property holds; none (an empty array) when it is absent or null.</summary>
    private static JsonElement? ArrayOf(JsonElement element, string name)
        => !element.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null ? null
            : array.ValueKind == JsonValueKind.Array ? array
            : throw new FormatException($"'{name}' is not an array.");

    private static string[] Strings(JsonElement element, string name)
    {
        if (ArrayOf(element, name) is not { } array)
        {
            return [];
        }

        var values = new string[array.GetArrayLength()];
        var i = 0;
        foreach (var value in array.EnumerateArray())
        {
            values[i++] = value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new FormatException($"'{name}' holds something other than strings.");
        }

        return values;
    }

    private static ContainerizeInputItem[] Items(JsonElement element, string name)
    {
        if (ArrayOf(element, name) is not { } array)
        {
            return [];
        }

        var items = new ContainerizeInputItem[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (item.TryGetProperty("metadata", out var properties) && properties.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in properties.EnumerateObject())
                {
                    metadata[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()!
                        : throw new FormatException($"'{name}' holds an item whose metadata '{property.Name}' is not a string.");
                }
            }

            items[i++] = new ContainerizeInputItem(Required(item, "itemSpec"), metadata);
        }

        return items;
    }
}
