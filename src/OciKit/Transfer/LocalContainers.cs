using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using OciKit.Execution;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Transfer;

/// <summary>What <see cref="LocalContainers.RunAsync"/> runs: an image of the store, and what <c>docker run</c> may override.</summary>
public sealed record ContainerOptions
{
    /// <summary>The image, as the store names it (<c>hello:1</c>, <c>alpine</c>, a digest).</summary>
    public required string Image { get; init; }

    /// <summary>The command, replacing the image's <c>Cmd</c>; null keeps it.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>The entrypoint, replacing the image's (an empty list removes it; the image's <c>Cmd</c> is then dropped too, as docker does); null keeps it.</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Variables (<c>NAME=value</c>) set after the image's, replacing those of the same name.</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    /// <summary>The user (<c>user[:group]</c>, names or ids), replacing the image's; null keeps it.</summary>
    public string? User { get; init; }

    /// <summary>The working directory, replacing the image's; null keeps it.</summary>
    public string? WorkingDir { get; init; }

    /// <summary>The network: the host's (default) or none.</summary>
    public ContainerNetwork Network { get; init; } = ContainerNetwork.Host;

    /// <summary>Host directories or files mounted into the container (<c>-v HOST:CTR[:ro]</c>).</summary>
    public IReadOnlyList<ContainerMount> Mounts { get; init; } = [];

    /// <summary>Whether the process gets a pseudo-terminal.</summary>
    public bool Terminal { get; init; }

    /// <summary>A name to keep the container under after it exits (for diff, commit, rm); null removes it on exit.</summary>
    public string? Name { get; init; }

    /// <summary>The runtime: <c>runc</c>, <c>crun</c>, <c>bwrap</c>, a path, or null to pick one.</summary>
    public string? Runtime { get; init; }
}

/// <summary>Whether a kept container's process is still running.</summary>
public enum ContainerState
{
    /// <summary>Its process runs.</summary>
    Running,

    /// <summary>Its process ended; its changes are kept.</summary>
    Exited,
}

/// <summary>A container kept in the store (<c>ocikit ps</c>).</summary>
/// <param name="Name">Its name.</param>
/// <param name="Image">The image it was created from, as given.</param>
/// <param name="ImageDigest">The image's manifest digest.</param>
/// <param name="Command">The process' argv.</param>
/// <param name="Created">When it was created.</param>
/// <param name="State">Running or exited.</param>
/// <param name="ExitCode">The process' exit code once it exited (null while running, or when it was interrupted).</param>
public sealed record ContainerInfo(string Name, string Image, Digest ImageDigest, ImmutableArray<string> Command, DateTimeOffset Created, ContainerState State, int? ExitCode);

/// <summary>What <see cref="LocalContainers.CommitAsync"/> records besides the container's changes.</summary>
public sealed record ContainerCommitOptions
{
    /// <summary>Dockerfile instructions applied to the config (<c>CMD</c>, <c>ENTRYPOINT</c>, <c>ENV</c>, <c>EXPOSE</c>, <c>LABEL</c>, <c>USER</c>, <c>VOLUME</c>, <c>WORKDIR</c>, <c>STOPSIGNAL</c>, <c>ONBUILD</c>), as <c>docker commit --change</c>.</summary>
    public IReadOnlyList<string> Changes { get; init; } = [];

    /// <summary>The history entry's comment (<c>-m</c>).</summary>
    public string? Comment { get; init; }

    /// <summary>The image's author (<c>-a</c>).</summary>
    public string? Author { get; init; }
}

/// <summary>No container of that name is kept in the store.</summary>
public sealed class ContainerNotFoundException : OciException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="name">The container's name.</param>
    public ContainerNotFoundException(string name)
        : base($"No such container: {name}")
    {
        Name = name;
    }

    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.NotFound;

    /// <summary>The name asked for.</summary>
    public string Name { get; }
}

/// <summary>
/// Containers run from images of a store, as <c>docker run</c>, <c>ps</c>, <c>diff</c>, <c>commit</c> and <c>rm</c> see
/// them, with nothing but the store touched: a container lives in the store's private folder
/// (<c>STORE/.ocikit/containers/NAME</c>) while it runs; when its process ends, what it changed is kept there (its list
/// of changes and the layer holding them) and its tree is removed. An unnamed container is removed entirely.
/// </summary>
/// <param name="store">The store.</param>
public sealed partial class LocalContainers(OciLayout store)
{
    private const string StateFile = "container.json";
    private const string ChangesFile = "changes.json";
    private const string LayerFile = "layer.tar.gz";
    private const string LayerInfoFile = "layer.json";
    private const string LockFile = ".lock";

