using System.Collections.Immutable;
using OciKit.Dockerfile;
using OciKit.Dockerfile.Shell;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Build;

/// <summary>
/// Builds images from Dockerfiles without a daemon: stages, base images from the local store or a registry, COPY and
/// ADD with Docker's semantics, RUN in a container (runc, crun or bwrap; see <see cref="BuildOptions.Runtime"/>, or
/// <see cref="BuildOptions.SkipRun"/> on machines without one), every configuration instruction, a build cache, and
/// reproducible digests.
/// </summary>
/// <remarks>
/// New layer blobs are written to a scratch directory first and moved into the store only when the whole build has
/// succeeded, so a failed build leaves neither a name nor a blob behind (base images it pulled excepted).
/// </remarks>
public static class ImageBuilder
{
    /// <summary>Builds the image a Dockerfile describes into the OCI layout at <see cref="BuildOptions.StorePath"/>.</summary>
    /// <param name="options">What to build and how.</param>
    /// <param name="progress">Receives a report per instruction and per warning, optional.</param>
    /// <param name="cancellationToken">Cancels the build.</param>
    /// <returns>The built image's digest, configuration, names and warnings.</returns>
    /// <exception cref="BuildException">The Dockerfile cannot be built as written (a base image neither in the store nor found by <see cref="BuildOptions.BaseImages"/> among the reasons); the message names the line.</exception>
    /// <exception cref="DockerfileSyntaxException">The Dockerfile does not parse.</exception>
    /// <exception cref="ArgumentException">The options are inconsistent (an invalid tag).</exception>
    /// <exception cref="DirectoryNotFoundException">The context directory does not exist.</exception>
    public static async Task<BuildResult> BuildAsync(BuildOptions options, IProgress<BuildProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var session = await BuildSession.CreateAsync(options, progress, cancellationToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var image = await session.RunAsync(cancellationToken).ConfigureAwait(false);
            return await session.CommitAsync(image, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>One build: the parsed Dockerfile, the stages built so far, the scratch blobs and cache entries to commit.</summary>
internal sealed partial class BuildSession : IAsyncDisposable
{
    private static readonly ImmutableHashSet<string> PredefinedArgs = ImmutableHashSet.Create(
        StringComparer.Ordinal,
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
        "SOURCE_DATE_EPOCH", "BUILDKIT_SYNTAX");

    private readonly Dictionary<Digest, (string Path, Descriptor Descriptor)> _scratchBlobs = [];
    private readonly List<(string Key, LayerCache.Entry Entry)> _newCacheEntries = [];
    private readonly List<(int Stage, CacheRecord Record)> _stepRecords = [];
    private readonly Dictionary<Digest, CacheHit> _remoteLayers = [];
    private int _targetIndex;
    private readonly Dictionary<int, StageResult> _built = [];
    private readonly HashSet<string> _consumedArgs = new(StringComparer.Ordinal);
    private readonly List<string> _warnings = [];
    private readonly IProgress<BuildProgress>? _progress;
    private readonly ScratchDirectory _scratch;

    private BuildSession(BuildOptions options, IProgress<BuildProgress>? progress, OciLayout store, ParsedDockerfile dockerfile, ContextTree context, ScratchDirectory scratch)
    {
        Options = options;
        _progress = progress;
        Store = store;
        Dockerfile = dockerfile;
        Context = context;
        _scratch = scratch;
        Cache = new LayerCache(store.Root);
        FileDigests = new FileDigestCache(store.Root);
        Lexer = new ShellLexer(dockerfile.Syntax.Directives.Escape);
        TargetPlatform = options.Platform ?? Platform.Current;
        Timestamp = ResolveTimestamp(options.Timestamp ?? SourceDateEpochArg(options));
        LayerOptions = new Layers.LayerOptions { Compression = options.Compression, Timestamp = Timestamp };
    }

    public BuildOptions Options { get; }

    public OciLayout Store { get; }

    public ParsedDockerfile Dockerfile { get; }

    public ContextTree Context { get; }

    /// <summary>This build's scratch directory in the store, locked for the build's lifetime.</summary>
    public string Scratch => _scratch.Path;

    /// <summary>The build's scratch directory in the store, where its layers wait until the build succeeds.</summary>
    public ScratchDirectory ScratchDirectory => _scratch;

    public LayerCache Cache { get; }

    /// <summary>The records read from the registry caches (<see cref="BuildOptions.CacheFrom"/>), by key.</summary>
    public CacheLookup RemoteCache { get; private set; } = CacheLookup.Empty;

    /// <summary>Where RUN's prepared trees keep extracted layers between builds (<c>STORE/.ocikit/rootfs</c>).</summary>
    public string RootfsCacheDirectory => Store.ExtractedLayersDirectory;

    /// <summary>Where <c>RUN --mount=type=cache</c> directories live between builds (<c>STORE/.ocikit/cache-mounts</c>).</summary>
    public string CacheMountsDirectory => Store.CacheMountsDirectory;

    private Execution.IContainerRuntime? _runtime;

    /// <summary>The container runtime RUN uses, chosen at the first RUN; none usable is an error naming that RUN.</summary>
    public Execution.IContainerRuntime Runtime(Instruction at)
    {
        if (_runtime is null)
        {
            try
            {
                _runtime = Execution.ContainerRuntimes.Select(Options.Runtime);
            }
            catch (Execution.ContainerRuntimeNotFoundException ex)
            {
                throw Error(at, "RUN needs a container runtime: " + ex.Message + " (or skip RUN instructions to build without one)", ex);
            }
        }

        return _runtime;
    }

    public FileDigestCache FileDigests { get; }

    public ShellLexer Lexer { get; }

    public Platform TargetPlatform { get; }

    public DateTimeOffset Timestamp { get; }

    public Layers.LayerOptions LayerOptions { get; }

    /// <summary>The global ARG values (those declared before the first FROM, and the predefined platform ones).</summary>
    public Dictionary<string, string> GlobalArgs { get; } = new(StringComparer.Ordinal);

    public static async Task<BuildSession> CreateAsync(BuildOptions options, IProgress<BuildProgress>? progress, CancellationToken cancellationToken)
    {
        var contextDirectory = Path.GetFullPath(options.ContextDirectory);
        var dockerfilePath = options.DockerfilePath is { } p ? Path.GetFullPath(p) : Path.Combine(contextDirectory, BuildOptions.DefaultDockerfileName);
        var text = options.DockerfileText ?? await File.ReadAllTextAsync(dockerfilePath, cancellationToken).ConfigureAwait(false);
        var dockerfile = ParsedDockerfile.Parse(text, options.DisplayName);
        var context = new ContextTree(contextDirectory, ContextTree.ReadIgnore(contextDirectory, dockerfilePath));
        var store = await OciLayout.OpenAsync(options.StorePath ?? OciLayout.DefaultPath, null, cancellationToken).ConfigureAwait(false);
        // Inside the store (its private folder), so finished layers move into blobs/ by a rename, never a copy.
        var scratch = store.CreateScratchDirectory();
        try
        {
            var session = new BuildSession(options, progress, store, dockerfile, context, scratch);
            if (!options.NoCache && !options.CacheFrom.IsDefaultOrEmpty)
            {
                // One manifest and one records blob per cache repository, before any work starts.
                session.RemoteCache = await options.RegistryCache!.ReadAsync(
                    options.CacheFrom.Select(RegistryCache.ParseRepository), new CacheWarnings(session), cancellationToken).ConfigureAwait(false);
            }

            return session;
        }
        catch
        {
            scratch.Dispose();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        // Deletes it; what cannot be deleted is left unlocked, for the store's next garbage collection.
        _scratch.Dispose();

        return ValueTask.CompletedTask;
    }

    public BuildException Error(Instruction? at, string problem, Exception? inner = null) =>
        new(Options.DisplayName, at?.StartLine ?? 0, problem, inner);

    public void Warn(string stage, int line, string message)
    {
        _warnings.Add(line > 0 ? $"{Options.DisplayName}:{line}: {message}" : message);
        _progress?.Report(new BuildProgress(BuildProgressKind.Warning, stage, line, message));
    }

    public void Report(BuildProgress progress) => _progress?.Report(progress);

    /// <summary>Opens a layer blob, from the scratch directory when this build wrote it, else from the store.</summary>
    public Stream OpenBlob(Descriptor blob) => _scratchBlobs.TryGetValue(blob.Digest, out var scratch)
        ? Layers.LayerEntry.OpenForSequentialRead(scratch.Path)
        : Store.OpenBlob(blob.Digest);

    public bool HasBlob(Digest digest) => _scratchBlobs.ContainsKey(digest) || Store.ContainsBlob(digest);

    public void AddScratchBlob(Descriptor blob, string path) => _scratchBlobs.TryAdd(blob.Digest, (path, blob));

    public void AddCacheEntry(string key, LayerCache.Entry entry)
    {
        if (!Options.NoCache)
        {
            _newCacheEntries.Add((key, entry));
        }
    }

    /// <summary>Notes a filesystem step's record (a hit or new work) for <see cref="BuildResult.CacheRecords"/>.</summary>
    public void RecordStep(int stage, string key, LayerCache.Entry entry)
    {
        if (!Options.NoCache && key.Length > 0)
        {
            _stepRecords.Add((stage, LayerCache.ToRecord(key, entry)));
        }
    }

    /// <summary>
    /// A step's record from the registry caches, when one is usable: its blob is checked (<c>HEAD</c>, size) and, unless
    /// the build has it already, downloaded into the scratch directory, verified against digest and DiffID. An unusable
    /// record is a warning and <see langword="null"/>: the step is done again.
    /// </summary>
    public async Task<(LayerCache.Entry Entry, string Source)?> TryRemoteCacheAsync(string key, string stage, int line, CancellationToken cancellationToken)
    {
        if (!RemoteCache.TryGet(key, out var hit))
        {
            return null;
        }

        var entry = new LayerCache.Entry(hit.Record.Layer, hit.Record.DiffId, hit.Record.UncompressedSize);
        var source = hit.Repository.ToString();
        if (hit.Record.Layer is not { } layer || HasBlob(layer.Digest))
        {
            AddCacheEntry(key, entry);
            return (entry, source);
        }

        var warnings = new CacheWarnings(this, stage, line);
        if (!await Options.RegistryCache!.IsUsableAsync(hit, warnings, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        if (!Options.KeepInStore)
        {
            // Left in the registry until a later step reads its files (EnsureLocalAsync); the push mounts it or finds it.
            _remoteLayers.TryAdd(layer.Digest, hit);
            AddCacheEntry(key, entry);
            return (entry, source);
        }

        // Downloaded now: the image is kept in the store, and later steps may read its files.
        var path = System.IO.Path.Combine(Scratch, "cached-" + layer.Digest.Encoded);
        try
        {
            var info = await Options.RegistryCache.DownloadLayerAsync(hit, path, cancellationToken).ConfigureAwait(false);
            entry = new LayerCache.Entry(info.Descriptor, info.DiffId, info.UncompressedSize);
        }
        catch (Exception ex) when (RegistryCache.IsUnusableRecord(ex))
        {
            File.Delete(path);
            Warn(stage, line, $"cache record {key[..12]} in {source}: {ex.Message}; ignored");
            return null;
        }

        AddScratchBlob(layer, path);
        AddCacheEntry(key, entry);
        return (entry, source);
    }

    /// <summary>
    /// Downloads the layers among <paramref name="layers"/> that were taken from a registry cache and left there (an
    /// image built for a push only), verified against digest and DiffID, before a step reads their files.
    /// </summary>
    /// <exception cref="BuildException">A layer does not match its record (too late to redo its step).</exception>
    public async Task EnsureLocalAsync(IEnumerable<Descriptor> layers, Instruction? at, CancellationToken cancellationToken)
    {
        foreach (var layer in layers)
        {
            if (!_remoteLayers.Remove(layer.Digest, out var hit))
            {
                continue;
            }

            var path = System.IO.Path.Combine(Scratch, "cached-" + layer.Digest.Encoded);
            try
            {
                await Options.RegistryCache!.DownloadLayerAsync(hit, path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (RegistryCache.IsUnusableRecord(ex))
            {
                throw Error(at, $"the layer of cache record {hit.Record.Key[..12]} in {hit.Repository} cannot be used: {ex.Message}", ex);
            }

            AddScratchBlob(layer, path);
        }
    }

    /// <summary>The registry cache's warnings, as the build's.</summary>
    private sealed class CacheWarnings(BuildSession session, string stage = "", int line = 0) : IProgress<string>
    {
        public void Report(string value) => session.Warn(stage, line, value);
    }

    public string Expand(string word, IReadOnlyDictionary<string, string> environment, Instruction at)
    {
        try
        {
            return Lexer.ProcessWord(word, environment);
        }
        catch (ShellExpansionException ex)
        {
            throw Error(at, ex.Message, ex);
        }
    }

    public void ConsumeArg(string name) => _consumedArgs.Add(name);

    /// <summary>Runs the stages the target needs, in dependency order, and returns the target's image.</summary>
    public async Task<Image> RunAsync(CancellationToken cancellationToken)
    {
        InitializeGlobalArgs();
        var target = FindTarget();
        _targetIndex = target.Index;
        foreach (var stage in StageOrder(target))
        {
            var result = await new StageExecutor(this, stage).RunAsync(cancellationToken).ConfigureAwait(false);
            _built[stage.Index] = result;
        }

        foreach (var name in Options.BuildArgs.Keys.Order(StringComparer.Ordinal))
        {
            if (!_consumedArgs.Contains(name) && !PredefinedArgs.Contains(name))
            {
                Warn(target.Name ?? target.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), 0, $"the build argument {name} was not consumed by any ARG");
            }
        }

        return _built[target.Index].Image;
    }

    public StageResult BuiltStage(Stage stage) => _built[stage.Index];

    /// <summary>The stage a <c>FROM</c> or <c>--from</c> names, if it names one (by name, or by index for --from).</summary>
    public Stage? FindStage(string name, int before, bool allowIndex)
    {
        if (allowIndex && int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
        {
            return index < Dockerfile.Stages.Length ? Dockerfile.Stages[index] : null;
        }

        foreach (var stage in Dockerfile.Stages)
        {
            if (stage.Index < before && string.Equals(stage.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return stage;
            }
        }

        return null;
    }

    public async Task<(Image Image, string Identity)> ResolveImageAsync(string reference, Platform platform, Instruction at, CancellationToken cancellationToken)
    {
        if (!ImageReference.TryParse(reference, out var parsed))
        {
            throw Error(at, $"'{reference}' is not a valid image reference");
        }

        foreach (var name in ImageReference.LocalSpellings(reference))
        {
            if (await Store.ResolveAsync(name, cancellationToken).ConfigureAwait(false) is { } descriptor)
            {
                try
                {
                    var stored = await Store.ReadImageAsync(descriptor, platform, cancellationToken).ConfigureAwait(false);
                    return (stored.Image, stored.Manifest.Descriptor.Digest.ToString());
                }
                catch (ImageNotFoundException)
                {
                    // Stored for other platforms only: pull the one we need.
                    break;
                }
            }
        }

        var resolver = Options.BaseImages
            ?? throw new ImageNotFoundException(parsed.ToString(), $"the local store at {Store.Root}", "the build was given no way to pull it (BuildOptions.BaseImages)");
        Report(new BuildProgress(BuildProgressKind.Pull, "", at.StartLine, "pulling " + parsed));
        Descriptor pulled;
        try
        {
            pulled = await resolver.PullAsync(parsed, platform, Store, Options.TrustPolicy, cancellationToken).ConfigureAwait(false);
        }
        catch (Signing.TrustPolicyRefusedException ex)
        {
            throw Error(at, $"base image '{reference}' is refused by the trust policy {Options.TrustPolicy?.Source}: scope {ex.Scope}: {ex.Reason}", ex);
        }


        var image = await Store.ReadImageAsync(pulled, platform, cancellationToken).ConfigureAwait(false);
        return (image.Image, image.Manifest.Descriptor.Digest.ToString());
    }

    /// <summary>Moves the scratch blobs into the store, stores the image under its tags, records the cache.</summary>
    public async Task<BuildResult> CommitAsync(Image image, CancellationToken cancellationToken)
    {
        var built = image.WithCreated(Timestamp).Build();
        if (!Options.KeepInStore)
        {
            // Only the layers this build wrote or downloaded become blobs; the image is not recorded.
            foreach (var blob in _scratchBlobs.Values)
            {
                Store.MoveBlobFromFile(blob.Path, blob.Descriptor);
            }

            SaveCache();
            return new BuildResult(built.Manifest.Descriptor, image.Config with { Created = Timestamp }, [], [.. _warnings])
            {
                CacheRecords = SelectedRecords(),
                Unstored = built,
                LayersInRegistry = _remoteLayers.ToImmutableDictionary(p => p.Key, p => p.Value.Repository),
            };
        }

        // Every layer this build wrote (intermediate stages' too, so their cache entries hit next time): each was
        // hashed as it was written, so it is renamed into place rather than copied and hashed again.
        foreach (var blob in _scratchBlobs.Values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Store.MoveBlobFromFile(blob.Path, blob.Descriptor);
        }

        var descriptor = await Store.WriteImageAsync(built, null, cancellationToken).ConfigureAwait(false);
        foreach (var tag in Options.Tags)
        {
            await Store.TagAsync(tag, descriptor, cancellationToken).ConfigureAwait(false);
        }

        SaveCache();
        return new BuildResult(descriptor, image.Config with { Created = Timestamp }, Options.Tags.IsDefault ? [] : Options.Tags, [.. _warnings])
        {
            CacheRecords = SelectedRecords(),
        };
    }

    private void SaveCache()
    {
        if (!Options.NoCache)
        {
            foreach (var (key, entry) in _newCacheEntries)
            {
                // A layer left in the registry has no blob here: the store's cache would only miss on it.
                if (entry.Layer is not { } layer || !_remoteLayers.ContainsKey(layer.Digest))
                {
                    Cache.Put(key, entry);
                }
            }

            FileDigests.Save();
        }
    }

    /// <summary>The step records <see cref="BuildOptions.CacheMode"/> selects, newest first (as a registry cache keeps them).</summary>
    private ImmutableArray<CacheRecord> SelectedRecords()
    {
        var records = ImmutableArray.CreateBuilder<CacheRecord>();
        for (var i = _stepRecords.Count - 1; i >= 0; i--)
        {
            if (Options.CacheMode == CacheExportMode.Max || _stepRecords[i].Stage == _targetIndex)
            {
                records.Add(_stepRecords[i].Record);
            }
        }

        return records.ToImmutable();
    }

    /// <summary>The <c>SOURCE_DATE_EPOCH</c> build argument, which BuildKit takes as the build's timestamp.</summary>
    private static DateTimeOffset? SourceDateEpochArg(BuildOptions options) =>
        options.BuildArgs.TryGetValue("SOURCE_DATE_EPOCH", out var value)
            ? long.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : throw new OciFormatException("SOURCE_DATE_EPOCH", $"the build argument '{value}' is not a non-negative number of seconds.")
            : null;

    private static DateTimeOffset ResolveTimestamp(DateTimeOffset? given)
    {
        if (given is { } t)
        {
            return DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds());
        }

        var env = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrWhiteSpace(env))
        {
            return DateTimeOffset.UnixEpoch;
        }

        return long.TryParse(env.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new OciFormatException("SOURCE_DATE_EPOCH", $"'{env}' is not a non-negative number of seconds.");
    }

    private void InitializeGlobalArgs()
    {
        // BuildKit's automatic platform arguments, visible to FROM and to stages that declare them.
        var build = Platform.Current;
        GlobalArgs["TARGETPLATFORM"] = TargetPlatform.ToString();
        GlobalArgs["TARGETOS"] = TargetPlatform.Os;
        GlobalArgs["TARGETARCH"] = TargetPlatform.Architecture;
        GlobalArgs["TARGETVARIANT"] = TargetPlatform.Variant ?? "";
        GlobalArgs["BUILDPLATFORM"] = build.ToString();
        GlobalArgs["BUILDOS"] = build.Os;
        GlobalArgs["BUILDARCH"] = build.Architecture;
        GlobalArgs["BUILDVARIANT"] = build.Variant ?? "";
        foreach (var arg in Dockerfile.GlobalArgs)
        {
            foreach (var declaration in arg.Args)
            {
                ConsumeArg(declaration.Name);
                if (Options.BuildArgs.TryGetValue(declaration.Name, out var given))
                {
                    GlobalArgs[declaration.Name] = given;
                }
                else if (declaration.DefaultValue is { } value)
                {
                    GlobalArgs[declaration.Name] = Expand(value, GlobalArgs, arg);
                }
            }
        }
    }

    private Stage FindTarget()
    {
        if (Dockerfile.Stages.IsEmpty)
        {
            throw Error(null, "the Dockerfile has no FROM instruction");
        }

        if (Options.Target is not { } target)
        {
            return Dockerfile.Stages[^1];
        }

        return Dockerfile.FindStage(target) ?? throw Error(null, $"target stage \"{target}\" could not be found");
    }

    /// <summary>The stages the target depends on (through FROM and COPY --from), dependencies first; cycles are errors.</summary>
    private List<Stage> StageOrder(Stage target)
    {
        var order = new List<Stage>();
        var state = new Dictionary<int, bool>(); // false: in progress, true: done
        Visit(target, null);
        return order;

        void Visit(Stage stage, Instruction? via)
        {
            if (state.TryGetValue(stage.Index, out var done))
            {
                if (!done)
                {
                    throw Error(via, $"circular dependency detected on stage: {stage.Name ?? stage.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
                }

                return;
            }

            state[stage.Index] = false;
            var baseName = Lexer.ProcessWord(stage.From.Image, GlobalArgs);
            if (FindStage(baseName, stage.Index, allowIndex: false) is { } parent)
            {
                Visit(parent, stage.From);
            }

            foreach (var instruction in stage.Instructions)
            {
                IEnumerable<string?> sources = instruction switch
                {
                    CopyInstruction copy => [copy.From],
                    RunInstruction run => run.Mounts.Select(m => m.Get("from")),
                    _ => [],
                };
                foreach (var from in sources)
                {
                    if (from is null || FindStage(from, Dockerfile.Stages.Length, allowIndex: true) is not { } source)
                    {
                        continue;
                    }

                    if (source.Index == stage.Index)
                    {
                        throw Error(instruction, $"circular dependency detected on stage: {from}");
                    }

                    Visit(source, instruction);
                }
            }

            state[stage.Index] = true;
            order.Add(stage);
        }
    }
}

/// <summary>What a stage produced.</summary>
/// <param name="Image">The stage's image.</param>
/// <param name="Identity">A digest of its configuration, which names its layers and metadata (for cache keys).</param>
internal sealed record StageResult(Image Image, string Identity);
