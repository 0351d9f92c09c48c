using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using OciKit.Auth;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.MSBuild;

// Compiled into the task (OciKit.MSBuild) and into the out-of-process host (OciKit.MSBuild.Host), so both run the one
// code path below: the task builds a job from its inputs (its one mapping from MSBuild to ContainerizeRequests) and
// either runs it in the MSBuild node or writes it to a file the host runs.

/// <summary>
/// The task's work as data: the requests its inputs map to, and where the things that must not be serialized come from
/// (the signing key is named by its path and its passphrase by an environment variable's name, never by value).
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

    /// <summary>Runs the job: reads the key and the policy, opens the store, containerizes.</summary>
    /// <param name="progress">Receives the library's progress lines (normal importance).</param>
    /// <param name="detail">Receives the timing lines (low importance).</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>What the task outputs.</returns>
    public async Task<ContainerizeJobResult> RunAsync(Action<string> progress, Action<string> detail, CancellationToken cancellationToken)
    {
        // Where the time goes, at detailed verbosity (-v:d): the time since the job started and the methods the JIT
        // compiled meanwhile, per step (the JIT counts are the process's: in MSBuild, its own share in too).
        var timing = new StepTiming(detail, "OciKit timing");

        using var signingKey = await ReadSigningKeyAsync(cancellationToken).ConfigureAwait(false);
        var policy = TrustPolicy is null ? null : await Signing.TrustPolicy.LoadAsync(TrustPolicy, cancellationToken).ConfigureAwait(false);
        var requests = Requests.Select(r => r with { SigningKey = signingKey, GenerateSbom = GenerateSbom, TrustPolicy = policy }).ToList();
        var store = StorePath is null
            ? await OciLayout.OpenDefaultAsync(cancellationToken).ConfigureAwait(false)
            : await OciLayout.OpenAsync(StorePath, cancellationToken: cancellationToken).ConfigureAwait(false);
        var resolver = new CredentialResolver();
        using var client = new RegistryClient(new RegistryClientOptions
        {
            UserAgent = UserAgent,
            Credentials = async (registry, ct) => (await resolver.ResolveAsync(registry, ct).ConfigureAwait(false))?.Credential,
        });
        var reporter = new SynchronousProgress(message =>
        {
            progress(message);
            timing.Mark(message);
        });
        var result = await new Containerizer(store, client).ContainerizeAsync(requests, reporter, cancellationToken).ConfigureAwait(false);
        timing.Mark("done");
        return new ContainerizeJobResult
        {
            Digest = result.Manifest.Digest,
            ManifestMediaType = result.Manifest.MediaType,
            References = result.References,
            ArchivePath = result.ArchivePath,
            Destination = requests[0].Registry is not { } registry ? $"local store {store.Root}"
                : result.Stored ? $"registry {registry} and local store {store.Root}" : $"registry {registry}",
            Platforms = result.Images.Length,
            AppLayers = result.Images.Sum(i => i.Layers.Length),
            BlobsUploaded = result.BlobsUploaded,
            Signature = result.Signature,
            Sboms = result.Sboms,
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

/// <summary>What a <see cref="ContainerizeJob"/> produced: everything the task outputs and logs.</summary>
internal sealed record ContainerizeJobResult
{
    /// <summary>The image's (or index's) manifest digest.</summary>
    public required Digest Digest { get; init; }

    /// <summary>Its media type.</summary>
    public required string ManifestMediaType { get; init; }

    /// <summary>Every reference the image got.</summary>
    public required ImmutableArray<string> References { get; init; }

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
    public ContainerSignature? Signature { get; init; }

    /// <summary>The SBOMs attached.</summary>
    public ImmutableArray<ContainerSbom> Sboms { get; init; } = [];

    /// <summary>The line the task logs at high importance when done.</summary>
    [JsonIgnore]
    public string Summary => $"OciKit: {References[0]}@{Digest} → {Destination} ({Platforms} platform(s), {AppLayers} app layer(s), {BlobsUploaded} blob(s) uploaded)";
}

/// <summary>
/// What the out-of-process host leaves for the task: the result, or the coded error (<see cref="ErrorCodes"/>) the task
/// logs as it would have in process (a null code: a bug, its whole text in the message).
/// </summary>
/// <param name="Result">The result, when the job succeeded.</param>
/// <param name="ErrorCode">The error's code.</param>
/// <param name="ErrorMessage">The error's message.</param>
internal sealed record ContainerizeJobOutcome(ContainerizeJobResult? Result, string? ErrorCode = null, string? ErrorMessage = null);

/// <summary>How the task and the out-of-process host talk: <c>HOST JOB OUTCOME</c>, lines on standard output, standard input closed to stop.</summary>
internal static class ContainerizeHostProtocol
{
    /// <summary>The host's file name in <c>tasks/net10.0/RID/</c>.</summary>
    public const string ExecutableName = "ocikit-msbuild-host";

    /// <summary>A line the host writes at normal importance starts with this; <see cref="DetailPrefix"/> at low importance.</summary>
    public const string ProgressPrefix = "progress: ";

    /// <summary>See <see cref="ProgressPrefix"/>.</summary>
    public const string DetailPrefix = "detail: ";
}

/// <summary>The job file and the outcome file of the out-of-process host: JSON, source-generated (the host is NativeAOT).</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(ImageReferenceJsonConverter), typeof(PlatformJsonConverter), typeof(DigestJsonConverter), typeof(SigningKeyJsonConverter), typeof(TrustPolicyJsonConverter)])]
[JsonSerializable(typeof(ContainerizeJob))]
[JsonSerializable(typeof(ContainerizeJobOutcome))]
internal sealed partial class ContainerizeJobJson : JsonSerializerContext
{
    /// <summary>
    /// Writes a job into a new file readable by its owner only, synchronously, as the task's entry point is: a new file
    /// in a private directory that the host reads once it has been closed, so it needs no rename. (Measured on the task's
    /// side: serializing the job costs ~40 ms and ~600 JIT-compiled methods in the MSBuild node, the generic
    /// instantiations of System.Text.Json over the request's types; the asynchronous write around it cost little more.)
    /// </summary>
    public static void WriteJob(string path, ContainerizeJob job)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        // Serialized first: a job that cannot be (one carrying a key) leaves no file behind.
        var bytes = JsonSerializer.SerializeToUtf8Bytes(job, Default.ContainerizeJob);
        using var file = new FileStream(path, options);
        file.Write(bytes);
    }

    /// <summary>Reads a job.</summary>
    public static async Task<ContainerizeJob> ReadJobAsync(string path, CancellationToken cancellationToken)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            return await JsonSerializer.DeserializeAsync(stream, Default.ContainerizeJob, cancellationToken).ConfigureAwait(false)
                ?? throw new OciFormatException("job", $"'{path}' holds no job.");
        }
    }

    /// <summary>Writes an outcome.</summary>
    public static async Task WriteAsync(Stream stream, ContainerizeJobOutcome outcome, CancellationToken cancellationToken)
        => await JsonSerializer.SerializeAsync(stream, outcome, Default.ContainerizeJobOutcome, cancellationToken).ConfigureAwait(false);

    /// <summary>Reads an outcome.</summary>
    public static ContainerizeJobOutcome? ReadOutcome(string path)
        => JsonSerializer.Deserialize(File.ReadAllBytes(path), Default.ContainerizeJobOutcome);
}

