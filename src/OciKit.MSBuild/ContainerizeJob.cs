using System.Collections.Immutable;
using System.Globalization;
using OciKit.Auth;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.MSBuild;

// Compiled into the task (OciKit.MSBuild) and into the out-of-process host (OciKit.MSBuild.Host), so both run the one
// code path below: the task's inputs (ContainerizeInputs) become a job here, where the work runs — in the host, or in
// the MSBuild node when there is none.

/// <summary>
/// The task's work: the requests its inputs map to (<see cref="FromInputs"/>, the one mapping from MSBuild properties
/// and items to requests), and where the things that are never carried by value come from (the signing key is named
/// by its path and its passphrase by an environment variable's name).
/// </summary>
internal sealed record ContainerizeJob
{
    /// <summary>The environment variable read for the signing key's passphrase when no other is named.</summary>
    public const string DefaultPassphraseVariable = "OCIKIT_SIGNING_KEY_PASSPHRASE";

    /// <summary>One request per platform, without key or policy (see <see cref="SigningKey"/>, <see cref="TrustPolicy"/>).</summary>
    public required ImmutableArray<ContainerizeRequest> Requests { get; init; }

    /// <summary>The local store's directory; null uses <see cref="OciLayout.DefaultPath"/>.</summary>
    public string? StorePath { get; init; }

    /// <summary>The signing key file, or null.</summary>
    public string? SigningKey { get; init; }

    /// <summary>The name of the environment variable holding the key's passphrase; null reads <see cref="DefaultPassphraseVariable"/> when set.</summary>
    public string? PassphraseVariable { get; init; }

    /// <summary>The trust policy file, or null.</summary>
    public string? TrustPolicy { get; init; }

    /// <summary>Generate and attach SBOMs.</summary>
    public bool GenerateSbom { get; init; }

    /// <summary>The registry client's user agent.</summary>
    public required string UserAgent { get; init; }

    /// <summary>The task's inputs as a job: the one mapping from MSBuild properties and items to requests.</summary>
    /// <param name="inputs">The task's inputs.</param>
    /// <returns>The job.</returns>
    /// <exception cref="ArgumentException">A property or item has an invalid value.</exception>
    public static ContainerizeJob FromInputs(ContainerizeInputs inputs)
    {
        var cacheRepository = ResolveCacheRepository(inputs.CacheRepository, inputs.Registry);
        return new ContainerizeJob
        {
            Requests = [.. CreateRequests(inputs).Select(r => r with { KeepInStore = inputs.KeepInStore, CacheRepository = cacheRepository })],
            StorePath = NullIfEmpty(inputs.StorePath),
            SigningKey = NullIfEmpty(inputs.SigningKey),
            PassphraseVariable = NullIfEmpty(inputs.SigningKeyPassphraseEnvironmentVariable),
            TrustPolicy = NullIfEmpty(inputs.TrustPolicy),
            GenerateSbom = inputs.GenerateSbom,
            UserAgent = inputs.UserAgent,
        };
    }

