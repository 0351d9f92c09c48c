using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Build.Framework;
using OciKit.Auth;
using OciKit.Layout;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;
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

    /// <summary>The local store's directory; empty uses <see cref="OciLayout.DefaultPath"/>.</summary>
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
    /// <c>ContainerCacheRepository</c> as a reference: a value whose first part names no registry (no <c>.</c> or
    /// <c>:</c>, not <c>localhost</c>) is a repository of the target registry.
    /// </summary>
    internal static References.ImageReference? ResolveCacheRepository(string? value, string? registry)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? "" : value[..slash];
        var namesRegistry = first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost";
        return Transfer.RegistryCache.ParseRepository(namesRegistry || string.IsNullOrWhiteSpace(registry) ? value : registry.Trim() + "/" + value);
    }

    /// <summary>The environment variable read for the signing key's passphrase when no other is named.</summary>
    public const string DefaultPassphraseVariable = "OCIKIT_SIGNING_KEY_PASSPHRASE";

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

    /// <inheritdoc />
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc />
    public override bool Execute()
    {
        // MSBuild's entry point is synchronous: the one place where blocking on async is acceptable.
        try
        {
            return ExecuteAsync(_cancel.Token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (ErrorCodes.For(e) is { } code)
        {
            Log.LogError(null, code, null, null, 0, 0, 0, 0, ErrorCodes.Describe(code, e));
            return false;
        }
    }

    private async Task<bool> ExecuteAsync(CancellationToken cancellationToken)
    {
        // Where the task's time goes, at detailed verbosity (-v:d): the time since the task started and the methods the
        // JIT compiled meanwhile, per step (the JIT counts are the process's, so MSBuild's own share in too).
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount();
        var jitTime = System.Runtime.JitInfo.GetCompilationTime();
        void Timing(string step) => Log.LogMessage(
            MessageImportance.Low,
            $"OciKit timing: {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms, JIT {System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethods} method(s) in {(System.Runtime.JitInfo.GetCompilationTime() - jitTime).TotalMilliseconds:F0} ms: {step}");

        using var signingKey = await ReadSigningKeyAsync(cancellationToken).ConfigureAwait(false);
        var policy = string.IsNullOrWhiteSpace(TrustPolicy) ? null : await Signing.TrustPolicy.LoadAsync(TrustPolicy.Trim(), cancellationToken).ConfigureAwait(false);
        var cacheRepository = ResolveCacheRepository(CacheRepository, Registry);
        var requests = CreateRequests().Select(r => r with { SigningKey = signingKey, GenerateSbom = GenerateSbom, TrustPolicy = policy, KeepInStore = KeepInStore, CacheRepository = cacheRepository }).ToList();
        var request = requests[0];
        var progress = new SynchronousProgress(message =>
        {
            Log.LogMessage(MessageImportance.Normal, message);
            Timing(message);
        });
        var store = string.IsNullOrEmpty(StorePath)
            ? await OciLayout.OpenDefaultAsync(cancellationToken).ConfigureAwait(false)
            : await OciLayout.OpenAsync(StorePath, cancellationToken: cancellationToken).ConfigureAwait(false);
        var resolver = new CredentialResolver();
        using var client = new RegistryClient(new RegistryClientOptions
        {
            UserAgent = "OciKit.MSBuild/" + (typeof(OciKitContainerize).Assembly.GetName().Version?.ToString(3) ?? "0"),
            Credentials = async (registry, ct) => (await resolver.ResolveAsync(registry, ct).ConfigureAwait(false))?.Credential,
        });
        var result = await new Containerizer(store, client).ContainerizeAsync(requests, progress, cancellationToken).ConfigureAwait(false);

        ImageDigest = result.Manifest.Digest.ToString();
        GeneratedArchivePath = result.ArchivePath;
        GeneratedImages = [.. result.References.Select(reference =>
        {
            var item = new Microsoft.Build.Utilities.TaskItem(reference);
            item.SetMetadata("Digest", ImageDigest);
            item.SetMetadata("ManifestMediaType", result.Manifest.MediaType);
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
        var where = request.Registry is null ? $"local store {store.Root}"
            : result.Stored ? $"registry {request.Registry} and local store {store.Root}" : $"registry {request.Registry}";
        Timing("done");
        Log.LogMessage(MessageImportance.High, $"OciKit: {result.References[0]}@{ImageDigest} → {where} ({result.Images.Length} platform(s), {result.Images.Sum(i => i.Layers.Length)} app layer(s), {result.BlobsUploaded} blob(s) uploaded)");
        return !Log.HasLoggedErrors;
    }

    /// <summary>
    /// The signing key, when one is named, decrypted with the passphrase from the environment. The passphrase never
    /// appears in a property, a message or an error.
    /// </summary>
    private async Task<Signing.SigningKey?> ReadSigningKeyAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(SigningKey))
        {
            return null;
        }

        var path = SigningKey.Trim();
        var variable = string.IsNullOrWhiteSpace(SigningKeyPassphraseEnvironmentVariable) ? null : SigningKeyPassphraseEnvironmentVariable.Trim();
        var passphrase = Environment.GetEnvironmentVariable(variable ?? DefaultPassphraseVariable);
        if (variable is not null && passphrase is null)
        {
            throw new Signing.SigningKeyException(path, $"the environment variable {variable} (ContainerSigningKeyPassphraseEnvironmentVariable) is not set.") { Problem = Signing.SigningKeyProblem.PassphraseMissing };
        }

        try
        {
            return await Signing.KeyFiles.ReadSigningKeyAsync(path, passphrase, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Signing.SigningKeyException(path, $"it cannot be read ({e.Message}).", e);
        }
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

    /// <summary>Reports on the calling thread: MSBuild's logging helpers may only be used while the task runs.</summary>
    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