/// <summary>An image reference as its canonical text (which parses back to it).</summary>
internal sealed class ImageReferenceJsonConverter : JsonConverter<ImageReference>
{
    public override ImageReference Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ImageReference.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, ImageReference value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>A platform as <c>os/architecture[/variant]</c>, all a runtime identifier's platform has.</summary>
internal sealed class PlatformJsonConverter : JsonConverter<Platform>
{
    public override Platform Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Platform.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, Platform value, JsonSerializerOptions options)
    {
        if (value.OsVersion is not null || value.OsFeatures is { Count: > 0 })
        {
            throw new NotSupportedException($"The platform {value} has an OS version or features, which a job does not carry.");
        }

        writer.WriteStringValue(value.ToString());
    }
}

/// <summary>A digest as its text.</summary>
internal sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Digest.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>A signing key is a secret: a job names its file, never holds it (null is written as null without this converter).</summary>
internal sealed class SigningKeyJsonConverter : JsonConverter<Signing.SigningKey>
{
    public override Signing.SigningKey Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => throw new JsonException("A job never holds a signing key, only its file.");

    public override void Write(Utf8JsonWriter writer, Signing.SigningKey value, JsonSerializerOptions options)
        => throw new InvalidOperationException("A job never holds a signing key, only its file.");
}

/// <summary>A job names the trust policy's file; the host loads it (null is written as null without this converter).</summary>
internal sealed class TrustPolicyJsonConverter : JsonConverter<Signing.TrustPolicy>
{
    public override Signing.TrustPolicy Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => throw new JsonException("A job never holds a trust policy, only its file.");

    public override void Write(Utf8JsonWriter writer, Signing.TrustPolicy value, JsonSerializerOptions options)
        => throw new InvalidOperationException("A job never holds a trust policy, only its file.");
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