    /// <summary>
    /// <c>ContainerCacheRepository</c> as a reference: a value whose first part names no registry
    /// (<see cref="ImageReference.NamesRegistry"/>) is a repository of the target registry.
    /// </summary>
    internal static ImageReference? ResolveCacheRepository(string? value, string? registry)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        return Transfer.RegistryCache.ParseRepository(ImageReference.NamesRegistry(value) || string.IsNullOrWhiteSpace(registry) ? value : registry.Trim() + "/" + value);
    }

    private static List<ContainerizeRequest> CreateRequests(ContainerizeInputs inputs)
    {
        if (inputs.RuntimeIdentifiers.Length == 0)
        {
            return [CreateRequest(inputs, inputs.PublishDirectory, inputs.PublishedFiles, inputs.RuntimeIdentifier)];
        }

        var requests = new List<ContainerizeRequest>(inputs.RuntimeIdentifiers.Length);
        foreach (var rid in inputs.RuntimeIdentifiers.Distinct(StringComparer.Ordinal))
        {
            var files = inputs.PublishedFiles.Where(f => f.Get("OciKitRuntimeIdentifier") == rid).ToArray();
            var directory = files.Select(f => f.Get("OciKitPublishDirectory")).FirstOrDefault(d => d.Length > 0)
                ?? throw new ArgumentException($"Nothing was published for the runtime identifier '{rid}'.");
            requests.Add(CreateRequest(inputs, directory, files, rid));
        }

        return requests;
    }

    private static ContainerizeRequest CreateRequest(ContainerizeInputs inputs, string publishDirectory, ContainerizeInputItem[] publishedFiles, string? runtimeIdentifier)
    {
        var workingDirectory = string.IsNullOrWhiteSpace(inputs.WorkingDirectory) ? "/app" : inputs.WorkingDirectory;
        if (!workingDirectory.StartsWith('/'))
        {
            throw new ArgumentException($"ContainerWorkingDirectory '{workingDirectory}' must be an absolute path.");
        }

        var origins = publishedFiles
            .Where(item => !string.IsNullOrEmpty(item.Get("RelativePath")))
            .Select(item => new PublishedFileOrigin(
                item.Get("RelativePath"),
                NullIfEmpty(item.Get("NuGetPackageId")),
                NullIfEmpty(item.Get("ReferenceSourceTarget")),
                NullIfEmpty(item.Get("MSBuildSourceProjectFile"))));
        var files = PublishLayers.Collect(publishDirectory, origins);
        var appHost = Path.Combine(publishDirectory, inputs.AssemblyName);
        var command = inputs.AppCommand.Length > 0
            ? [.. inputs.AppCommand]
            : ContainerEntrypoint.DefaultAppCommand(workingDirectory, inputs.AssemblyName, File.Exists(appHost));

        return new ContainerizeRequest
        {
            Files = files,
            BaseImage = ImageReference.Parse(inputs.BaseImage),
            Repository = inputs.Repository.ToLowerInvariant(),
            Tags = inputs.Tags.Length > 0 ? [.. inputs.Tags.Where(t => t.Length > 0)] : ["latest"],
            Registry = NullIfEmpty(inputs.Registry),
            Platform = string.IsNullOrEmpty(runtimeIdentifier) ? null : Publish.RuntimeIdentifiers.ToPlatform(runtimeIdentifier),
            WorkingDirectory = workingDirectory,
            User = NullIfEmpty(inputs.User),
            Entrypoint = new ContainerEntrypoint(command, [.. inputs.AppCommandArgs], [.. inputs.DefaultArgs], ParseEnum<ContainerAppCommandInstruction>(inputs.AppCommandInstruction, "ContainerAppCommandInstruction")),
            Environment = Pairs(inputs.EnvironmentVariables, "ContainerEnvironmentVariable"),
            Labels = Pairs(inputs.Labels, "ContainerLabel"),
            Ports = [.. inputs.Ports.Select(PortOf)],
            Format = ParseEnum<ContainerImageFormat>(inputs.ImageFormat, "ContainerImageFormat"),
            Created = ParseCreated(inputs.Created),
            SourceUrl = NullIfEmpty(inputs.SourceUrl),
            Revision = NullIfEmpty(inputs.Revision),
            ArchiveOutputPath = NullIfEmpty(inputs.ArchiveOutputPath),
        };
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string PortOf(ContainerizeInputItem item)
    {
        var type = item.Get("Type");
        return string.IsNullOrEmpty(type) || item.ItemSpec.Contains('/', StringComparison.Ordinal)
            ? item.ItemSpec
            : item.ItemSpec + "/" + type.ToLowerInvariant();
    }

    /// <summary>Items as <c>Include</c> + <c>Value</c> metadata, or a plain <c>NAME=VALUE</c> from a semicolon-separated property.</summary>
    private static ImmutableArray<KeyValuePair<string, string>> Pairs(ContainerizeInputItem[] items, string what)
    {
        var builder = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>(items.Length);
        foreach (var item in items)
        {
            var eq = item.ItemSpec.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = item.Has("Value") ? (item.ItemSpec, item.Get("Value"))
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

    /// <summary>
    /// Readies, in a host started before its job is known (<c>OciKitStartHost</c>, while MSBuild still compiles), what
    /// a job of the project will need first: the registry client, the store, the hash library, and the registry reads
    /// of the target, cache and base the project names (<see cref="ContainerizePrefetch"/>: the registries' endpoints
    /// probed on the way). Nothing it meets fails: the job meets the same registry again and reports what it finds.
    /// </summary>
    /// <param name="settings">What the project names so far (<see cref="ContainerizeHostProtocol.WaitFlag"/>'s <c>NAME=VALUE</c> arguments).</param>
    /// <returns>What is being readied.</returns>
    public static WarmStart Warm(IReadOnlyDictionary<string, string> settings)
    {
        string? Setting(string name) => settings.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
        var userAgent = Setting("userAgent") ?? string.Empty;
        var storePath = Setting("store");
        var registry = Setting("registry")?.TrimEnd('/');
        var client = CreateClient(userAgent);
        var store = OpenQuietlyAsync(storePath);
        ImageReference? target = null, cache = null, baseImage = null;
        try
        {
            var tag = (Setting("tags") ?? "latest").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "latest";
            target = registry is null || Setting("repository") is not { } repository ? null : ImageReference.Parse($"{registry}/{repository}:{tag}");
            cache = ResolveCacheRepository(Setting("cache"), registry);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OciException)
        {
            // Named otherwise by the time of the job, or refused by it with its error code.
        }

        _ = ImageReference.TryParse(Setting("base"), out baseImage);
        var prefetching = Task.Run(async () =>
        {
            // Loads the hash library (OpenSSL on Linux) off the job's path.
            System.Security.Cryptography.SHA256.HashData(Array.Empty<byte>());
            return await store.ConfigureAwait(false) is { } opened ? ContainerizePrefetch.Start(client, opened, target, cache, baseImage) : null;
        });
        return new WarmStart(userAgent, storePath, client, store, prefetching);
    }

    private static async Task<OciLayout?> OpenQuietlyAsync(string? storePath)
    {
        try
        {
            return await OpenStoreAsync(storePath, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The job opens it again, and reports what it finds.
            return null;
        }
    }

    /// <summary>The store at <paramref name="storePath"/>, or the default store.</summary>
    private static Task<OciLayout> OpenStoreAsync(string? storePath, CancellationToken cancellationToken) => storePath is null
        ? OciLayout.OpenDefaultAsync(cancellationToken)
        : OciLayout.OpenAsync(storePath, cancellationToken: cancellationToken);

    private static RegistryClient CreateClient(string userAgent)
    {
        var resolver = new CredentialResolver();
        return new RegistryClient(new RegistryClientOptions
        {
            UserAgent = userAgent,
            Credentials = async (registry, ct) => (await resolver.ResolveAsync(registry, ct).ConfigureAwait(false))?.Credential,
        });
    }

    /// <summary>Runs the job: reads the key and the policy, opens the store, containerizes.</summary>
    /// <param name="progress">Receives the library's progress lines (normal importance).</param>
    /// <param name="detail">Receives the timing lines (low importance).</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <param name="warm">What a host started early readied (<see cref="Warm"/>): used when it was readied for this job's user agent and store.</param>
    /// <returns>What the task outputs.</returns>
    public async Task<ContainerizeJobResult> RunAsync(Action<string> progress, Action<string> detail, CancellationToken cancellationToken, WarmStart? warm = null)
    {
        // Where the time goes, at detailed verbosity (-v:d): the time since the job started and the methods the JIT
        // compiled meanwhile, per step (the JIT counts are the process's: in MSBuild, its own share in too).
        var timing = new StepTiming(detail, "OciKit timing");

        using var signingKey = await ReadSigningKeyAsync(cancellationToken).ConfigureAwait(false);
        var policy = TrustPolicy is null ? null : await Signing.TrustPolicy.LoadAsync(TrustPolicy, cancellationToken).ConfigureAwait(false);
        var requests = Requests.Select(r => r with { SigningKey = signingKey, GenerateSbom = GenerateSbom, TrustPolicy = policy }).ToList();
        var warmed = warm is not null && warm.UserAgent == UserAgent && warm.StorePath == StorePath ? warm : null;
        var store = (warmed is null ? null : await warmed.Store.ConfigureAwait(false))
            ?? await OpenStoreAsync(StorePath, cancellationToken).ConfigureAwait(false);
        using var own = warmed is null ? CreateClient(UserAgent) : null;
        var client = own ?? warmed!.Client;
        var prefetch = warmed is null ? null : await warmed.Prefetch.ConfigureAwait(false);
        if (warm is not null)
        {
            detail(warmed is null
                ? $"OciKit: the host started ahead readied another user agent or store ({warm.UserAgent}, {warm.StorePath ?? "the default store"}); not used"
                : $"OciKit: the host started ahead readied the client, the store{(prefetch is null ? "" : " and the registry reads")}");
        }
        var reporter = new SynchronousProgress(message =>
        {
            progress(message);
            timing.Mark(message);
        });
        ContainerizeResult result;
        try
        {
            result = await new Containerizer(store, client).ContainerizeAsync(requests, prefetch, reporter, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (prefetch is not null)
            {
                await prefetch.DisposeAsync().ConfigureAwait(false);
            }
        }

        timing.Mark("done");
        return new ContainerizeJobResult
        {
            Digest = result.Manifest.Digest.ToString(),
            ManifestMediaType = result.Manifest.MediaType,
            References = [.. result.References],
            ArchivePath = result.ArchivePath,
            Destination = requests[0].Registry is not { } registry ? $"local store {store.Root}"
                : result.Stored ? $"registry {registry} and local store {store.Root}" : $"registry {registry}",
            Platforms = result.Images.Length,
            AppLayers = result.Images.Sum(i => i.Layers.Length),
            BlobsUploaded = result.BlobsUploaded,
            Signature = result.Signature is { } signature
                ? new ContainerizeSignatureResult(signature.Manifest.ToString(), signature.Reference, signature.KeyFingerprint.ToString())
                : null,
            Sboms = [.. result.Sboms.Select(sbom => new ContainerizeSbomResult(sbom.Artifact.ToString(), sbom.Subject.ToString(), sbom.Packages))],
        };
    }

    /// <summary>
    /// The signing key, when one is named, decrypted with the passphrase from the environment. The passphrase never
    /// appears in a property, the job, a message or an error.
    /// </summary>
    private async Task<Signing.SigningKey?> ReadSigningKeyAsync(CancellationToken cancellationToken)
    {
        if (SigningKey is null)
        {
            return null;
        }

        var passphrase = Environment.GetEnvironmentVariable(PassphraseVariable ?? DefaultPassphraseVariable);
        if (PassphraseVariable is not null && passphrase is null)
        {
            throw new Signing.SigningKeyException(SigningKey, $"the environment variable {PassphraseVariable} (ContainerSigningKeyPassphraseEnvironmentVariable) is not set.") { Problem = Signing.SigningKeyProblem.PassphraseMissing };
        }

        try
        {
            return await Signing.KeyFiles.ReadSigningKeyAsync(SigningKey, passphrase, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Signing.SigningKeyException(SigningKey, $"it cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>Reports on the calling thread: MSBuild's logging helpers may only be used while the task runs.</summary>
    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}

/// <summary>What <see cref="ContainerizeJob.Warm"/> readies; <see cref="DisposeAsync"/> ends it.</summary>
internal sealed class WarmStart(string userAgent, string? storePath, RegistryClient client, Task<OciLayout?> store, Task<ContainerizePrefetch?> prefetch)
{
    /// <summary>The user agent the client was made with.</summary>
    public string UserAgent => userAgent;

    /// <summary>The store's directory as named (null: the default).</summary>
    public string? StorePath => storePath;

    /// <summary>The client, its endpoints probed (or being probed).</summary>
    public RegistryClient Client => client;

    /// <summary>The store, or null when it could not be opened.</summary>
    public Task<OciLayout?> Store => store;

    /// <summary>The registry reads started for the project (none when the store could not be opened).</summary>
    public Task<ContainerizePrefetch?> Prefetch => prefetch;

    /// <summary>Opens the upload sessions of the prefetch's target once it has started (<see cref="ContainerizePrefetch.PrepareUploads"/>).</summary>
    public void PrepareUploads() => OnceStarted.Run(prefetch, static started => started.PrepareUploads());

    /// <summary>Waits for the reads nobody took (and cancels the upload sessions no job took), then disposes the client.</summary>
    /// <returns>When done.</returns>
    public async Task DisposeAsync()
    {
        await ((Task)prefetch).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (prefetch.IsCompletedSuccessfully && prefetch.Result is { } started)
        {
            await started.DisposeAsync().ConfigureAwait(false);
        }

        client.Dispose();
    }
}

/// <summary>
/// Timing lines (<c>PREFIX: N ms, JIT M method(s) in T ms: STEP</c>): the time since it was made and the methods the JIT
/// compiled meanwhile. The job writes them in the host or in process, the task for its own side of an out-of-process run.
/// </summary>
/// <param name="log">Receives each line.</param>
/// <param name="prefix">What the lines start with.</param>
internal sealed class StepTiming(Action<string> log, string prefix)
{
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly long _jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount();
    private readonly TimeSpan _jitTime = System.Runtime.JitInfo.GetCompilationTime();

    /// <summary>Writes one line for a step just finished.</summary>
    /// <param name="step">What was done.</param>
    public void Mark(string step) => log(string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"{prefix}: {System.Diagnostics.Stopwatch.GetElapsedTime(_started).TotalMilliseconds:F0} ms, JIT {System.Runtime.JitInfo.GetCompiledMethodCount() - _jitMethods} method(s) in {(System.Runtime.JitInfo.GetCompilationTime() - _jitTime).TotalMilliseconds:F0} ms: {step}"));
}

/// <summary>Acting on what is still starting (a host, its reads) without waiting for it.</summary>
internal static class OnceStarted
{
    /// <summary>Runs <paramref name="action"/> on what <paramref name="starting"/> gives, once it has; nothing when it failed or gave nothing.</summary>
    /// <typeparam name="T">What is starting.</typeparam>
    /// <param name="starting">The start.</param>
    /// <param name="action">What to do with it (on the thread that completed the start, or on the caller's when it had).</param>
    public static void Run<T>(Task<T?> starting, Action<T> action)
        where T : class => _ = starting.ContinueWith(
        started =>
        {
            if (started.IsCompletedSuccessfully && started.Result is { } value)
            {
                action(value);
            }
        },
        CancellationToken.None,
        TaskContinuationOptions.ExecuteSynchronously,
        TaskScheduler.Default);
}
