using System.Collections.Immutable;
using OciKit.Layers;
using OciKit.Primitives;
using OciKit.Signing;
using OciKit.Transfer;

namespace OciKit.Build;

/// <summary>What to build and how. Immutable; validated by <see cref="ImageBuilder.BuildAsync"/>.</summary>
public sealed record BuildOptions
{
    /// <summary>The default Dockerfile name inside the context.</summary>
    public const string DefaultDockerfileName = "Dockerfile";

    /// <summary>Creates options for a context directory.</summary>
    /// <param name="contextDirectory">The build context; nothing outside it is ever read.</param>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    public BuildOptions(string contextDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(contextDirectory);
        ContextDirectory = contextDirectory;
    }

    /// <summary>The build context directory.</summary>
    public string ContextDirectory { get; init; }

    /// <summary>The Dockerfile's path; default <c>CONTEXT/Dockerfile</c>. Ignored when <see cref="DockerfileText"/> is set.</summary>
    public string? DockerfilePath { get; init; }

    /// <summary>The Dockerfile's text, when it does not come from a file.</summary>
    public string? DockerfileText { get; init; }

    /// <summary>Build arguments (<c>--build-arg</c>), overriding ARG defaults.</summary>
    public ImmutableDictionary<string, string> BuildArgs { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The stage to build; default the last one.</summary>
    public string? Target { get; init; }

    /// <summary>The target platform; default <see cref="Platform.Current"/>.</summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// Skip RUN instructions with a warning instead of running them (they are recorded in history as empty layers): for
    /// machines without a container runtime. By default RUN runs in a container (<see cref="Runtime"/>).
    /// </summary>
    public bool SkipRun { get; init; }

    /// <summary>
    /// The container runtime RUN uses: <c>runc</c>, <c>crun</c>, <c>bwrap</c> or an absolute path; null picks one
    /// (<see cref="Execution.ContainerRuntimes.Select"/>).
    /// </summary>
    public string? Runtime { get; init; }

    /// <summary>
    /// The network RUN commands get unless one says <c>--network=</c>: the host's (the default, as buildah's chroot
    /// isolation gives, so that package managers work) or none (only loopback).
    /// </summary>
    public Execution.ContainerNetwork Network { get; init; } = Execution.ContainerNetwork.Host;

    /// <summary>The secrets <c>RUN --mount=type=secret,id=ID</c> can use, by id (<c>--secret id=ID,src=PATH</c>).</summary>
    public ImmutableDictionary<string, BuildSecret> Secrets { get; init; } = ImmutableDictionary<string, BuildSecret>.Empty;

    /// <summary>Merge the layers the final stage adds into one.</summary>
    public bool Squash { get; init; }

    /// <summary>Neither use nor record the build cache.</summary>
    public bool NoCache { get; init; }

    /// <summary>
    /// Registry repositories whose build cache (<see cref="Transfer.RegistryCache"/>, <c>--cache-from</c>) the build
    /// reads before it starts, as <c>REGISTRY/REPOSITORY[:TAG]</c> (tag default <see cref="RegistryCache.DefaultTag"/>);
    /// the first that has a step's record wins, after the store's own cache. A hit's layer is downloaded (verified)
    /// into the build; a record whose blob is missing or of another size is ignored with a warning. Needs
    /// <see cref="RegistryCache"/>; ignored with <see cref="NoCache"/>.
    /// </summary>
    public ImmutableArray<string> CacheFrom { get; init; } = [];

    /// <summary>The registry cache <see cref="CacheFrom"/> is read through (its client's credentials are the push's).</summary>
    public RegistryCache? RegistryCache { get; init; }

    /// <summary>
    /// Which steps' records <see cref="BuildResult.CacheRecords"/> holds, for the caller to write to a registry cache
    /// after its push (<see cref="RegistryCache.WriteAsync"/>, <c>--cache-to REPO,mode=…</c>): the target stage's (the
    /// default, BuildKit's <c>mode=min</c>) or every stage's (<c>mode=max</c>).
    /// </summary>
    public CacheExportMode CacheMode { get; init; } = CacheExportMode.Min;

    /// <summary>
    /// Record the image in the store (the default). Without it the image is built for a push only
    /// (<see cref="BuildResult.PushSource"/>): new layers still become blobs of the store (the cache reuses them), but
    /// no image or tag is recorded, and a layer taken from a registry cache is not downloaded unless a later step reads
    /// its files: the push finds it in the registry or mounts it.
    /// </summary>
    public bool KeepInStore { get; init; } = true;

    /// <summary>Names to record the image under in the store, as <c>repository[:tag]</c>.</summary>
    public ImmutableArray<string> Tags { get; init; } = [];

    /// <summary>
    /// Where base images (<c>FROM</c>, <c>COPY --from=IMAGE</c>) the store does not hold come from, for example
    /// <see cref="RegistryBaseImages"/> over a registry client; when null, only the store is used. What the build made
    /// is delivered elsewhere (pushed, written to an archive) by its caller (<see cref="ImageDelivery"/>).
    /// </summary>
    public IBaseImageResolver? BaseImages { get; init; }

    /// <summary>
    /// A trust policy every base image (<c>FROM</c>, <c>COPY --from=IMAGE</c>) pulled through <see cref="BaseImages"/>
    /// must satisfy; the resolver checks it before anything of the image is stored, and a refusal fails the build as a
    /// <see cref="BuildException"/> naming the line (its inner exception the <see cref="TrustPolicyRefusedException"/>).
    /// Images the store already holds are used as they are, as buildah does with its default pull policy: the check
    /// belongs to the transfer from a registry. Null (the default): no policy.
    /// </summary>
    public TrustPolicy? TrustPolicy { get; init; }

    /// <summary>
    /// The time recorded as <c>created</c> and as every file's mtime; default <c>SOURCE_DATE_EPOCH</c>, else the Unix epoch.
    /// </summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>How layers are compressed.</summary>
    public LayerCompression Compression { get; init; } = LayerCompression.Gzip;

    /// <summary>The OCI image layout the build reads base images from and stores its result in; default <see cref="Layout.OciLayout.DefaultPath"/>.</summary>
    public string? StorePath { get; init; }

    /// <summary>The HTTP handler ADD downloads URLs with; a default handler when null.</summary>
    public HttpMessageHandler? HttpHandler { get; init; }

    /// <summary>The Dockerfile's name as messages show it.</summary>
    internal string DisplayName => DockerfileText is not null && DockerfilePath is null ? DefaultDockerfileName : System.IO.Path.GetFileName(DockerfilePath ?? DefaultDockerfileName);

    /// <summary>Throws when the options cannot describe a build.</summary>
    internal void Validate()
    {
        if (!Directory.Exists(ContextDirectory))
        {
            throw new DirectoryNotFoundException($"The build context '{ContextDirectory}' does not exist.");
        }

        foreach (var tag in Tags)
        {
            if (!References.ImageReference.TryParse(tag, out _))
            {
                throw new ArgumentException($"'{tag}' is not a valid image reference.", nameof(Tags));
            }
        }

        if (!CacheFrom.IsDefaultOrEmpty)
        {
            if (RegistryCache is null)
            {
                throw new ArgumentException("Reading a registry cache (CacheFrom) needs a RegistryCache to read it through.", nameof(CacheFrom));
            }

            foreach (var repository in CacheFrom)
            {
                Transfer.RegistryCache.ParseRepository(repository);
            }
        }
    }
}

/// <summary>Which build steps a cache export records, as BuildKit's <c>--cache-to …,mode=</c>.</summary>
public enum CacheExportMode
{
    /// <summary>The steps of the stage built (the final one): <c>mode=min</c>.</summary>
    Min,

    /// <summary>The steps of every stage the build ran: <c>mode=max</c>.</summary>
    Max,
}
