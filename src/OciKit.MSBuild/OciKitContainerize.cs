using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Build.Framework;
using OciKit.Publish;
using OciKit.References;
using MSBuildTask = Microsoft.Build.Utilities.Task;

namespace OciKit.MSBuild;

/// <summary>
/// The task behind the <c>OciPublish</c> target: maps the project's publish output and its <c>Container*</c>
/// properties and items to a <see cref="ContainerizeRequest"/>, runs <see cref="Containerizer"/>, and reports library
/// exceptions as coded errors (<see cref="ErrorCodes"/>). It holds no image or protocol logic of its own.
/// </summary>
public sealed class OciKitContainerize : MSBuildTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>The publish directory (<c>PublishDir</c>).</summary>
    [Required]
    public string PublishDirectory { get; set; } = string.Empty;

    /// <summary>
    /// For a multi-platform image (<c>ContainerRuntimeIdentifiers</c>): one item per runtime identifier; its files are
    /// the <see cref="PublishedFiles"/> whose <c>OciKitRuntimeIdentifier</c> metadata names it, published to their
    /// <c>OciKitPublishDirectory</c>. Empty for a single image of <see cref="PublishDirectory"/>.
    /// </summary>
    public ITaskItem[] RuntimeIdentifiers { get; set; } = [];

    /// <summary>The <c>ResolvedFileToPublish</c> items; their metadata chooses each file's layer.</summary>
    public ITaskItem[] PublishedFiles { get; set; } = [];

    /// <summary>The app's assembly name (<c>AssemblyName</c>), for the default app command.</summary>
    [Required]
    public string AssemblyName { get; set; } = string.Empty;

    /// <summary><c>ContainerBaseImage</c>.</summary>
    [Required]
    public string BaseImage { get; set; } = string.Empty;

    /// <summary><c>ContainerRegistry</c>; empty keeps the image in the local store.</summary>
    public string? Registry { get; set; }

    /// <summary><c>ContainerRepository</c>.</summary>
    [Required]
    public string Repository { get; set; } = string.Empty;

    /// <summary><c>ContainerImageTags</c> (or <c>ContainerImageTag</c>).</summary>
    public string[] Tags { get; set; } = [];

    /// <summary><c>ContainerWorkingDirectory</c>.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary><c>ContainerUser</c>.</summary>
    public string? User { get; set; }

    /// <summary><c>ContainerPort</c> items (<c>8080</c> with optional <c>Type</c> metadata <c>tcp</c>/<c>udp</c>, or <c>53/udp</c>).</summary>
    public ITaskItem[] Ports { get; set; } = [];

    /// <summary><c>ContainerEnvironmentVariable</c> items (name with <c>Value</c> metadata, or <c>NAME=VALUE</c>).</summary>
    public ITaskItem[] EnvironmentVariables { get; set; } = [];

    /// <summary><c>ContainerLabel</c> items (key with <c>Value</c> metadata, or <c>KEY=VALUE</c>).</summary>
    public ITaskItem[] Labels { get; set; } = [];

    /// <summary><c>ContainerAppCommand</c> items; empty gives the app host or <c>dotnet app.dll</c>.</summary>
    public string[] AppCommand { get; set; } = [];

    /// <summary><c>ContainerAppCommandArgs</c> items.</summary>
    public string[] AppCommandArgs { get; set; } = [];

    /// <summary><c>ContainerDefaultArgs</c> items.</summary>
    public string[] DefaultArgs { get; set; } = [];

    /// <summary><c>ContainerAppCommandInstruction</c>: <c>Entrypoint</c>, <c>Cmd</c>, <c>DefaultArgs</c> or empty.</summary>
    public string? AppCommandInstruction { get; set; }

    /// <summary><c>ContainerArchiveOutputPath</c>.</summary>
    public string? ArchiveOutputPath { get; set; }

    /// <summary><c>ContainerImageFormat</c>: <c>Docker</c>, <c>OCI</c> or empty (the base's).</summary>
    public string? ImageFormat { get; set; }

    /// <summary>The runtime identifier published for (<c>RuntimeIdentifier</c>); empty means this machine's platform.</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>The creation time as Unix seconds (<c>SOURCE_DATE_EPOCH</c> or the last commit's time); empty gives the library's default.</summary>
    public string? Created { get; set; }

    /// <summary>The source repository URL for <c>org.opencontainers.image.source</c>.</summary>
    public string? SourceUrl { get; set; }

    /// <summary>The source revision for <c>org.opencontainers.image.revision</c>.</summary>
    public string? Revision { get; set; }

    /// <summary>The local store's directory; empty uses <see cref="Layout.OciLayout.DefaultPath"/>.</summary>
    public string? StorePath { get; set; }

    /// <summary>
    /// <c>OciKitKeepInStore</c>: keep a pushed image in the local store too (<see cref="ContainerizeRequest.KeepInStore"/>);
    /// without it an image only pushed is not stored and its base's layers are not pulled.
    /// </summary>
    public bool KeepInStore { get; set; }

    /// <summary>
    /// <c>ContainerSigningKey</c>: a private key file (PKCS#8 PEM, as <c>ocikit key generate</c> writes it; ECDSA P-256 or
    /// Ed25519) to sign the pushed image with; empty: no signature.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>
    /// <c>ContainerSigningKeyPassphraseEnvironmentVariable</c>: the name of the environment variable holding the key's
    /// passphrase (never the passphrase itself: properties are logged). Empty: <see cref="DefaultPassphraseVariable"/>,
    /// read when set; a named variable must be set.
    /// </summary>
    public string? SigningKeyPassphraseEnvironmentVariable { get; set; }

    /// <summary><c>ContainerGenerateSbom</c>: generate and attach each platform image's SPDX SBOM.</summary>
    public bool GenerateSbom { get; set; }

    /// <summary><c>ContainerTrustPolicy</c>: a containers-policy.json file the base image must satisfy before it is pulled; empty: none.</summary>
    public string? TrustPolicy { get; set; }

    /// <summary>
    /// <c>ContainerCacheRepository</c>: the registry repository of the shared build cache,
    /// <c>[REGISTRY/]REPOSITORY[:TAG]</c> (without a registry: <see cref="Registry"/>'s; tag default
    /// <see cref="Transfer.RegistryCache.DefaultTag"/>); empty (the default): none. See <see cref="ContainerizeRequest.CacheRepository"/>.
    /// </summary>
    public string? CacheRepository { get; set; }

    /// <summary>
    /// <c>ContainerCacheRepository</c> as a reference: a value whose first part names no registry
    /// (<see cref="References.ImageReference.NamesRegistry"/>) is a repository of the target registry.
    /// </summary>
    internal static References.ImageReference? ResolveCacheRepository(string? value, string? registry)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        return Transfer.RegistryCache.ParseRepository(References.ImageReference.NamesRegistry(value) || string.IsNullOrWhiteSpace(registry) ? value : registry.Trim() + "/" + value);
    }

    /// <summary>The environment variable read for the signing key's passphrase when no other is named.</summary>
    public const string DefaultPassphraseVariable = ContainerizeJob.DefaultPassphraseVariable;

    /// <summary>The signature manifest made (item: its digest; metadata <c>Reference</c>, <c>Subject</c>, <c>KeyFingerprint</c>); empty without a key.</summary>
    [Output]
    public ITaskItem[] GeneratedSignatures { get; private set; } = [];

    /// <summary>The SBOM artifacts attached (item: the artifact's digest; metadata <c>Subject</c>, <c>Packages</c>); empty without <see cref="GenerateSbom"/>.</summary>
    [Output]
    public ITaskItem[] GeneratedSboms { get; private set; } = [];

    /// <summary>The image's manifest digest.</summary>
    [Output]
    public string ImageDigest { get; private set; } = string.Empty;

    /// <summary>Every reference the image got, each with <c>Digest</c> metadata.</summary>
    [Output]
    public ITaskItem[] GeneratedImages { get; private set; } = [];

    /// <summary>The archive written, if any.</summary>
    [Output]
    public string? GeneratedArchivePath { get; private set; }

    /// <summary>
    /// <c>OciKitOutOfProcess</c>: run the work in the NativeAOT-compiled host shipped beside the task for this machine's
    /// runtime identifier (<c>tasks/net10.0/RID/ocikit-msbuild-host</c>), which starts precompiled instead of JIT-compiling
    /// OciKit in the MSBuild node; where there is none the task runs in process. <see langword="false"/>: always in process.
    /// </summary>
    public bool OutOfProcess { get; set; } = true;

    /// <summary>The host executable, when not the one beside the task assembly (tests).</summary>
    internal string? HostPath { get; set; }

    /// <summary>Called with the host's process id once it started (tests).</summary>
    internal Action<int>? HostStarted { get; set; }

    /// <inheritdoc />
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc />
    public override bool Execute()
    {
        try
        {
            // The task's own side of the work, at detailed verbosity (-v:d); the job's lines follow from where it runs.
            var timing = new StepTiming(message => Log.LogMessage(MessageImportance.Low, message), "OciKit timing (task)");
            var job = CreateJob();
            timing.Mark("job mapped");
            var host = OutOfProcess ? FindHost() : null;
            var outcome = host is null ? null : new ContainerizeHostProcess(host, Log, HostStarted, timing).Run(job, _cancel.Token);
            ContainerizeJobResult result;
            if (outcome is null)
            {
                // MSBuild's entry point is synchronous: the one place where blocking on async is acceptable.
                result = job.RunAsync(
                    message => Log.LogMessage(MessageImportance.Normal, message),
                    message => Log.LogMessage(MessageImportance.Low, message),
                    _cancel.Token).GetAwaiter().GetResult();
            }
            else
            {
                if (outcome.Result is null)
                {
                    if (outcome.ErrorCode is null)
                    {
                        Log.LogError($"OciKitContainerize failed unexpectedly in {host}: {outcome.ErrorMessage}");
                    }
                    else
                    {
                        Log.LogError(null, outcome.ErrorCode, null, null, 0, 0, 0, 0, outcome.ErrorMessage);
                    }

                    return false;
                }

                result = outcome.Result;
            }

            SetOutputs(result);
            timing.Mark("outputs set");
            Log.LogMessage(MessageImportance.High, result.Summary);
            return !Log.HasLoggedErrors;
        }
        catch (Exception e) when (ErrorCodes.For(e) is { } code)
        {
            Log.LogError(null, code, null, null, 0, 0, 0, 0, ErrorCodes.Describe(code, e));
            return false;
        }
    }

    /// <summary>The task's inputs as a job: its one mapping from MSBuild properties and items to requests.</summary>
    internal ContainerizeJob CreateJob() => new()
    {
        Requests = [.. CreateRequests().Select(r => r with { KeepInStore = KeepInStore, CacheRepository = ResolveCacheRepository(CacheRepository, Registry) })],
        StorePath = NullIfEmpty(StorePath),
        SigningKey = NullIfEmpty(SigningKey),
        PassphraseVariable = NullIfEmpty(SigningKeyPassphraseEnvironmentVariable),
        TrustPolicy = NullIfEmpty(TrustPolicy),
        GenerateSbom = GenerateSbom,
        UserAgent = "OciKit.MSBuild/" + (typeof(OciKitContainerize).Assembly.GetName().Version?.ToString(3) ?? "0"),
    };

    /// <summary>
    /// The host for this machine's runtime identifier beside the task assembly, or null (then the task runs in process):
    /// the package carries one only for the runtime identifier it was packed on (linux-x64 for releases), and a glibc
    /// build does not run on musl (<c>linux-musl-x64</c> finds none).
    /// </summary>
    private string? FindHost()
    {
        var path = HostPath ?? Path.Combine(
            Path.GetDirectoryName(typeof(OciKitContainerize).Assembly.Location) ?? string.Empty,
            System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier,
            ContainerizeHostProtocol.ExecutableName);
        if (!File.Exists(path))
        {
            Log.LogMessage(MessageImportance.Low, $"OciKit: no out-of-process host at {path}: running in process.");
            return null;
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) == 0)
        {
            // NuGet's extraction drops the executable bit.
            try
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.LogMessage(MessageImportance.Low, $"OciKit: the out-of-process host {path} is not executable ({e.Message}): running in process.");
                return null;
            }
        }

        return path;
    }

    private void SetOutputs(ContainerizeJobResult result)
    {
        ImageDigest = result.Digest.ToString();
        GeneratedArchivePath = result.ArchivePath;
        GeneratedImages = [.. result.References.Select(reference =>
        {
            var item = new Microsoft.Build.Utilities.TaskItem(reference);
            item.SetMetadata("Digest", ImageDigest);
            item.SetMetadata("ManifestMediaType", result.ManifestMediaType);
            return (ITaskItem)item;
        })];
        if (result.Signature is { } signature)
        {
            var item = new Microsoft.Build.Utilities.TaskItem(signature.Manifest.ToString());
            item.SetMetadata("Reference", signature.Reference);
            item.SetMetadata("Subject", ImageDigest);
            item.SetMetadata("KeyFingerprint", signature.KeyFingerprint.ToString());
            GeneratedSignatures = [item];
        }

        GeneratedSboms = [.. result.Sboms.Select(sbom =>
        {
            var item = new Microsoft.Build.Utilities.TaskItem(sbom.Artifact.ToString());
            item.SetMetadata("Subject", sbom.Subject.ToString());
            item.SetMetadata("Packages", sbom.Packages.ToString(CultureInfo.InvariantCulture));
            return (ITaskItem)item;
        })];
    }

    internal IReadOnlyList<ContainerizeRequest> CreateRequests()
    {
        if (RuntimeIdentifiers.Length == 0)
        {
            return [CreateRequest(PublishDirectory, PublishedFiles, RuntimeIdentifier)];
        }

        var requests = new List<ContainerizeRequest>(RuntimeIdentifiers.Length);
        foreach (var rid in RuntimeIdentifiers.Select(r => r.ItemSpec).Distinct(StringComparer.Ordinal))
        {
            var files = PublishedFiles.Where(f => f.GetMetadata("OciKitRuntimeIdentifier") == rid).ToArray();
            var directory = files.Select(f => f.GetMetadata("OciKitPublishDirectory")).FirstOrDefault(d => d.Length > 0)
                ?? throw new ArgumentException($"Nothing was published for the runtime identifier '{rid}'.");
            requests.Add(CreateRequest(directory, files, rid));
        }

        return requests;
    }

    private ContainerizeRequest CreateRequest(string publishDirectory, ITaskItem[] publishedFiles, string? runtimeIdentifier)
    {
        var workingDirectory = string.IsNullOrWhiteSpace(WorkingDirectory) ? "/app" : WorkingDirectory;
        if (!workingDirectory.StartsWith('/'))
        {
            throw new ArgumentException($"ContainerWorkingDirectory '{workingDirectory}' must be an absolute path.");
        }

        var origins = publishedFiles
            .Where(item => !string.IsNullOrEmpty(item.GetMetadata("RelativePath")))
            .Select(item => new PublishedFileOrigin(
                item.GetMetadata("RelativePath"),
                NullIfEmpty(item.GetMetadata("NuGetPackageId")),
                NullIfEmpty(item.GetMetadata("ReferenceSourceTarget")),
                NullIfEmpty(item.GetMetadata("MSBuildSourceProjectFile"))));
        var files = PublishLayers.Collect(publishDirectory, origins);
        var appHost = Path.Combine(publishDirectory, AssemblyName);
        var command = AppCommand.Length > 0
            ? [.. AppCommand]
            : ContainerEntrypoint.DefaultAppCommand(workingDirectory, AssemblyName, File.Exists(appHost));

        return new ContainerizeRequest
        {
            Files = files,
            BaseImage = ImageReference.Parse(BaseImage),
            Repository = Repository.ToLowerInvariant(),
            Tags = Tags.Length > 0 ? [.. Tags.Where(t => t.Length > 0)] : ["latest"],
            Registry = NullIfEmpty(Registry),
            Platform = string.IsNullOrEmpty(runtimeIdentifier) ? null : Publish.RuntimeIdentifiers.ToPlatform(runtimeIdentifier),
            WorkingDirectory = workingDirectory,
            User = NullIfEmpty(User),
            Entrypoint = new ContainerEntrypoint(command, [.. AppCommandArgs], [.. DefaultArgs], ParseEnum<ContainerAppCommandInstruction>(AppCommandInstruction, "ContainerAppCommandInstruction")),
            Environment = Pairs(EnvironmentVariables, "ContainerEnvironmentVariable"),
            Labels = Pairs(Labels, "ContainerLabel"),
            Ports = [.. Ports.Select(PortOf)],
            Format = ParseEnum<ContainerImageFormat>(ImageFormat, "ContainerImageFormat"),
            Created = ParseCreated(Created),
            SourceUrl = NullIfEmpty(SourceUrl),
            Revision = NullIfEmpty(Revision),
            ArchiveOutputPath = NullIfEmpty(ArchiveOutputPath),
        };
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string PortOf(ITaskItem item)
    {
        var type = item.GetMetadata("Type");
        return string.IsNullOrEmpty(type) || item.ItemSpec.Contains('/', StringComparison.Ordinal)
            ? item.ItemSpec
            : item.ItemSpec + "/" + type.ToLowerInvariant();
    }

    /// <summary>Items as <c>Include</c> + <c>Value</c> metadata, or a plain <c>NAME=VALUE</c> from a semicolon-separated property.</summary>
    private static ImmutableArray<KeyValuePair<string, string>> Pairs(ITaskItem[] items, string what)
    {
        var builder = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>(items.Length);
        foreach (var item in items)
        {
            var hasValue = item.MetadataNames.Cast<string>().Contains("Value", StringComparer.OrdinalIgnoreCase);
            var eq = item.ItemSpec.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = hasValue ? (item.ItemSpec, item.GetMetadata("Value"))
                : eq > 0 ? (item.ItemSpec[..eq], item.ItemSpec[(eq + 1)..])
                : throw new ArgumentException($"{what} '{item.ItemSpec}' has no value: give Value metadata or NAME=VALUE.");
            builder.Add(new(key.Trim(), value));
        }

        return builder.ToImmutable();
    }

    private static T ParseEnum<T>(string? value, string property)
        where T : struct, Enum
        => string.IsNullOrWhiteSpace(value) ? default
            : Enum.TryParse<T>(value.Trim(), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(value, out _) ? parsed
            : throw new ArgumentException($"{property} '{value}' is not one of {string.Join(", ", Enum.GetNames<T>())}.");

    private static DateTimeOffset? ParseCreated(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        return long.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }
}