    /// <summary>The store.</summary>
    public OciLayout Store { get; } = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>The folder kept containers live in.</summary>
    public string Directory => Store.PrivatePath("containers");

    /// <summary>
    /// Runs a container to completion: prepares the image's tree, runs its entrypoint and command with the overrides,
    /// streams its standard streams, and returns its exit code (128 + the signal's number when a signal ended it).
    /// Cancelling stops it (SIGTERM, then SIGKILL) and throws.
    /// </summary>
    /// <param name="options">What to run.</param>
    /// <param name="io">The process' standard streams.</param>
    /// <param name="cancellationToken">Stops the container.</param>
    /// <returns>The process' exit code.</returns>
    /// <exception cref="ImageNotFoundException">The store has no such image.</exception>
    /// <exception cref="ArgumentException">The name is invalid or in use, or the image and options give no command.</exception>
    /// <exception cref="ContainerRuntimeNotFoundException">No container runtime is usable.</exception>
    /// <exception cref="ContainerRunException">The runtime could not start the container.</exception>
    public async Task<int> RunAsync(ContainerOptions options, ContainerIO io, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(io);
        var runtime = ContainerRuntimes.Select(options.Runtime);
        var local = new LocalImages(Store);
        var (imageName, descriptor) = await local.RequireAsync(options.Image, cancellationToken).ConfigureAwait(false);
        var stored = await Store.ReadImageAsync(descriptor with { Annotations = null }, null, cancellationToken).ConfigureAwait(false);
        var image = stored.Image;
        var process = Process(image.Config.Config ?? new ContainerConfig(), options);

        string folder;
        ScratchDirectory? scratch = null;
        FileStream? running = null;
        if (options.Name is { } name)
        {
            ValidateName(name);
            folder = Path.Combine(Directory, name);

            // Claimed by a rename, so two runs given the same name cannot both have it.
            var staging = Path.Combine(System.IO.Directory.CreateDirectory(Directory).FullName, "." + name + "-" + Guid.NewGuid().ToString("N"));
            System.IO.Directory.CreateDirectory(staging);
            try
            {
                System.IO.Directory.Move(staging, folder);
            }
            catch (IOException)
            {
                System.IO.Directory.Delete(staging);
                throw new ArgumentException($"The container name \"{name}\" is already in use; remove it first (ocikit rm {name}).", nameof(options));
            }

            running = new FileStream(Path.Combine(folder, LockFile), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
            await WriteStateAsync(folder, new StoredContainer(name, imageName, stored.Manifest.Descriptor.Digest.ToString(), stored.Manifest.Descriptor.MediaType, stored.Manifest.Descriptor.Size, [.. process.Args], DateTimeOffset.UtcNow, null), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            scratch = Store.CreateScratchDirectory();
            folder = scratch.Path;
        }

        var started = false;
        try
        {
            var work = System.IO.Directory.CreateDirectory(Path.Combine(folder, "rootfs")).FullName;
            var state = System.IO.Directory.CreateDirectory(Path.Combine(folder, "state")).FullName;
            var rootfs = await ContainerRootfs.PrepareAsync(
                [.. image.Layers], (layer, _) => Task.FromResult(Store.OpenBlob(layer.Digest)),
                new RootfsOptions { WorkDirectory = work, LayerCacheDirectory = Store.ExtractedLayersDirectory }, cancellationToken).ConfigureAwait(false);
            await using (rootfs.ConfigureAwait(false))
            {
                var id = "ocikit-" + (options.Name ?? Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))).ToLowerInvariant().Replace('_', '-').Replace('.', '-');
                started = true;
                // An unprivileged user's tree records what the container creates as the container's user (commit).
                if (PreparedContainer.ResolveUser(rootfs.Path, process.User, out _) is { } owner)
                {
                    rootfs.Creator = (owner.Uid, owner.Gid);
                }

                var exitCode = await runtime.RunAsync(new ContainerRun(id, rootfs.Path, state, process, io), cancellationToken).ConfigureAwait(false);
                if (options.Name is { } kept)
                {
                    await KeepChangesAsync(folder, rootfs, process, cancellationToken).ConfigureAwait(false);
                    var info = await ReadStateAsync(folder, kept, cancellationToken).ConfigureAwait(false);
                    await WriteStateAsync(folder, info with { ExitCode = exitCode }, cancellationToken).ConfigureAwait(false);
                }

                return exitCode;
            }
        }
        finally
        {
            if (running is not null)
            {
                await running.DisposeAsync().ConfigureAwait(false);
                DeleteQuietly(Path.Combine(folder, "rootfs"));
                DeleteQuietly(Path.Combine(folder, "state"));
                if (!started)
                {
                    // Never ran (its tree could not be prepared): the name is free again.
                    DeleteQuietly(folder);
                }
            }

            scratch?.Dispose();
        }

        static void DeleteQuietly(string path)
        {
            try
            {
                if (System.IO.Directory.Exists(path))
                {
                    System.IO.Directory.Delete(path, recursive: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Left for rm or prune.
            }
        }
    }

    /// <summary>The kept containers, by name; with <paramref name="all"/> the exited ones too.</summary>
    /// <param name="all">Whether to list exited containers (<c>ps -a</c>).</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The containers.</returns>
    public async Task<ImmutableArray<ContainerInfo>> ListAsync(bool all, CancellationToken cancellationToken = default)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var result = new List<ContainerInfo>();
        foreach (var folder in System.IO.Directory.GetDirectories(Directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            if (name.StartsWith('.') || !File.Exists(Path.Combine(folder, StateFile)))
            {
                continue;
            }

            var info = ToInfo(await ReadStateAsync(folder, name, cancellationToken).ConfigureAwait(false), IsRunning(folder));
            if (all || info.State == ContainerState.Running)
            {
                result.Add(info);
            }
        }

        return [.. result];
    }

    /// <summary>The manifests of the images kept containers were created from (garbage collection keeps them).</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>Their descriptors.</returns>
    public async Task<IReadOnlyCollection<Descriptor>> ImagesInUseAsync(CancellationToken cancellationToken = default)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var roots = new List<Descriptor>();
        foreach (var folder in System.IO.Directory.GetDirectories(Directory))
        {
            var name = Path.GetFileName(folder);
            if (!name.StartsWith('.') && File.Exists(Path.Combine(folder, StateFile)))
            {
                var state = await ReadStateAsync(folder, name, cancellationToken).ConfigureAwait(false);
                roots.Add(new Descriptor(state.ManifestMediaType, Digest.Parse(state.ImageDigest), state.ManifestSize));
            }
        }

        return roots;
    }

    /// <summary>What an exited container changed, as <c>docker container diff</c> lists it (A, C, D), sorted by path.</summary>
    /// <param name="name">The container's name.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The changes.</returns>
    /// <exception cref="ContainerNotFoundException">No container has that name.</exception>
    /// <exception cref="InvalidOperationException">The container is still running.</exception>
    public async Task<ImmutableArray<FileChange>> DiffAsync(string name, CancellationToken cancellationToken = default)
    {
        var folder = RequireExited(name);
        var stream = File.OpenRead(Path.Combine(folder, ChangesFile));
        await using (stream.ConfigureAwait(false))
        {
            var changes = await JsonSerializer.DeserializeAsync(stream, ContainersJson.Default.ListStoredChange, cancellationToken).ConfigureAwait(false) ?? [];
            return [.. changes.Select(c => new FileChange(c.Kind switch { "A" => FileChangeKind.Added, "D" => FileChangeKind.Deleted, _ => FileChangeKind.Changed }, c.Path))];
        }
    }

    /// <summary>
    /// A new image from an exited container: its image, plus one layer with the container's changes, the config changed
    /// by <see cref="ContainerCommitOptions.Changes"/>; stored under <paramref name="target"/>.
    /// </summary>
    /// <param name="name">The container's name.</param>
    /// <param name="target">The new image's name.</param>
    /// <param name="options">Config changes, comment and author, optional.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The new image's manifest descriptor.</returns>
    /// <exception cref="ContainerNotFoundException">No container has that name.</exception>
    /// <exception cref="InvalidOperationException">The container is still running.</exception>
    /// <exception cref="ArgumentException">A change is not an instruction commit accepts.</exception>
    public async Task<Descriptor> CommitAsync(string name, ImageReference target, ContainerCommitOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        options ??= new ContainerCommitOptions();
        var folder = RequireExited(name);
        var state = await ReadStateAsync(folder, name, cancellationToken).ConfigureAwait(false);
        var image = (await Store.ReadImageAsync(new Descriptor(state.ManifestMediaType, Digest.Parse(state.ImageDigest), state.ManifestSize), null, cancellationToken).ConfigureAwait(false)).Image;
        image = CommitChanges.Apply(image, options.Changes);

        var history = new HistoryEntry { CreatedBy = "ocikit commit " + name, Comment = options.Comment, Author = options.Author };
        var layerPath = Path.Combine(folder, LayerFile);
        if (File.Exists(layerPath))
        {
            var infoStream = File.OpenRead(Path.Combine(folder, LayerInfoFile));
            StoredLayer saved;
            await using (infoStream.ConfigureAwait(false))
            {
                saved = await JsonSerializer.DeserializeAsync(infoStream, ContainersJson.Default.StoredLayer, cancellationToken).ConfigureAwait(false)
                    ?? throw new OciFormatException(name, "the container's layer record is empty");
            }

            var descriptor = new Descriptor(saved.MediaType, Digest.Parse(saved.Digest), saved.Size);
            var diffId = Digest.Parse(saved.DiffId);
            await Store.AddLayerAsync(async (output, ct) =>
            {
                var input = File.OpenRead(layerPath);
                await using (input.ConfigureAwait(false))
                {
                    await input.CopyToAsync(output, ct).ConfigureAwait(false);
                }

                return new LayerInfo(descriptor, diffId, saved.UncompressedSize);
            }, cancellationToken).ConfigureAwait(false);
            image = image.AppendLayer(descriptor, diffId, history);
        }
        else
        {
            image = image.AddHistory(history with { EmptyLayer = true });
        }

        if (options.Author is not null)
        {
            image = image.WithConfig(c => c with { Author = options.Author });
        }

        return await Store.WriteImageAsync(image.WithManifestMediaType(MediaTypes.OciManifest).Build(), LocalImages.NameOf(target), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a kept container (its changes with it); a running one cannot be removed.</summary>
    /// <param name="name">The container's name.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when it is gone.</returns>
    /// <exception cref="ContainerNotFoundException">No container has that name.</exception>
    /// <exception cref="InvalidOperationException">The container is still running.</exception>
    public Task RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        var folder = RequireExited(name);
        cancellationToken.ThrowIfCancellationRequested();

        // Renamed first, so a half-deleted container never looks whole.
        var doomed = Path.Combine(Directory, ".removed-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.Move(folder, doomed);
        System.IO.Directory.Delete(doomed, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>Builds the process <c>docker run</c> would start from an image's config and the overrides.</summary>
    internal static ContainerProcess Process(ContainerConfig config, ContainerOptions options)
    {
        var entrypoint = options.Entrypoint ?? (IReadOnlyList<string>?)config.Entrypoint ?? [];
        var command = options.Command is { Count: > 0 } given ? given
            : options.Entrypoint is not null ? []
            : (IReadOnlyList<string>?)config.Cmd ?? [];
        List<string> args = [.. entrypoint, .. command];
        if (args.Count == 0)
        {
            throw new ArgumentException($"The image {options.Image} has no command or entrypoint, and none was given.", nameof(options));
        }

        var env = new List<string>(config.Env ?? []);
        foreach (var entry in options.Env)
        {
            var key = entry.Split('=', 2)[0];
            env.RemoveAll(e => e.Split('=', 2)[0] == key);
            env.Add(entry);
        }

        return new ContainerProcess
        {
            Args = args,
            Env = env,
            User = options.User ?? config.User ?? "",
            WorkingDir = options.WorkingDir is { Length: > 0 } wd ? wd : config.WorkingDir is { Length: > 0 } cwd ? cwd : "/",
            Network = options.Network,
            Mounts = options.Mounts,
            Terminal = options.Terminal,
        };
    }

    /// <summary>Records what the container changed: the list (for diff) and the layer (for commit), nothing when unchanged.</summary>
    private static async Task KeepChangesAsync(string folder, ContainerRootfs rootfs, ContainerProcess process, CancellationToken cancellationToken)
    {
        var ignored = ContainerRuntimes.ProvidedPaths(process, rootfs.Path);
        var changes = await rootfs.GetChangesAsync([.. ignored], cancellationToken).ConfigureAwait(false);
        await AtomicFile.WriteAsync(
            Path.Combine(folder, ChangesFile),
            (stream, ct) => JsonSerializer.SerializeAsync(stream, changes.Select(c => new StoredChange(c.Kind switch { FileChangeKind.Added => "A", FileChangeKind.Deleted => "D", _ => "C" }, c.Path)).ToList(), ContainersJson.Default.ListStoredChange, ct),
            cancellationToken).ConfigureAwait(false);
        if (changes.Count == 0)
        {
            return;
        }

        var entries = await rootfs.GetLayerEntriesAsync([.. ignored], null, cancellationToken).ConfigureAwait(false);
        LayerInfo? info = null;
        await AtomicFile.WriteAsync(
            Path.Combine(folder, LayerFile),
            async (stream, ct) => info = await LayerWriter.WriteAsync(entries, stream, LayerOptions.Default, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        var saved = new StoredLayer(info!.Descriptor.MediaType, info.Descriptor.Digest.ToString(), info.Descriptor.Size, info.DiffId.ToString(), info.UncompressedSize);
        await AtomicFile.WriteAsync(Path.Combine(folder, LayerInfoFile), (stream, ct) => JsonSerializer.SerializeAsync(stream, saved, ContainersJson.Default.StoredLayer, ct), cancellationToken).ConfigureAwait(false);
    }

    private string RequireExited(string name)
    {
        ValidateName(name);
        var folder = Path.Combine(Directory, name);
        if (!File.Exists(Path.Combine(folder, StateFile)))
        {
            throw new ContainerNotFoundException(name);
        }

        if (IsRunning(folder))
        {
            throw new InvalidOperationException($"The container {name} is running; wait until its process ends.");
        }

        return folder;
    }

    /// <summary>Whether the process running the container holds its lock (the kernel drops it however the process ends).</summary>
    private static bool IsRunning(string folder)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(folder, LockFile), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
        {
            throw new ArgumentException($"Invalid container name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.", nameof(name));
        }
    }

    private static ContainerInfo ToInfo(StoredContainer stored, bool running) => new(
        stored.Name, stored.Image, Digest.Parse(stored.ImageDigest), [.. stored.Command], stored.Created,
        running ? ContainerState.Running : ContainerState.Exited, running ? null : stored.ExitCode);

    private static async Task<StoredContainer> ReadStateAsync(string folder, string name, CancellationToken cancellationToken)
    {
        var stream = File.OpenRead(Path.Combine(folder, StateFile));
        await using (stream.ConfigureAwait(false))
        {
            return await JsonSerializer.DeserializeAsync(stream, ContainersJson.Default.StoredContainer, cancellationToken).ConfigureAwait(false)
                ?? throw new OciFormatException(name, "the container's record is empty");
        }
    }

    private static Task WriteStateAsync(string folder, StoredContainer state, CancellationToken cancellationToken) =>
        AtomicFile.WriteAsync(Path.Combine(folder, StateFile), (stream, ct) => JsonSerializer.SerializeAsync(stream, state, ContainersJson.Default.StoredContainer, ct), cancellationToken);

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}

/// <summary>A kept container's record.</summary>
internal sealed record StoredContainer(string Name, string Image, string ImageDigest, string ManifestMediaType, long ManifestSize, List<string> Command, DateTimeOffset Created, int? ExitCode);

/// <summary>One change of a kept container: <c>A</c>, <c>C</c> or <c>D</c> and the path.</summary>
internal sealed record StoredChange(string Kind, string Path);

/// <summary>The layer of a kept container's changes.</summary>
internal sealed record StoredLayer(string MediaType, string Digest, long Size, string DiffId, long UncompressedSize);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StoredContainer))]
[JsonSerializable(typeof(List<StoredChange>))]
[JsonSerializable(typeof(StoredLayer))]
internal sealed partial class ContainersJson : JsonSerializerContext;
