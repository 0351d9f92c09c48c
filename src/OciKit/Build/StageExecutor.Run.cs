using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OciKit.Dockerfile;
using OciKit.Execution;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>RUN: the command runs in a container on the stage's file system; what it changed becomes one layer.</summary>
internal sealed partial class StageExecutor
{
    // The stage's writable tree, kept while consecutive RUNs follow one another (each commits its changes and
    // checkpoints it); any other layer step makes it stale, and the next RUN prepares a fresh one.
    private ContainerRootfs? _rootfs;
    private ScratchDirectory? _rootfsScratch;
    private Descriptor[] _rootfsLayers = [];

    // Every ARG the stage declared, in order, with the value the RUN sees (null: declared without a value).
    private readonly List<KeyValuePair<string, string?>> _declaredArgs = [];

    private void DeclareArg(string name, string? value)
    {
        var index = _declaredArgs.FindIndex(a => a.Key == name);
        if (index >= 0)
        {
            _declaredArgs[index] = new(name, value);
        }
        else
        {
            _declaredArgs.Add(new(name, value));
        }
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private async Task RunCommandAsync(RunInstruction run, CancellationToken cancellationToken)
    {
        var env = ExpansionEnvironment;
        string Expand(string word) => _session.Expand(word, env, run);
        var workingDir = Container.WorkingDir is { Length: > 0 } wd ? wd : "/";
        var user = Container.User ?? "";

        if (run.Security is { } security && Expand(security) == "insecure")
        {
            throw _session.Error(run, "RUN --security=insecure is not supported");
        }

        var network = (run.Network is { } n ? Expand(n) : "default") switch
        {
            "none" => ContainerNetwork.None,
            "host" => ContainerNetwork.Host,
            "default" => _session.Options.Network,
            var other => throw _session.Error(run, $"unsupported network mode \"{other}\""),
        };

        var mounts = run.Mounts.Select(m => RunMountSpec.Parse(m, Expand, workingDir, problem => _session.Error(run, problem))).ToList();
        var targets = mounts.Where(m => m.Target.Length > 0).GroupBy(m => m.Target, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (targets is not null)
        {
            throw _session.Error(run, $"more than one mount at '{targets.Key}'");
        }

        var args = RunCommandLine.Args(run, Container.Shell is { IsDefaultOrEmpty: false } shell ? shell : DefaultShell, out var script);

        // The command's environment: the image's, then the build arguments in scope that ENV does not set (ENV wins);
        // build arguments reach the command, never the config.
        var processEnv = new List<string>(Container.Env ?? []);
        var imageEnvNames = processEnv.Select(e => e.Split('=', 2)[0]).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, value) in _declaredArgs)
        {
            if (value is not null && !imageEnvNames.Contains(name))
            {
                processEnv.Add(name + "=" + value);
            }
        }

        var shownArgs = _declaredArgs.Select(a => new KeyValuePair<string, string>(a.Key, env.GetValueOrDefault(a.Key) ?? a.Value ?? "")).ToList();
        var createdBy = RunCommandLine.CreatedBy(args, shownArgs);

        string key = "";
        if (!_session.Options.NoCache)
        {
            // The parent, the command, its environment (build argument values included, as BuildKit keys them), user,
            // working directory, network and every mount's settings and, for bind mounts, content; never a secret's or
            // a cache mount's content.
            List<string> inputs = ["args", .. args, "env", .. processEnv, "user " + user, "workdir " + workingDir, "network " + network];
            if (script is { } s)
            {
                inputs.Add("script " + s.Name + " " + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s.Content))));
            }

            foreach (var mount in mounts)
            {
                inputs.Add(mount.Describe());
                if (mount.Kind == RunMountKind.Bind)
                {
                    inputs.AddRange(await DescribeBindSourceAsync(mount, run, cancellationToken).ConfigureAwait(false));
                }
            }

            key = CacheKey("RUN", inputs);
        }

        var produced = false;
        await CommitLayerAsync(run, createdBy, key, async () =>
        {
            var rootfs = await RootfsAsync(cancellationToken).ConfigureAwait(false);
            produced = true;
            var process = await RunContainerAsync(run, rootfs, args, script, processEnv, user, workingDir, network, mounts, cancellationToken).ConfigureAwait(false);
            return await rootfs.GetLayerEntriesAsync([.. ContainerRuntimes.ProvidedPaths(process, rootfs.Path)], _session.Timestamp, cancellationToken).ConfigureAwait(false);
        }, cancellationToken, applyFromBlob: true).ConfigureAwait(false);

        if (produced && _rootfs is not null)
        {
            // The tree now holds exactly the image's layers: the next RUN continues on it.
            await _rootfs.CheckpointAsync(cancellationToken).ConfigureAwait(false);
            _rootfsLayers = [.. _image.Layers];
        }
    }

    /// <summary>Runs the command to completion in a container on <paramref name="rootfs"/>; a non-zero exit is a <see cref="BuildException"/>.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private async Task<ContainerProcess> RunContainerAsync(
        RunInstruction run, ContainerRootfs rootfs, IReadOnlyList<string> args, (string Name, string Content)? script, List<string> env,
        string user, string workingDir, ContainerNetwork network, List<RunMountSpec> specs, CancellationToken cancellationToken)
    {
        var runtime = _session.Runtime(run);
        using var state = ScratchDirectory.Create(_session.Store.Root, "run-");
        var sources = new List<IAsyncDisposable>();
        try
        {
            var mounts = new List<ContainerMount>();
            var masked = new List<string>();
            var processEnv = new List<string>(env);
            var index = 0;
            foreach (var spec in specs)
            {
                var mount = await PrepareMountAsync(run, spec, state.Path, index++, processEnv, masked, sources, cancellationToken).ConfigureAwait(false);
                if (mount is not null)
                {
                    mounts.Add(mount);
                }
            }

            if (script is { } s)
            {
                var scripts = Directory.CreateDirectory(Path.Combine(state.Path, "scripts")).FullName;
                var file = Path.Combine(scripts, s.Name);
                await File.WriteAllTextAsync(file, s.Content, cancellationToken).ConfigureAwait(false);
                File.SetUnixFileMode(file, (UnixFileMode)0x1ED);
                mounts.Add(new ContainerMount(ContainerMountType.Bind, file, RunCommandLine.ScriptDirectory + "/" + s.Name, ReadOnly: true));
            }

            var process = new ContainerProcess
            {
                Args = args,
                Env = processEnv,
                User = user,
                WorkingDir = workingDir,
                Network = network,
                Mounts = mounts,
            };

            // An unprivileged user's tree records what the command creates as the command's user (bwrap maps one id).
            if (PreparedContainer.ResolveUser(rootfs.Path, user, out _) is { } owner)
            {
                rootfs.Creator = (owner.Uid, owner.Gid);
            }

            var output = new RunOutput(line => _session.Report(new BuildProgress(BuildProgressKind.Output, _stageName, run.StartLine, line)), masked);
            var runtimeState = Directory.CreateDirectory(Path.Combine(state.Path, "runtime")).FullName;
            var id = "ocikit-run-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            int exitCode;
            try
            {
                exitCode = await runtime.RunAsync(new ContainerRun(id, rootfs.Path, runtimeState, process, new ContainerIO { Stdout = output, Stderr = output }), cancellationToken).ConfigureAwait(false);
            }
            catch (ContainerRunException ex)
            {
                await DiscardRootfsAsync().ConfigureAwait(false);
                throw _session.Error(run, "RUN could not be started: " + ex.Message, ex);
            }
            catch
            {
                await DiscardRootfsAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                output.Flush();
            }

            if (exitCode != 0)
            {
                // Nothing of a failed command is kept: its tree is thrown away.
                await DiscardRootfsAsync().ConfigureAwait(false);
                var shown = string.Join(' ', args);
                foreach (var secret in masked)
                {
                    shown = shown.Replace(secret, "****", StringComparison.Ordinal);
                }

                var message = new StringBuilder().Append(CultureInfo.InvariantCulture, $"RUN failed: process \"{Flatten(shown)}\" did not complete successfully: exit code: {exitCode}");
                var last = output.LastLines;
                if (last.Count > 0)
                {
                    message.Append("\nlast output lines:");
                    foreach (var line in last)
                    {
                        message.Append("\n  ").Append(line);
                    }
                }

                throw new BuildException(_session.Options.DisplayName, run.StartLine, message.ToString()) { ExitCode = exitCode, OutputTail = last };
            }

            return process;
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The stage's writable tree on its current layers (the kept one when still current, else a fresh one).</summary>
    private async Task<ContainerRootfs> RootfsAsync(CancellationToken cancellationToken)
    {
        if (_rootfs is not null && _rootfsLayers.AsSpan().SequenceEqual(_image.Layers.AsSpan()))
        {
            return _rootfs;
        }

        await DiscardRootfsAsync().ConfigureAwait(false);
        await _session.EnsureLocalAsync(_image.Layers, null, cancellationToken).ConfigureAwait(false);
        _rootfsScratch = ScratchDirectory.Create(_session.Store.Root, "rootfs-");
        try
        {
            _rootfs = await ContainerRootfs.PrepareAsync(
                [.. _image.Layers], (layer, _) => Task.FromResult(_session.OpenBlob(layer)),
                new RootfsOptions { WorkDirectory = _rootfsScratch.Path, LayerCacheDirectory = _session.RootfsCacheDirectory }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await DiscardRootfsAsync().ConfigureAwait(false);
            throw;
        }

        _rootfsLayers = [.. _image.Layers];
        return _rootfs;
    }

    /// <summary>Drops the stage's writable tree (at the stage's end, or after a failed command).</summary>
    private async Task DiscardRootfsAsync()
    {
        var rootfs = _rootfs;
        _rootfs = null;
        _rootfsLayers = [];
        try
        {
            if (rootfs is not null)
            {
                await rootfs.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _rootfsScratch?.Dispose();
            _rootfsScratch = null;
        }
    }

    /// <summary>Makes one mount's host side ready; null for an optional secret the build was not given.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private async Task<ContainerMount?> PrepareMountAsync(
        RunInstruction run, RunMountSpec spec, string state, int index, List<string> env, List<string> masked, List<IAsyncDisposable> sources, CancellationToken cancellationToken)
    {
        switch (spec.Kind)
        {
            case RunMountKind.Tmpfs:
            {
                List<string> options = spec.Size is { } size ? ["size=" + size.ToString(CultureInfo.InvariantCulture)] : [];
                return new ContainerMount(ContainerMountType.Tmpfs, "tmpfs", spec.Target, ReadOnly: false) { Options = options };
            }

            case RunMountKind.Cache:
            {
                // Kept between builds in the store's private folder, by id; never part of a layer or the cache key's content.
                var directory = Path.Combine(_session.CacheMountsDirectory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(spec.Id))));

                // Held shared while the command runs (the sources are disposed after it): prune --build-cache deletes
                // only cache mounts nobody holds.
                Directory.CreateDirectory(_session.CacheMountsDirectory);
                sources.Add(await CacheFolder.UseAsync(directory, cancellationToken).ConfigureAwait(false));
                if (!Directory.Exists(directory))
                {
                    var created = Directory.CreateDirectory(directory + CacheFolder.CreatingInfix + Guid.NewGuid().ToString("N"));
                    File.SetUnixFileMode(created.FullName, spec.Mode);
                    if (spec.Uid != 0 || spec.Gid != 0)
                    {
                        RootfsNative.Lchown(created.FullName, spec.Uid, spec.Gid);
                    }

                    try
                    {
                        Directory.Move(created.FullName, directory);
                    }
                    catch (IOException) when (Directory.Exists(directory))
                    {
                        // Another build created it first.
                        Directory.Delete(created.FullName);
                    }
                }

                return new ContainerMount(ContainerMountType.Bind, directory, spec.Target, spec.ReadOnly);
            }

            case RunMountKind.Secret:
            {
                var value = _session.Options.Secrets.TryGetValue(spec.Id, out var secret) ? await secret.ReadAsync(cancellationToken).ConfigureAwait(false) : null;
                if (value is null)
                {
                    return spec.Required ? throw _session.Error(run, $"secret {spec.Id}: not found") : null;
                }

                var text = Encoding.UTF8.GetString(value);
                foreach (var part in text.Split('\n'))
                {
                    if (part.Trim().Length >= 4)
                    {
                        masked.Add(part.Trim());
                    }
                }

                if (text.Trim().Length > 0)
                {
                    masked.Add(text.Trim());
                }

                if (spec.Env is { } variable)
                {
                    env.Add(variable + "=" + text);
                }

                if (spec.Target.Length == 0)
                {
                    return null;
                }

                var secrets = Directory.CreateDirectory(Path.Combine(state, "secrets")).FullName;
                File.SetUnixFileMode(secrets, (UnixFileMode)0x1C0);
                var file = Path.Combine(secrets, index.ToString(CultureInfo.InvariantCulture));
                await using (var stream = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = (UnixFileMode)0x180 }))
                {
                    await stream.WriteAsync(value, cancellationToken).ConfigureAwait(false);
                }

                File.SetUnixFileMode(file, spec.Mode);
                if (spec.Uid != 0 || spec.Gid != 0)
                {
                    RootfsNative.Lchown(file, spec.Uid, spec.Gid);
                }

                return new ContainerMount(ContainerMountType.Bind, file, spec.Target, ReadOnly: true);
            }

            default:
                return await PrepareBindAsync(run, spec, state, index, sources, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A bind mount's source on the host. From the context: a copy of the selected files (the context's .dockerignore
    /// applies, and a <c>rw</c> mount's writes never reach the user's files). From a stage or an image: its tree, prepared
    /// as RUN's own; writes are discarded with it.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private async Task<ContainerMount> PrepareBindAsync(RunInstruction run, RunMountSpec spec, string state, int index, List<IAsyncDisposable> sources, CancellationToken cancellationToken)
    {
        var copy = Path.Combine(state, "bind-" + index.ToString(CultureInfo.InvariantCulture));
        if (spec.From is null)
        {
            var selection = Select(_session.Context, spec.Source, null, run, fromContext: true).Single();
            var top = selection.Top;
            if (!top.Node.IsDirectory)
            {
                Directory.CreateDirectory(copy);
                var file = Path.Combine(copy, "file");
                await WriteNodeAsync(file, top.Node, cancellationToken).ConfigureAwait(false);
                return new ContainerMount(ContainerMountType.Bind, file, spec.Target, spec.ReadOnly);
            }

            Directory.CreateDirectory(copy);
            foreach (var (relative, item) in selection.Children)
            {
                await WriteNodeAsync(Path.Combine(copy, relative), item.Node, cancellationToken).ConfigureAwait(false);
            }

            File.SetUnixFileMode(copy, top.Node.Mode);
            return new ContainerMount(ContainerMountType.Bind, copy, spec.Target, spec.ReadOnly);
        }

        var layers = await BindSourceLayersAsync(spec.From, run, cancellationToken).ConfigureAwait(false);
        await _session.EnsureLocalAsync(layers, run, cancellationToken).ConfigureAwait(false);
        var fs = await ImageFs.LoadAsync(layers, _session.OpenBlob, cancellationToken).ConfigureAwait(false);
        var resolved = fs.Resolve(spec.Source, followFinal: true);
        if (resolved.Length > 0 && fs.GetExact(resolved) is null)
        {
            throw _session.Error(run, $"mount source \"/{spec.Source}\" not found in {spec.From}");
        }

        Directory.CreateDirectory(copy);
        var rootfs = await ContainerRootfs.PrepareAsync(
            layers, (layer, _) => Task.FromResult(_session.OpenBlob(layer)),
            new RootfsOptions { WorkDirectory = copy, LayerCacheDirectory = _session.RootfsCacheDirectory }, cancellationToken).ConfigureAwait(false);
        sources.Add(rootfs);
        return new ContainerMount(ContainerMountType.Bind, resolved.Length == 0 ? rootfs.Path : Path.Combine(rootfs.Path, resolved), spec.Target, spec.ReadOnly);
    }

    /// <summary>The cache key lines of a bind mount's source: every selected file's metadata and content digest.</summary>
    private async Task<IReadOnlyList<string>> DescribeBindSourceAsync(RunMountSpec spec, RunInstruction run, CancellationToken cancellationToken)
    {
        if (spec.From is not null)
        {
            if (_session.FindStage(spec.From, _session.Dockerfile.Stages.Length, allowIndex: true) is { } stage)
            {
                return ["stage:" + _session.BuiltStage(stage).Identity];
            }

            var (image, _) = await ResolveFromImageAsync(spec.From, run, cancellationToken).ConfigureAwait(false);
            return ["image:" + Digest.ComputeSha256(image.Config.ToJson())];
        }

        var selection = Select(_session.Context, spec.Source, null, run, fromContext: true).Single();
        var lines = new List<string> { "context", await DescribeAsync(selection.SourcePath, selection.Top, cancellationToken).ConfigureAwait(false) };
        foreach (var (relative, item) in selection.Children)
        {
            lines.Add(await DescribeAsync(relative, item, cancellationToken).ConfigureAwait(false));
        }

        return lines;
    }

    private async Task<IReadOnlyList<Descriptor>> BindSourceLayersAsync(string from, RunInstruction run, CancellationToken cancellationToken)
    {
        if (_session.FindStage(from, _session.Dockerfile.Stages.Length, allowIndex: true) is { } stage)
        {
            return [.. _session.BuiltStage(stage).Image.Layers];
        }

        var (image, _) = await ResolveFromImageAsync(from, run, cancellationToken).ConfigureAwait(false);
        return [.. image.Layers];
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static async Task WriteNodeAsync(string path, FileNode node, CancellationToken cancellationToken)
    {
        switch (node.Type)
        {
            case LayerEntryType.Directory:
                Directory.CreateDirectory(path);
                File.SetUnixFileMode(path, node.Mode);
                break;
            case LayerEntryType.Symlink:
                File.CreateSymbolicLink(path, node.LinkTarget!);
                break;
            case LayerEntryType.File when node.Open is { } open:
            {
                var input = open();
                await using (input.ConfigureAwait(false))
                {
                    var output = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = (UnixFileMode)0x180 });
                    await using (output.ConfigureAwait(false))
                    {
                        await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                    }
                }

                File.SetUnixFileMode(path, node.Mode);
                break;
            }

            default:
                // Devices, fifos and sockets of a context are not copied, as BuildKit's context transfer does not send them.
                break;
        }
    }
}
