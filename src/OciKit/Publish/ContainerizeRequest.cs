using System.Collections.Immutable;
using System.Globalization;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Publish;

/// <summary>Whether the manifest is an OCI or a Docker v2 manifest.</summary>
public enum ContainerImageFormat
{
    /// <summary>The base image's format.</summary>
    Default = 0,

    /// <summary><see cref="MediaTypes.OciManifest"/>.</summary>
    Oci = 1,

    /// <summary><see cref="MediaTypes.DockerManifest"/>.</summary>
    Docker = 2,
}

/// <summary>
/// Everything <see cref="Containerizer"/> needs to turn a published application into an image:
/// the files, the base image, where the result goes and its container configuration. The names follow the .NET SDK's
/// container properties (<c>ContainerRepository</c>, <c>ContainerImageTags</c>, ...).
/// </summary>
public sealed record ContainerizeRequest
{
    /// <summary>The published files and their layers (see <see cref="PublishLayers.Collect"/>).</summary>
    public required ImmutableArray<PublishedFile> Files { get; init; }

    /// <summary>The base image (tag or digest).</summary>
    public required ImageReference BaseImage { get; init; }

    /// <summary>The repository of the result, such as <c>team/app</c>.</summary>
    public required string Repository { get; init; }

    /// <summary>The tags of the result; default <c>latest</c>.</summary>
    public ImmutableArray<string> Tags { get; init; } = ["latest"];

    /// <summary>The registry to push to (<c>host[:port]</c>); <see langword="null"/> keeps the image in the local store only.</summary>
    public string? Registry { get; init; }

    /// <summary>The platform to take from a multi-platform base; default <see cref="Platform.Current"/>.</summary>
    public Platform? Platform { get; init; }

    /// <summary>The directory the application is copied to and runs in; default <c>/app</c>.</summary>
    public string WorkingDirectory { get; init; } = "/app";

    /// <summary>The user to run as; <see langword="null"/> keeps the base image's.</summary>
    public string? User { get; init; }

    /// <summary>The entrypoint and command (see <see cref="ContainerEntrypoint"/>).</summary>
    public required ContainerEntrypoint Entrypoint { get; init; }

    /// <summary>Environment variables set in the image, in order.</summary>
    public ImmutableArray<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>Labels of the image, in order (a later one wins).</summary>
    public ImmutableArray<KeyValuePair<string, string>> Labels { get; init; } = [];

    /// <summary>Exposed ports (<c>80</c>, <c>80/tcp</c>, <c>53/udp</c>).</summary>
    public ImmutableArray<string> Ports { get; init; } = [];

    /// <summary>The manifest format.</summary>
    public ContainerImageFormat Format { get; init; }

    /// <summary>
    /// The image's creation time (config <c>created</c> and the <c>org.opencontainers.image.created</c> label);
    /// default <see cref="DefaultCreated()"/>.
    /// </summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The source repository URL (<c>org.opencontainers.image.source</c>), if known.</summary>
    public string? SourceUrl { get; init; }

    /// <summary>The source revision (<c>org.opencontainers.image.revision</c>), if known.</summary>
    public string? Revision { get; init; }

    /// <summary>
    /// Also write the image as a tar archive here: a Docker archive (for <c>docker load</c>) for the Docker format, an
    /// OCI archive otherwise. A path ending in a separator or naming a directory gets <c>{repository}.tar</c>
    /// (slashes of the repository become dashes).
    /// </summary>
    public string? ArchiveOutputPath { get; init; }

    /// <summary>
    /// A key to sign the pushed image with (cosign's simple-signing format, a <c>sha256-&lt;hex&gt;.sig</c> manifest beside
    /// it in the registry), or null. Needs <see cref="Registry"/>: the signature lives in the registry. The caller owns
    /// (and disposes) the key.
    /// </summary>
    public Signing.SigningKey? SigningKey { get; init; }

    /// <summary>
    /// Generate each platform image's SPDX SBOM and attach it: in the local store (<see cref="Sbom.SbomStore"/>) and,
    /// when pushing, in the registry as an OCI 1.1 referrer (<see cref="Sbom.SbomReferrers"/>).
    /// </summary>
    public bool GenerateSbom { get; init; }

    /// <summary>
    /// Keep the image in the local store also when it is only pushed. Without it, an image with a <see cref="Registry"/>
    /// and no <see cref="ArchiveOutputPath"/>, <see cref="SigningKey"/> or <see cref="GenerateSbom"/> (the steps that read
    /// the store) is pushed without being stored: only its base's manifest and configuration are fetched, the base's
    /// layers are mounted from its repository (or streamed from its registry to the target, never through the disk),
    /// the new layers still go into the store's blobs (so the next publish reuses them), and no image is recorded in the
    /// store (<see cref="ContainerizeResult.Stored"/> says which happened). Several platforms' requests follow the first's.
    /// </summary>
    public bool KeepInStore { get; init; }

