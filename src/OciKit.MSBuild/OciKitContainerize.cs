using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Build.Framework;
using MSBuildTask = Microsoft.Build.Utilities.Task;

namespace OciKit.MSBuild;

/// <summary>
/// The task behind the <c>OciPublish</c> target: hands the project's publish output and its <c>Container*</c>
/// properties and items (<see cref="ContainerizeInputs"/>) to the work — in the out-of-process host, or in process,
/// where <see cref="ContainerizeJob.FromInputs"/> maps them to <see cref="Publish.ContainerizeRequest"/>s for
/// <see cref="Publish.Containerizer"/> — and reports its outputs, or its coded error (<see cref="ErrorCodes"/>). It holds
/// no image or protocol logic of its own; on the out-of-process path it does not even load OciKit.dll.
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
    /// <c>OciKitKeepInStore</c>: keep a pushed image in the local store too (<see cref="Publish.ContainerizeRequest.KeepInStore"/>);
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
    /// <see cref="Transfer.RegistryCache.DefaultTag"/>); empty (the default): none. See <see cref="Publish.ContainerizeRequest.CacheRepository"/>.
    /// </summary>
    public string? CacheRepository { get; set; }

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
        // The task's own side of the work, at detailed verbosity (-v:d); the work's lines follow from where it runs.
        var timing = new StepTiming(message => Log.LogMessage(MessageImportance.Low, message), "OciKit timing (task)");
        var inputs = CollectInputs();
        timing.Mark("inputs collected");
        // A host OciKitStartHost started ahead (at the beginning of OciPublish) is waiting for this job; else one starts now.
        using var early = OutOfProcess && HostPath is null && BuildEngine is IBuildEngine4 engine ? EarlyHost.Take(engine) : null;
        var host = early?.Executable ?? (OutOfProcess ? FindHost() : null);
        var outcome = (host is null ? null : new ContainerizeHostProcess(host, Log, HostStarted, timing).Run(inputs, _cancel.Token, early))
            ?? RunInProcess(inputs);
        if (outcome.Result is not { } result)
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

        SetOutputs(result);
        timing.Mark("outputs set");
        Log.LogMessage(MessageImportance.High, result.Summary);
        return !Log.HasLoggedErrors;
    }

    /// <summary>The task's properties and items as they came, with the metadata the mapping reads.</summary>
    internal ContainerizeInputs CollectInputs() => new()
    {
        PublishDirectory = PublishDirectory,
        RuntimeIdentifiers = ItemSpecs(RuntimeIdentifiers),
        PublishedFiles = Items(PublishedFiles, PublishedFileMetadata),
        AssemblyName = AssemblyName,
        BaseImage = BaseImage,
        Registry = Registry,
        Repository = Repository,
        Tags = Tags,
        WorkingDirectory = WorkingDirectory,
        User = User,
        Ports = Items(Ports, ["Type"]),
        EnvironmentVariables = Items(EnvironmentVariables, ["Value"]),
        Labels = Items(Labels, ["Value"]),
        AppCommand = AppCommand,
        AppCommandArgs = AppCommandArgs,
        DefaultArgs = DefaultArgs,
        AppCommandInstruction = AppCommandInstruction,
        ArchiveOutputPath = ArchiveOutputPath,
        ImageFormat = ImageFormat,
        RuntimeIdentifier = RuntimeIdentifier,
        Created = Created,
        SourceUrl = SourceUrl,
        Revision = Revision,
        StorePath = StorePath,
        KeepInStore = KeepInStore,
        SigningKey = SigningKey,
        SigningKeyPassphraseEnvironmentVariable = SigningKeyPassphraseEnvironmentVariable,
        GenerateSbom = GenerateSbom,
        TrustPolicy = TrustPolicy,
        CacheRepository = CacheRepository,
        UserAgent = UserAgentValue,
    };

    /// <summary>The user agent the task's requests carry.</summary>
    internal static string UserAgentValue => "OciKit.MSBuild/" + (typeof(OciKitContainerize).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>The metadata of <c>ResolvedFileToPublish</c> that chooses a file's layer (and, multi-platform, its platform).</summary>
    private static readonly string[] PublishedFileMetadata =
        ["RelativePath", "NuGetPackageId", "ReferenceSourceTarget", "MSBuildSourceProjectFile", "OciKitRuntimeIdentifier", "OciKitPublishDirectory"];

    /// <summary>
    /// Runs the work in the MSBuild node. A method of its own, never inlined: only this path loads OciKit.dll, and only
    /// when it runs.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ContainerizeJobOutcome RunInProcess(ContainerizeInputs inputs)
    {
        try
        {
            var job = ContainerizeJob.FromInputs(inputs);

            // MSBuild's entry point is synchronous: the one place where blocking on async is acceptable.
            return new ContainerizeJobOutcome(job.RunAsync(
                message => Log.LogMessage(MessageImportance.Normal, message),
                message => Log.LogMessage(MessageImportance.Low, message),
                _cancel.Token).GetAwaiter().GetResult());
        }
        catch (Exception e) when (ErrorCodes.For(e) is { } code)
        {
            return new ContainerizeJobOutcome(null, code, ErrorCodes.Describe(code, e));
        }
    }

    private static string[] ItemSpecs(ITaskItem[] items)
    {
        var specs = new string[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            specs[i] = items[i].ItemSpec;
        }

        return specs;
    }

    /// <summary>Items with those of the named metadata that are set (a <c>Value</c> set to empty counts as set).</summary>
    private static ContainerizeInputItem[] Items(ITaskItem[] items, string[] names)
    {
        var copies = new ContainerizeInputItem[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string name in items[i].MetadataNames)
            {
                foreach (var wanted in names)
                {
                    if (string.Equals(wanted, name, StringComparison.OrdinalIgnoreCase))
                    {
                        metadata[wanted] = items[i].GetMetadata(name);
                    }
                }
            }

            copies[i] = new ContainerizeInputItem(items[i].ItemSpec, metadata);
        }

        return copies;
    }

    private string? FindHost() => HostLocator.Find(HostPath, Log);

    private void SetOutputs(ContainerizeJobResult result)
    {
        ImageDigest = result.Digest;
        GeneratedArchivePath = result.ArchivePath;
        GeneratedImages = new ITaskItem[result.References.Length];
        for (var i = 0; i < result.References.Length; i++)
        {
            var item = new Microsoft.Build.Utilities.TaskItem(result.References[i]);
            item.SetMetadata("Digest", ImageDigest);
            item.SetMetadata("ManifestMediaType", result.ManifestMediaType);
            GeneratedImages[i] = item;
        }

        if (result.Signature is { } signature)
        {
            var item = new Microsoft.Build.Utilities.TaskItem(signature.Manifest);
            item.SetMetadata("Reference", signature.Reference);
            item.SetMetadata("Subject", ImageDigest);
            item.SetMetadata("KeyFingerprint", signature.KeyFingerprint);
            GeneratedSignatures = [item];
        }

        GeneratedSboms = new ITaskItem[result.Sboms.Length];
        for (var i = 0; i < result.Sboms.Length; i++)
        {
            var item = new Microsoft.Build.Utilities.TaskItem(result.Sboms[i].Artifact);
            item.SetMetadata("Subject", result.Sboms[i].Subject);
            item.SetMetadata("Packages", result.Sboms[i].Packages.ToString(CultureInfo.InvariantCulture));
            GeneratedSboms[i] = item;
        }
    }
}
