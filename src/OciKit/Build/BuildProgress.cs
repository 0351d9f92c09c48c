using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>What a progress report is about.</summary>
public enum BuildProgressKind
{
    /// <summary>An instruction was carried out.</summary>
    Step,

    /// <summary>Something the build did not fail on but the user should know (an unused build argument, a skipped RUN).</summary>
    Warning,

    /// <summary>A base image is being pulled.</summary>
    Pull,

    /// <summary>A line a RUN instruction's command wrote (standard output and error, in the order they came); <see cref="BuildProgress.Message"/> holds it without its line break.</summary>
    Output,
}

/// <summary>One progress report of a build.</summary>
/// <param name="Kind">What the report is about.</param>
/// <param name="Stage">The stage's name or index.</param>
/// <param name="Line">The Dockerfile line, or 0.</param>
/// <param name="Message">The instruction text, the warning, or the output line.</param>
public sealed record BuildProgress(BuildProgressKind Kind, string Stage, int Line, string Message)
{
    /// <summary>For a filesystem step: whether its layer came from the build cache; null for config-only steps.</summary>
    public bool? CacheHit { get; init; }

    /// <summary>For a filesystem step: the compressed size of its layer.</summary>
    public long Bytes { get; init; }

    /// <summary>
    /// For a cache hit: where the record came from, <see cref="LocalCacheSource"/> (the store's own cache) or the
    /// registry cache repository (<c>REGISTRY/REPOSITORY:TAG</c>).
    /// </summary>
    public string? CacheSource { get; init; }

    /// <summary>The <see cref="CacheSource"/> of a hit in the store's own cache.</summary>
    public const string LocalCacheSource = "local";
}

/// <summary>The outcome of a build.</summary>
/// <param name="Descriptor">The manifest's descriptor (its digest is the image digest).</param>
/// <param name="Config">The image configuration.</param>
/// <param name="Tags">The names the image was recorded under in the store.</param>
/// <param name="Warnings">The warnings the build reported.</param>
public sealed record BuildResult(Descriptor Descriptor, ImageConfig Config, ImmutableArray<string> Tags, ImmutableArray<string> Warnings)
{
    /// <summary>
    /// The cache records of the steps <see cref="BuildOptions.CacheMode"/> selects (hits and new work alike, newest
    /// first), for a registry cache written after the push (<see cref="Transfer.RegistryCache.WriteAsync"/>); empty with
    /// <see cref="BuildOptions.NoCache"/>.
    /// </summary>
    public ImmutableArray<Layout.CacheRecord> CacheRecords { get; init; } = [];

    /// <summary>Whether the image was recorded in the store (<see cref="BuildOptions.KeepInStore"/>).</summary>
    public bool Stored => Unstored is null;

    /// <summary>The image built for a push only, which the store does not record.</summary>
    internal BuiltImage? Unstored { get; init; }

    /// <summary>The layers of <see cref="Unstored"/> left in a registry cache repository, by digest.</summary>
    internal ImmutableDictionary<Digest, References.ImageReference> LayersInRegistry { get; init; } = ImmutableDictionary<Digest, References.ImageReference>.Empty;

    /// <summary>
    /// The image as a source to push from, for an image built with <see cref="BuildOptions.KeepInStore"/> off: its
    /// manifest and configuration from memory, the layers it wrote from the store's blobs, the layers a registry cache
    /// gave from their cache repository (mounted by a push to the same registry). Push it with
    /// <see cref="Transfer.ImageDelivery.PushAsync(Registry.RegistryClient, Transfer.IImageSource, IReadOnlyList{string}, Transfer.PushOptions?, CancellationToken)"/>.
    /// </summary>
    /// <param name="client">The client a layer in a cache repository is read through.</param>
    /// <param name="store">The store the build wrote its layers into.</param>
    /// <returns>The source.</returns>
    /// <exception cref="InvalidOperationException">The image was recorded in the store: push it from there.</exception>
    public Transfer.IImageSource PushSource(Registry.RegistryClient client, Layout.OciLayout store)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(store);
        var built = Unstored ?? throw new InvalidOperationException("The image is in the store: push it from there.");
        var blobs = new Dictionary<Digest, Transfer.BlobLocation> { [built.Config.Digest] = new Transfer.BlobLocation.InMemory(built.ConfigBytes) };
        foreach (var layer in built.Layers)
        {
            blobs.TryAdd(layer.Digest, LayersInRegistry.TryGetValue(layer.Digest, out var repository)
                ? new Transfer.BlobLocation.InRepository(repository)
                : new Transfer.BlobLocation.InStore(store));
        }

        return new Transfer.ComposedImageSource(client, Descriptor.Digest.ToString(), built.Manifest, [], blobs);
    }

    /// <summary>The image (manifest) digest.</summary>
    public Digest Digest => Descriptor.Digest;
}