    /// <summary>
    /// A registry repository whose build cache (<see cref="Transfer.RegistryCache"/>, <c>REGISTRY/REPOSITORY:TAG</c>, see
    /// <see cref="Transfer.RegistryCache.ParseRepository"/>) the publish reads before it writes layers and, after a
    /// successful push, records its layers in; null (the default): none. An unchanged layer whose record is found is
    /// not written: an image only pushed leaves its blob in the registry (mounted or found by <c>HEAD</c>), a stored one
    /// downloads it verified. A layer of at most 1 MiB of files (the app's own) is left out of it, neither looked up
    /// nor recorded: writing it costs less than the requests its record would. The target repository itself needs no
    /// permission beyond the push's. Several platforms' requests follow the first's.
    /// </summary>
    public References.ImageReference? CacheRepository { get; init; }

    /// <summary>A trust policy the base image must satisfy before it is pulled (<see cref="Transfer.RegistryBaseImages"/>), or null for none.</summary>
    public Signing.TrustPolicy? TrustPolicy { get; init; }

    /// <summary>
    /// The creation time when none is given: <c>SOURCE_DATE_EPOCH</c> when set (reproducible builds), else the Unix
    /// epoch, so an unchanged project gives the same digest.
    /// </summary>
    /// <returns>The time.</returns>
    public static DateTimeOffset DefaultCreated() => DefaultCreated(System.Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"));

    internal static DateTimeOffset DefaultCreated(string? value)
    {
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= 0x1_FFFF_FFFF
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : DateTimeOffset.UnixEpoch;
    }
}

/// <summary>How the app is started, with the .NET SDK's <c>ContainerAppCommandInstruction</c> choices.</summary>
public enum ContainerAppCommandInstruction
{
    /// <summary><see cref="Entrypoint"/>, unless the base image has an entrypoint; then <see cref="DefaultArgs"/>.</summary>
    Default = 0,

    /// <summary>The entrypoint is the app command and its args; the command is the default args.</summary>
    Entrypoint = 1,

    /// <summary>The base image's entrypoint stays; the command is the app command, its args and the default args.</summary>
    Cmd = 2,

    /// <summary>The base image's entrypoint stays; the command is the default args only.</summary>
    DefaultArgs = 3,
}

/// <summary>The app command, its fixed arguments and its default (overridable) arguments.</summary>
/// <param name="AppCommand">The command that starts the app, such as <c>/app/hello</c> or <c>dotnet /app/hello.dll</c>.</param>
/// <param name="AppCommandArgs">Arguments always passed.</param>
/// <param name="DefaultArgs">Arguments a <c>docker run</c> command line replaces.</param>
/// <param name="Instruction">How they map to the image's entrypoint and command.</param>
public sealed record ContainerEntrypoint(
    ImmutableArray<string> AppCommand,
    ImmutableArray<string> AppCommandArgs = default,
    ImmutableArray<string> DefaultArgs = default,
    ContainerAppCommandInstruction Instruction = ContainerAppCommandInstruction.Default)
{
    /// <summary>
    /// The SDK's default app command: the app host when there is one, else <c>dotnet</c> with the assembly.
    /// </summary>
    /// <param name="workingDirectory">Where the app lives in the image.</param>
    /// <param name="assemblyName">The app's assembly name (without <c>.dll</c>).</param>
    /// <param name="useAppHost">Whether the publish output has an app host.</param>
    /// <returns>The command.</returns>
    public static ImmutableArray<string> DefaultAppCommand(string workingDirectory, string assemblyName, bool useAppHost)
    {
        ArgumentException.ThrowIfNullOrEmpty(workingDirectory);
        ArgumentException.ThrowIfNullOrEmpty(assemblyName);
        var dir = workingDirectory.TrimEnd('/');
        return useAppHost ? [dir + "/" + assemblyName] : ["dotnet", dir + "/" + assemblyName + ".dll"];
    }

    /// <summary>The entrypoint and command of the image built on a base with <paramref name="baseEntrypoint"/>.</summary>
    /// <param name="baseEntrypoint">The base image's entrypoint, if any.</param>
    /// <param name="baseCmd">The base image's command, if any.</param>
    /// <returns>The image's entrypoint and command (<see langword="null"/> for none).</returns>
    /// <exception cref="ArgumentException">The instruction needs an app command and there is none.</exception>
    public (ImmutableArray<string>? Entrypoint, ImmutableArray<string>? Cmd) Resolve(ImmutableArray<string>? baseEntrypoint, ImmutableArray<string>? baseCmd)
    {
        var command = AppCommand.IsDefault ? [] : AppCommand;
        var args = AppCommandArgs.IsDefault ? [] : AppCommandArgs;
        var defaults = DefaultArgs.IsDefault ? [] : DefaultArgs;
        var instruction = Instruction;
        if (instruction == ContainerAppCommandInstruction.Default)
        {
            instruction = baseEntrypoint is { Length: > 0 } ? ContainerAppCommandInstruction.DefaultArgs : ContainerAppCommandInstruction.Entrypoint;
        }

        if (instruction is ContainerAppCommandInstruction.Entrypoint or ContainerAppCommandInstruction.Cmd && command.IsEmpty)
        {
            throw new ArgumentException($"The '{instruction}' instruction needs an app command.", nameof(AppCommand));
        }

        return instruction switch
        {
            ContainerAppCommandInstruction.Entrypoint => ([.. command, .. args], defaults.IsEmpty ? null : defaults),
            ContainerAppCommandInstruction.Cmd => (baseEntrypoint, [.. command, .. args, .. defaults]),
            _ => (baseEntrypoint, defaults.IsEmpty ? baseCmd : defaults),
        };
    }
}
