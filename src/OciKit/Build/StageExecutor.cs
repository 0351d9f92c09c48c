using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OciKit.Dockerfile;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>Carries out one stage's instructions on its base image, as BuildKit's Dockerfile frontend does.</summary>
internal sealed partial class StageExecutor
{
    private static readonly ImmutableArray<string> DefaultShell = ["/bin/sh", "-c"];
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private readonly BuildSession _session;
    private readonly Stage _stage;
    private readonly string _stageName;
    private readonly Dictionary<string, string> _args = new(StringComparer.Ordinal);
    private readonly List<Descriptor> _unapplied = [];
    private Image _image = null!;
    private ImageFs? _fs;
    private bool _cmdSet;
    private int _baseLayerCount;

    public StageExecutor(BuildSession session, Stage stage)
    {
        _session = session;
        _stage = stage;
        _stageName = stage.Name ?? stage.Index.ToString(CultureInfo.InvariantCulture);
    }

    private ContainerConfig Container => _image.Config.Config ?? new ContainerConfig();

    /// <summary>The variables an instruction's words expand with: the stage's ARGs, overridden by its ENV.</summary>
    private Dictionary<string, string> ExpansionEnvironment
    {
        get
        {
            var env = new Dictionary<string, string>(_args, StringComparer.Ordinal);
            foreach (var entry in Container.Env ?? [])
            {
                var equals = entry.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    env[entry[..equals]] = entry[(equals + 1)..];
                }
            }

            return env;
        }
    }

    public async Task<StageResult> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await FromAsync(cancellationToken).ConfigureAwait(false);
            foreach (var instruction in _stage.Instructions)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await ExecuteAsync(instruction, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await DiscardRootfsAsync().ConfigureAwait(false);
        }

        if (_session.Options.Squash && _image.Layers.Length - _baseLayerCount > 1)
        {
            await SquashAsync(cancellationToken).ConfigureAwait(false);
        }

        return new StageResult(_image, Identity());
    }

    /// <summary>A digest of the current configuration, which records the layers' DiffIDs and every setting.</summary>
    private string Identity() => Digest.ComputeSha256(_image.Config.ToJson()).ToString();

    private async Task FromAsync(CancellationToken cancellationToken)
    {
        var from = _stage.From;
        var name = _session.Expand(from.Image, _session.GlobalArgs, from);
        var platform = _session.TargetPlatform;
        if (from.Platform is { } requested)
        {
            var expanded = _session.Expand(requested, _session.GlobalArgs, from);
            try
            {
                platform = Platform.Parse(expanded);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OciFormatException)
            {
                throw _session.Error(from, $"'{expanded}' is not a platform", ex);
            }
        }

        if (name.Length == 0)
        {
            throw _session.Error(from, "base name (" + from.Image + ") should not be blank");
        }

        if (_session.FindStage(name, _stage.Index, allowIndex: false) is { } parent)
        {
            _image = _session.BuiltStage(parent).Image;
        }
        else if (string.Equals(name, "scratch", StringComparison.OrdinalIgnoreCase))
        {
            _image = Image.Scratch(platform).WithContainerConfig(c => c with { Env = ["PATH=" + DefaultPath], WorkingDir = null });
        }
        else
        {
            try
            {
                (_image, _) = await _session.ResolveImageAsync(name, platform, from, cancellationToken).ConfigureAwait(false);
            }
            catch (ImageNotFoundException ex)
            {
                // A registry or network failure stays a RegistryException: the registry failed, not the Dockerfile.
                throw _session.Error(from, $"base image '{name}': {ex.Message}", ex);
            }
        }

        _image = _image.WithManifestMediaType(MediaTypes.OciManifest);
        _baseLayerCount = _image.Layers.Length;
        _session.Report(new BuildProgress(BuildProgressKind.Step, _stageName, from.StartLine, from.Original));

        // The base's ONBUILD triggers run first, then are not inherited.
        var triggers = Container.OnBuild ?? [];
        if (!triggers.IsEmpty)
        {
            _image = _image.WithContainerConfig(c => c with { OnBuild = null });
            foreach (var trigger in triggers)
            {
                Instruction instruction;
                try
                {
                    instruction = ParsedDockerfile.Parse("FROM scratch\n" + trigger, _session.Options.DisplayName).Stages[0].Instructions[0];
                }
                catch (DockerfileSyntaxException ex)
                {
                    throw _session.Error(from, $"the base image's ONBUILD trigger '{trigger}' is invalid: {ex.Message}", ex);
                }

                await ExecuteAsync(instruction with { StartLine = from.StartLine, EndLine = from.EndLine }, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ExecuteAsync(Instruction instruction, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteCoreAsync(instruction, cancellationToken).ConfigureAwait(false);
        }
        catch (OciException ex) when (ex is LayerPathException or SymlinkLoopException or OciFormatException)
        {
            // A base or source image whose layers cannot be applied (a path that climbs out, a symlink loop on the way,
            // a broken hard link or tar stream): the error names the path; this names the instruction that read it.
            throw _session.Error(instruction, ex.Message, ex);
        }
    }

    private async Task ExecuteCoreAsync(Instruction instruction, CancellationToken cancellationToken)
    {
        switch (instruction)
        {
            case CopyInstruction copy:
                await CopyAsync(copy, cancellationToken).ConfigureAwait(false);
                return;
            case AddInstruction add:
                await AddAsync(add, cancellationToken).ConfigureAwait(false);
                return;
            case WorkdirInstruction workdir:
                await WorkdirAsync(workdir, cancellationToken).ConfigureAwait(false);
                return;
            case RunInstruction run:
                if (!_session.Options.SkipRun)
                {
                    if (!OperatingSystem.IsLinux())
                    {
                        throw _session.Error(run, "RUN needs Linux containers (skip RUN instructions to build elsewhere)");
                    }

                    await RunCommandAsync(run, cancellationToken).ConfigureAwait(false);
                    return;
                }

                _session.Warn(_stageName, run.StartLine, "RUN skipped: " + Flatten(run.Original));
                Record(run, "RUN " + FormatCommand(run.Command, run.PrependShell));
                return;
            default:
                Configure(instruction);
                return;
        }
    }

    /// <summary>The configuration-only instructions: each changes the config and adds an empty-layer history entry.</summary>
    private void Configure(Instruction instruction)
    {
        var env = ExpansionEnvironment;
        switch (instruction)
        {
            case EnvInstruction e:
                ApplyPairs(e, "ENV", e.Variables, env, (image, name, value) => image.WithEnv(name, value));
                break;

            case ArgInstruction a:
            {
                var shown = new List<string>();
                foreach (var declaration in a.Args)
                {
                    _session.ConsumeArg(declaration.Name);
                    string? value = _session.Options.BuildArgs.TryGetValue(declaration.Name, out var given) ? given
                        : declaration.DefaultValue is { } d ? _session.Expand(d, env, a)
                        : _session.GlobalArgs.GetValueOrDefault(declaration.Name);
                    DeclareArg(declaration.Name, value);
                    if (value is null)
                    {
                        _args.Remove(declaration.Name);
                        shown.Add(declaration.Name);
                    }
                    else
                    {
                        _args[declaration.Name] = value;
                        env[declaration.Name] = Container.GetEnv(declaration.Name) ?? value;
                        shown.Add(declaration.Name + "=" + value);
                    }
                }

                Record(a, "ARG " + string.Join(' ', shown));
                break;
            }

            case LabelInstruction l:
                ApplyPairs(l, "LABEL", l.Labels, env, (image, name, value) => image.WithLabel(name, value));
                break;

            case UserInstruction u:
            {
                var user = _session.Expand(u.User, env, u);
                _image = _image.WithUser(user);
                Record(u, "USER " + user);
                break;
            }

            case ExposeInstruction x:
            {
                var ports = new List<string>();
                foreach (var spec in x.Ports)
                {
                    ports.AddRange(ExpandPorts(_session.Expand(spec, env, x), x));
                }

                foreach (var port in ports)
                {
                    _image = _image.WithExposedPort(port);
                }

                Record(x, "EXPOSE " + string.Join(' ', ports));
                break;
            }

            case VolumeInstruction v:
            {
                var paths = v.Paths.Select(p => _session.Expand(p, env, v)).ToList();
                foreach (var path in paths)
                {
                    if (path.Length == 0)
                    {
                        throw _session.Error(v, "VOLUME specified can not be an empty string");
                    }

                    _image = _image.WithVolume(path);
                }

                Record(v, "VOLUME " + JsonSerializer.Serialize(paths, BuildJson.Default.ListString));
                break;
            }

            case EntrypointInstruction ep:
            {
                var command = Command(ep.Command, ep.PrependShell);
                _image = _image.WithEntrypoint(command);
                if (!_cmdSet)
                {
                    // A new ENTRYPOINT drops the CMD the base gave, as Docker does.
                    _image = _image.WithCmd(null);
                }

                Record(ep, "ENTRYPOINT " + JsonSerializer.Serialize(command, BuildJson.Default.ImmutableArrayString));
                break;
            }

            case CmdInstruction c:
            {
                var command = Command(c.Command, c.PrependShell);
                _image = _image.WithCmd(command);
                _cmdSet = true;
                Record(c, "CMD " + JsonSerializer.Serialize(command, BuildJson.Default.ImmutableArrayString));
                break;
            }

            case ShellInstruction s:
                _image = _image.WithContainerConfig(cfg => cfg with { Shell = s.Shell });
                Record(s, "SHELL " + JsonSerializer.Serialize(s.Shell, BuildJson.Default.ImmutableArrayString));
                break;

            case StopSignalInstruction ss:
            {
                var signal = _session.Expand(ss.Signal, env, ss);
                _image = _image.WithContainerConfig(cfg => cfg with { StopSignal = signal });
                Record(ss, "STOPSIGNAL " + signal);
                break;
            }

            case HealthcheckInstruction h:
            {
                var check = new Healthcheck
                {
                    Test = h.Test,
                    Interval = h.Interval,
                    Timeout = h.Timeout,
                    StartPeriod = h.StartPeriod,
                    StartInterval = h.StartInterval,
                    Retries = h.Retries,
                };
                _image = _image.WithContainerConfig(cfg => cfg with { Healthcheck = check });
                Record(h, "HEALTHCHECK " + (h.IsNone ? "NONE" : JsonSerializer.Serialize(h.Test, BuildJson.Default.ImmutableArrayString)));
                break;
            }

            case OnBuildInstruction o:
                _image = _image.WithContainerConfig(cfg => cfg with { OnBuild = (cfg.OnBuild ?? []).Add(o.Expression) });
                Record(o, "ONBUILD " + Flatten(o.Expression));
                break;

            case MaintainerInstruction m:
            {
                var author = _session.Expand(m.Maintainer, env, m);
                _image = _image.WithConfig(cfg => cfg with { Author = author });
                Record(m, "MAINTAINER " + author);
                break;
            }

            default:
                throw _session.Error(instruction, $"unsupported instruction: {Flatten(instruction.Original)}");
        }
    }

    private ImmutableArray<string> Command(ImmutableArray<string> command, bool prependShell) =>
        prependShell ? [.. Container.Shell ?? DefaultShell, string.Join(' ', command)] : command;

    private string FormatCommand(ImmutableArray<string> command, bool prependShell) =>
        prependShell ? string.Join(' ', [.. Container.Shell ?? DefaultShell, string.Join(' ', command)]) : JsonSerializer.Serialize(command, BuildJson.Default.ImmutableArrayString);

    private IEnumerable<string> ExpandPorts(string spec, Instruction at)
    {
        var slash = spec.IndexOf('/', StringComparison.Ordinal);
        var protocol = slash >= 0 ? spec[(slash + 1)..].ToLowerInvariant() : "tcp";
        var range = slash >= 0 ? spec[..slash] : spec;
        if (protocol is not ("tcp" or "udp" or "sctp"))
        {
            throw _session.Error(at, $"invalid proto: {protocol}");
        }

        var dash = range.IndexOf('-', StringComparison.Ordinal);
        if (!ushort.TryParse(dash >= 0 ? range[..dash] : range, NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            || !ushort.TryParse(dash >= 0 ? range[(dash + 1)..] : range, NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            || last < first)
        {
            throw _session.Error(at, $"invalid containerPort: {range}");
        }

        for (int port = first; port <= last; port++)
        {
            yield return port.ToString(CultureInfo.InvariantCulture) + "/" + protocol;
        }
    }

    /// <summary>ENV and LABEL: expands every NAME=VALUE pair in the environment the instruction sees (all pairs of one
    /// instruction see the same environment, as Docker's do), applies them in order and records the expanded pairs.</summary>
    private void ApplyPairs(Instruction instruction, string keyword, ImmutableArray<NameValue> pairs, Dictionary<string, string> env, Func<Image, string, string, Image> apply)
    {
        var expanded = pairs.Select(p => (Name: _session.Expand(p.Name, env, instruction), Value: _session.Expand(p.Value, env, instruction))).ToList();
        foreach (var (name, value) in expanded)
        {
            _image = apply(_image, name, value);
        }

        Record(instruction, keyword + " " + string.Join(' ', expanded.Select(p => p.Name + "=" + p.Value)));
    }

    private void Record(Instruction instruction, string createdBy)
    {
        _image = _image.AddHistory(new HistoryEntry { Created = _session.Timestamp, CreatedBy = createdBy, Comment = HistoryComment });
        _session.Report(new BuildProgress(BuildProgressKind.Step, _stageName, instruction.StartLine, Flatten(instruction.Original)));
    }

    private const string HistoryComment = "ocikit.dockerfile.v0";

    private static string Flatten(string text) => text.ReplaceLineEndings(" ").Trim();

    /// <summary>The stage's file system as it is now (base layers read once, later steps applied in memory).</summary>
    private async Task<ImageFs> FileSystemAsync(CancellationToken cancellationToken)
    {
        // Layers a registry cache gave and left there (a push-only build) are downloaded once their files are read.
        await _session.EnsureLocalAsync(_image.Layers, null, cancellationToken).ConfigureAwait(false);
        if (_fs is null)
        {
            _fs = await ImageFs.LoadAsync(_image.Layers, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
            _unapplied.Clear();
        }

        foreach (var layer in _unapplied)
        {
            await _fs.ApplyLayerAsync(layer, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
        }

        _unapplied.Clear();
        return _fs;
    }

    /// <summary>
    /// Adds one filesystem step: from the cache when the key is known and its blob is present, else by writing the
    /// entries <paramref name="produce"/> returns as a layer in the scratch directory (no layer when there are none).
    /// </summary>
    /// <remarks>
    /// With <paramref name="applyFromBlob"/> the stage's file system view reads the new layer from its blob (RUN's
    /// entries read a tree the next RUN changes), else from the entries.
    /// </remarks>
    private async Task CommitLayerAsync(Instruction instruction, string createdBy, string key, Func<Task<IReadOnlyList<LayerEntry>>> produce, CancellationToken cancellationToken, bool applyFromBlob = false)
    {
        var history = new HistoryEntry { Created = _session.Timestamp, CreatedBy = createdBy, Comment = HistoryComment };
        if (!_session.Options.NoCache && key.Length > 0)
        {
            // The store's own cache first, then the registry caches (their blob downloaded into the build, verified).
            (LayerCache.Entry Entry, string Source)? found = _session.Cache.TryGet(key, _session.HasBlob, out var local)
                ? (local, BuildProgress.LocalCacheSource)
                : await _session.TryRemoteCacheAsync(key, _stageName, instruction.StartLine, cancellationToken).ConfigureAwait(false);
            if (found is var (cached, source))
            {
                if (cached.Layer is { } hit)
                {
                    _image = _image.AppendLayer(hit, cached.DiffId!, history);
                    if (_fs is not null)
                    {
                        _unapplied.Add(hit);
                    }
                }
                else
                {
                    _image = _image.AddHistory(history);
                }

                _session.RecordStep(_stage.Index, key, cached);
                _session.Report(new BuildProgress(BuildProgressKind.Step, _stageName, instruction.StartLine, Flatten(instruction.Original)) { CacheHit = true, Bytes = cached.Layer?.Size ?? 0, CacheSource = source });
                return;
            }
        }

        var entries = await produce().ConfigureAwait(false);
        if (entries.Count == 0)
        {
            _image = _image.AddHistory(history);
            _session.AddCacheEntry(key, new LayerCache.Entry(null, null));
            _session.RecordStep(_stage.Index, key, new LayerCache.Entry(null, null));
            _session.Report(new BuildProgress(BuildProgressKind.Step, _stageName, instruction.StartLine, Flatten(instruction.Original)) { CacheHit = false });
            return;
        }

        var info = await WriteLayerAsync(entries, cancellationToken).ConfigureAwait(false);
        _image = _image.AppendLayer(info.Descriptor, info.DiffId, history);
        if (!applyFromBlob)
        {
            _fs?.Apply(entries);
        }
        else if (_fs is not null)
        {
            _unapplied.Add(info.Descriptor);
        }

        _session.AddCacheEntry(key, new LayerCache.Entry(info.Descriptor, info.DiffId, info.UncompressedSize));
        _session.RecordStep(_stage.Index, key, new LayerCache.Entry(info.Descriptor, info.DiffId, info.UncompressedSize));
        _session.Report(new BuildProgress(BuildProgressKind.Step, _stageName, instruction.StartLine, Flatten(instruction.Original)) { CacheHit = false, Bytes = info.Descriptor.Size });
    }

    private async Task<LayerInfo> WriteLayerAsync(IReadOnlyList<LayerEntry> entries, CancellationToken cancellationToken)
    {
        // Kept in the build's scratch directory (not yet a blob) until the whole build succeeds.
        var (info, path) = await OciLayout.WriteLayerFileAsync(
            _session.ScratchDirectory, (output, ct) => LayerWriter.WriteAsync(entries, output, _session.LayerOptions, ct), cancellationToken).ConfigureAwait(false);
        _session.AddScratchBlob(info.Descriptor, path);
        return info;
    }

    private string CacheKey(string step, IEnumerable<string> inputs) =>
        LayerCache.Key([
            // The layer options' cache identity names the compressor (codec, level, library versions): the same
            // step compressed by another zlib is another blob, so a key shared through a registry must differ.
            "ocikit-build-v2", Identity(), _session.LayerOptions.CacheIdentity,
            step, .. inputs]);

    private async Task WorkdirAsync(WorkdirInstruction instruction, CancellationToken cancellationToken)
    {
        var path = _session.Expand(instruction.Path, ExpansionEnvironment, instruction);
        if (path.Length == 0)
        {
            throw _session.Error(instruction, "WORKDIR cannot be empty");
        }

        var absolute = path.StartsWith('/') ? path : (Container.WorkingDir ?? "/").TrimEnd('/') + "/" + path;
        var clean = "/" + string.Join('/', Normalize(absolute));
        _image = _image.WithWorkingDir(clean);

        var user = Container.User;
        var key = CacheKey("WORKDIR " + clean + " " + user, []);
        await CommitLayerAsync(instruction, "WORKDIR " + clean, key, async () =>
        {
            var fs = await FileSystemAsync(cancellationToken).ConfigureAwait(false);
            var relative = clean.TrimStart('/');
            if (relative.Length == 0 || fs.Get(relative, followFinal: true) is { IsDirectory: true })
            {
                return [];
            }

            var (uid, gid) = await ResolveUserAsync(user, instruction, cancellationToken).ConfigureAwait(false);
            var entries = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
            var resolved = fs.Resolve(relative, followFinal: true);
            AddParents(entries, fs, resolved + "/x", uid, gid, link: false);
            return [.. entries.Values];
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The numeric owner for USER (as WORKDIR creates directories for it); 0:0 when unset.</summary>
    private async Task<(int Uid, int Gid)> ResolveUserAsync(string? user, Instruction at, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(user))
        {
            return (0, 0);
        }

        return await ResolveOwnerAsync(user, at, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Resolves <c>user[:group]</c> by BuildKit's rules (<see cref="Execution.PasswdDatabase.TryResolveOwner"/>); names
    /// are looked up in the stage's own <c>/etc/passwd</c> and <c>/etc/group</c>, which are read only when a name is used.
    /// </summary>
    private async Task<(int Uid, int Gid)> ResolveOwnerAsync(string spec, Instruction at, CancellationToken cancellationToken)
    {
        if (Execution.PasswdDatabase.Empty.TryResolveOwner(spec, out var uid, out var gid, out _))
        {
            return (uid, gid);
        }

        var passwd = await PasswdAsync(cancellationToken).ConfigureAwait(false);
        return passwd.TryResolveOwner(spec, out uid, out gid, out var unresolved)
            ? (uid, gid)
            : throw _session.Error(at, $"unable to find user or group '{unresolved}' in the image's /etc/passwd or /etc/group");
    }

    /// <summary>The stage's user and group names, from its <c>/etc/passwd</c> and <c>/etc/group</c> (symlinks resolved inside the image).</summary>
    private async Task<Execution.PasswdDatabase> PasswdAsync(CancellationToken cancellationToken)
    {
        var fs = await FileSystemAsync(cancellationToken).ConfigureAwait(false);
        var passwd = fs.Resolve("etc/passwd", followFinal: true);
        var group = fs.Resolve("etc/group", followFinal: true);
        await fs.MaterializeAsync([passwd, group], _session.OpenBlob, _session.Scratch, cancellationToken).ConfigureAwait(false);
        return Execution.PasswdDatabase.Parse(await ReadAsync(passwd).ConfigureAwait(false), await ReadAsync(group).ConfigureAwait(false));

        async Task<string?> ReadAsync(string path)
        {
            if (fs.GetExact(path) is not { Type: LayerEntryType.File, Open: { } open })
            {
                return null;
            }

            using var reader = new StreamReader(open());
            return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Adds the directories above <paramref name="path"/> to a layer: those the image has keep their metadata (so the
    /// layer does not reset them); missing ones are created <c>0755</c> for the given owner.
    /// </summary>
    private static void AddParents(Dictionary<string, LayerEntry> entries, ImageFs? fs, string path, int uid, int gid, bool link)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = new StringBuilder();
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (current.Length > 0)
            {
                current.Append('/');
            }

            current.Append(parts[i]);
            var dir = current.ToString();
            if (entries.ContainsKey(dir))
            {
                continue;
            }

            var existing = link ? null : fs?.GetExact(dir);
            entries[dir] = existing is { IsDirectory: true }
                ? LayerEntry.Directory(dir, existing.Mode) with { Uid = existing.Uid, Gid = existing.Gid }
                : LayerEntry.Directory(dir, (UnixFileMode)0x1ED) with { Uid = uid, Gid = gid };
        }
    }

    private static List<string> Normalize(string path)
    {
        var result = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (result.Count > 0)
                {
                    result.RemoveAt(result.Count - 1);
                }

                continue;
            }

            result.Add(part);
        }

        return result;
    }

    /// <summary>Merges the layers this stage added into one (<see cref="BuildOptions.Squash"/>).</summary>
    private async Task SquashAsync(CancellationToken cancellationToken)
    {
        var added = _image.Layers.RemoveRange(0, _baseLayerCount);
        await _session.EnsureLocalAsync(added, null, cancellationToken).ConfigureAwait(false);
        var merged = ImageFs.Empty;
        foreach (var layer in added)
        {
            await merged.ApplyLayerAsync(layer, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
        }

        var paths = AllPaths(merged, "").ToList();
        await merged.MaterializeAsync(paths, _session.OpenBlob, _session.Scratch, cancellationToken).ConfigureAwait(false);
        var entries = new List<LayerEntry>();
        foreach (var path in paths)
        {
            var node = merged.GetExact(path)!;
            entries.Add(ToEntry(path, node, node.Uid, node.Gid, node.Mode));
        }

        var info = await WriteLayerAsync(entries, cancellationToken).ConfigureAwait(false);
        var baseHistory = new List<HistoryEntry>();
        var stageHistory = new List<HistoryEntry>();
        var layersSeen = 0;
        foreach (var entry in _image.Config.History)
        {
            if (layersSeen < _baseLayerCount)
            {
                baseHistory.Add(entry);
                layersSeen += entry.EmptyLayer ? 0 : 1;
            }
            else
            {
                stageHistory.Add(entry with { EmptyLayer = true });
            }
        }

        var squashed = new Image(_image.Config with { DiffIds = _image.Config.DiffIds.RemoveRange(_baseLayerCount, added.Length), History = [.. baseHistory, .. stageHistory] }, _image.Layers.RemoveRange(_baseLayerCount, added.Length), _image.ManifestMediaType);
        _image = squashed.AppendLayer(info.Descriptor, info.DiffId, new HistoryEntry { Created = _session.Timestamp, CreatedBy = $"squashed {added.Length} layers", Comment = HistoryComment });
        _fs = null;
    }

    private static IEnumerable<string> AllPaths(FileTree tree, string directory)
    {
        foreach (var name in tree.ListExact(directory))
        {
            var path = directory.Length == 0 ? name : directory + "/" + name;
            yield return path;
            if (tree.GetExact(path) is { IsDirectory: true })
            {
                foreach (var child in AllPaths(tree, path))
                {
                    yield return child;
                }
            }
        }
    }

    private static LayerEntry ToEntry(string path, FileNode node, int uid, int gid, UnixFileMode mode) => node.Type switch
    {
        LayerEntryType.Directory => LayerEntry.Directory(path, mode) with { Uid = uid, Gid = gid },
        LayerEntryType.Symlink => LayerEntry.Symlink(path, node.LinkTarget!) with { Uid = uid, Gid = gid },
        _ => LayerEntry.File(path, node.Size, node.Open ?? throw new InvalidOperationException($"No content for '{path}'."), mode) with { Uid = uid, Gid = gid },
    };
}
