using System.Collections.Immutable;
using System.CommandLine;
using OciKit.Build;
using OciKit.Layout;
using OciKit.References;
using OciKit.Sbom;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit build</c>: builds an image from a Dockerfile into the local store; prints its digest last.</summary>
internal static class BuildCommand
{
    public static Command Create()
    {
        var context = new Argument<string>("context")
        {
            Description = "The build context directory.",
            DefaultValueFactory = _ => ".",
        };
        var file = new Option<string?>("--file", "-f") { Description = "The Dockerfile (default: CONTEXT/Dockerfile)." };
        var tags = new Option<string[]>("--tag", "-t") { Description = "A name for the image, repository[:tag]; repeatable." };
        var buildArgs = new Option<string[]>("--build-arg") { Description = "A build argument NAME=value; repeatable." };
        var target = new Option<string?>("--target") { Description = "The stage to build (default: the last one)." };
        var platform = CommandOptions.Platform();
        var skipRun = new Option<bool>("--skip-run") { Description = "Skip RUN instructions with a warning instead of running them (for machines without a container runtime)." };
        var runtime = new Option<string?>("--runtime") { Description = "The container runtime RUN uses: runc, crun, bwrap or a path (default: the first one usable)." };
        var network = new Option<string>("--network")
        {
            Description = "The network RUN commands get unless they say --network=: host (default) or none.",
            DefaultValueFactory = _ => "host",
        };
        network.AcceptOnlyFromAmong("host", "none", "default");
        var secrets = new Option<string[]>("--secret") { Description = "A secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VARIABLE; repeatable." };
        var squash = new Option<bool>("--squash") { Description = "Merge the final stage's new layers into one." };
        var noCache = new Option<bool>("--no-cache") { Description = "Neither use nor record the build cache (the store's nor a registry's)." };
        var cacheFrom = new Option<string[]>("--cache-from")
        {
            Description = "Also take cached steps from this registry repository's build cache, REGISTRY/REPOSITORY[:TAG] (tag default " + RegistryCache.DefaultTag + "); repeatable.",
        };
        var cacheTo = new Option<string?>("--cache-to")
        {
            Description = "After the build (and the push), record its steps in this registry repository's build cache: REGISTRY/REPOSITORY[:TAG][,mode=min|max] (min: the final stage's steps, the default; max: every stage's).",
        };
        var push = new Option<bool>("--push") { Description = "Push the image to each tag's registry after building." };
        var pushOnly = new Option<bool>("--push-only")
        {
            Description = "With --push: do not record the image in the store (its new layers still go there); layers taken from a registry cache stay in the registry unless a later step reads their files.",
        };
        var zstd = new Option<bool>("--zstd") { Description = "Compress new layers with zstd instead of gzip." };
        var archive = new Option<string?>("--output-archive") { Description = "Also write the image to this archive file (needs --tag)." };
        var archiveFormat = new Option<ArchiveFormat>("--archive-format") { Description = "oci (oci-archive) or docker (docker save tarball).", DefaultValueFactory = _ => ArchiveFormat.Oci };
        var sbom = new Option<bool>("--sbom")
        {
            Description = "Generate the image's SPDX SBOM and attach it: in the store (an artifact referring to the image, read by 'sbom --attached NAME'), and with --push in each tag's registry (referrers). Needs a tag.",
        };

        var command = new Command("build", "Build an image from a Dockerfile, without a daemon.");
        command.Arguments.Add(context);
        foreach (var option in new Option[] { file, tags, buildArgs, target, platform, skipRun, runtime, network, secrets, squash, noCache, cacheFrom, cacheTo, push, pushOnly, zstd, archive, archiveFormat, sbom })
        {
            command.Options.Add(option);
        }

        var policy = PolicyOption.AddTo(command);

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var quiet = session.Quiet;
            var args = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var pair in parseResult.GetValue(buildArgs) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    args[pair[..equals]] = pair[(equals + 1)..];
                }
                else if (Environment.GetEnvironmentVariable(pair) is { } fromEnvironment)
                {
                    // As docker does: --build-arg NAME takes the value from the environment.
                    args[pair] = fromEnvironment;
                }
            }

            var tagList = parseResult.GetValue(tags) ?? [];
            var pushAfter = parseResult.GetValue(push);
            var archivePath = parseResult.GetValue(archive);
            if (pushAfter && tagList.Length == 0)
            {
                throw new ArgumentException("Pushing needs at least one tag.");
            }

            var onlyPushed = parseResult.GetValue(pushOnly);
            if (onlyPushed && (!pushAfter || archivePath is not null || parseResult.GetValue(sbom)))
            {
                throw new ArgumentException("--push-only needs --push, and neither --output-archive nor --sbom (they read the image from the store).");
            }

            if (archivePath is not null && tagList.Length == 0)
            {
                throw new ArgumentException("Writing an archive needs at least one tag.");
            }

            var withSbom = parseResult.GetValue(sbom);
            if (withSbom && tagList.Length == 0)
            {
                throw new ArgumentException("Attaching an SBOM needs at least one tag (the store keeps it beside the tag's repository).");
            }

            var (cacheRepository, cacheMode) = ParseCacheTo(parseResult.GetValue(cacheTo));

            // The build pulls base images it does not have through this client, reads and writes the registry cache
            // with it, and the delivery below pushes with it.
            using var client = session.CreateClient();
            var registryCache = new RegistryCache(client);
            var options = new BuildOptions(Path.GetFullPath(parseResult.GetValue(context) ?? "."))
            {
                DockerfilePath = parseResult.GetValue(file),
                Tags = [.. tagList],
                BuildArgs = args.ToImmutable(),
                Target = parseResult.GetValue(target),
                Platform = CommandOptions.ParsePlatform(parseResult.GetValue(platform)),
                SkipRun = parseResult.GetValue(skipRun),
                Runtime = parseResult.GetValue(runtime),
                Network = parseResult.GetValue(network) == "none" ? Execution.ContainerNetwork.None : Execution.ContainerNetwork.Host,
                Secrets = ParseSecrets(parseResult.GetValue(secrets) ?? []),
                Squash = parseResult.GetValue(squash),
                NoCache = parseResult.GetValue(noCache),
                KeepInStore = !onlyPushed,
                CacheFrom = [.. parseResult.GetValue(cacheFrom) ?? []],
                RegistryCache = registryCache,
                CacheMode = cacheMode,
                StorePath = session.StorePath,
                Compression = parseResult.GetValue(zstd) ? Layers.LayerCompression.Zstd : Layers.LayerCompression.Gzip,
                BaseImages = new RegistryBaseImages(client),
                TrustPolicy = await policy.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false),
            };

            var progress = quiet ? null : new SynchronousProgress(report =>
            {
                var text = report.Kind switch
                {
                    BuildProgressKind.Output => report.Message,
                    BuildProgressKind.Warning => $"warning: {report.Message}",
                    BuildProgressKind.Pull => $"[{report.Stage}] {report.Message}",
                    _ => $"[{report.Stage}] {report.Message}" + (report.CacheHit == true
                        ? report.CacheSource is null or BuildProgress.LocalCacheSource ? "  (cached)" : $"  (cached: {report.CacheSource})"
                        : ""),
                };
                host.Err.WriteLine(text);
            });
            var result = await ImageBuilder.BuildAsync(options, progress, cancellationToken).ConfigureAwait(false);

            // The SBOM of what was built, kept beside it in the store (and pushed below with the image).
            SbomResult? document = null;
            if (withSbom)
            {
                var store = await OciLayout.OpenAsync(session.StorePath, cancellationToken: cancellationToken).ConfigureAwait(false);
                document = await GenerateSbomAsync(store, result.Tags[0], options.Platform, cancellationToken).ConfigureAwait(false);
                foreach (var warning in document.Warnings)
                {
                    await host.Err.WriteLineAsync("warning: " + warning).ConfigureAwait(false);
                }

                foreach (var tag in result.Tags)
                {
                    var artifact = await SbomStore.AttachAsync(store, tag, document, cancellationToken).ConfigureAwait(false);
                    await session.InfoAsync($"sbom {artifact.Digest} ({document.Packages.Length} packages) attached to {tag} in the store").ConfigureAwait(false);
                }
            }

            // Delivered where the user asked: an archive, then each tag's registry.
            if (result.Stored && (archivePath is not null || pushAfter))
            {
                var delivery = new ImageDelivery(await OciLayout.OpenAsync(session.StorePath, cancellationToken: cancellationToken).ConfigureAwait(false));
                if (archivePath is not null)
                {
                    await delivery.WriteArchiveAsync(result.Tags[0], result.Tags, archivePath, parseResult.GetValue(archiveFormat), cancellationToken).ConfigureAwait(false);
                }

                if (pushAfter)
                {
                    await delivery.PushAsync(client, result.Tags, cancellationToken).ConfigureAwait(false);
                    if (document is not null)
                    {
                        foreach (var tag in result.Tags)
                        {
                            var attachment = await new SbomReferrers(client).AttachAsync(ImageReference.Parse(tag), document, cancellationToken).ConfigureAwait(false);
                            await session.InfoAsync($"sbom {attachment.Artifact.Digest} attached to {tag}").ConfigureAwait(false);
                        }
                    }
                }
            }

            if (!result.Stored)
            {
                // Not in the store: pushed from where its parts are (memory, the store's blobs, the cache repository).
                var store = await OciLayout.OpenAsync(session.StorePath, cancellationToken: cancellationToken).ConfigureAwait(false);
                var source = result.PushSource(client, store);
                await using (source.ConfigureAwait(false))
                {
                    await ImageDelivery.PushAsync(client, source, tagList, null, cancellationToken).ConfigureAwait(false);
                }

                if (!quiet)
                {
                    foreach (var tag in tagList)
                    {
                        await host.Err.WriteLineAsync($"pushed {tag} (not stored)").ConfigureAwait(false);
                    }
                }
            }

            // The steps go to the registry cache after the push, so their blobs are mounted from where it put them.
            if (cacheRepository is not null && !options.NoCache)
            {
                var warnings = new WarningLines(host.Err);
                var pushedTo = pushAfter ? ImageReference.Parse(tagList[0]) : null;
                var store = await OciLayout.OpenAsync(session.StorePath, cancellationToken: cancellationToken).ConfigureAwait(false);
                var written = await registryCache.WriteAsync(cacheRepository, result.CacheRecords, store, pushedTo, warnings: warnings, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (!quiet)
                {
                    await host.Err.WriteLineAsync($"cache {cacheRepository}: {written.Written} record(s) written, {written.Records} held").ConfigureAwait(false);
                }
            }

            if (!quiet)
            {
                foreach (var tag in result.Tags)
                {
                    await host.Err.WriteLineAsync($"tagged {tag}").ConfigureAwait(false);
                }
            }

            await session.Out.WriteLineAsync(result.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }

    /// <summary>
    /// Reads <c>--cache-to</c>: <c>REPO[:TAG][,mode=min|max]</c>, also in BuildKit's spelling
    /// <c>type=registry,ref=REPO,mode=…</c>.
    /// </summary>
    internal static (ImageReference? Repository, CacheExportMode Mode) ParseCacheTo(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return (null, CacheExportMode.Min);
        }

        string? repository = null;
        var mode = CacheExportMode.Min;
        foreach (var field in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = field.IndexOf('=', StringComparison.Ordinal);
            switch (eq < 0 ? "ref" : field[..eq].ToLowerInvariant())
            {
                case "ref":
                    repository = eq < 0 ? field : field[(eq + 1)..];
                    break;
                case "mode":
                    mode = field[(eq + 1)..].ToLowerInvariant() switch
                    {
                        "min" => CacheExportMode.Min,
                        "max" => CacheExportMode.Max,
                        var other => throw new ArgumentException($"--cache-to: mode '{other}' is neither min nor max."),
                    };
                    break;
                case "type" when field[(eq + 1)..] == "registry":
                    break;
                default:
                    throw new ArgumentException($"--cache-to: unexpected '{field}' (expected REPO[,mode=min|max]).");
            }
        }

        return (RegistryCache.ParseRepository(repository ?? throw new ArgumentException("--cache-to needs a repository.")), mode);
    }

    /// <summary>The registry cache's warnings as the CLI's warning lines.</summary>
    private sealed class WarningLines(TextWriter err) : IProgress<string>
    {
        public void Report(string value) => err.WriteLine("warning: " + value);
    }

    /// <summary>The SBOM of the image just built, named as <c>ocikit sbom NAME</c> names it from the store.</summary>
    private static async Task<SbomResult> GenerateSbomAsync(OciLayout store, string tag, Primitives.Platform? platform, CancellationToken cancellationToken)
    {
        var source = new OciLayoutImageSource(store, tag);
        await using (source.ConfigureAwait(false))
        {
            var name = ImageReference.TryParse(tag, out var reference) ? SbomGenerator.ImageNameOf(reference) : tag;
            return await new SbomGenerator().GenerateAsync(source, new SbomOptions { Platform = platform, ImageName = name }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads <c>--secret</c> values as docker does: <c>id=ID,src=PATH</c> (also <c>source=</c>), <c>id=ID,env=VAR</c>,
    /// with an optional <c>type=file|env</c>; a bare <c>id=ID</c> reads the variable ID when it is set, else the file ID.
    /// </summary>
    internal static System.Collections.Immutable.ImmutableDictionary<string, BuildSecret> ParseSecrets(IEnumerable<string> values)
    {
        var result = ImmutableDictionary.CreateBuilder<string, BuildSecret>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            string? id = null, src = null, env = null, type = null;
            foreach (var field in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = field.IndexOf('=', StringComparison.Ordinal);
                var key = eq < 0 ? field : field[..eq];
                var v = eq < 0 ? "" : field[(eq + 1)..];
                switch (key.ToLowerInvariant())
                {
                    case "id":
                        id = v;
                        break;
                    case "src" or "source":
                        src = v;
                        break;
                    case "env":
                        env = v;
                        break;
                    case "type":
                        type = v;
                        break;
                    default:
                        throw new ArgumentException($"--secret: unexpected key '{key}' (expected id, src, env or type).");
                }
            }

            if (string.IsNullOrEmpty(id))
            {
                throw new ArgumentException("--secret needs an id (id=ID,src=PATH or id=ID,env=VARIABLE).");
            }

            if (type is not (null or "file" or "env"))
            {
                throw new ArgumentException($"--secret {id}: unsupported type '{type}' (file or env).");
            }

            BuildSecret secret;
            if (type == "env" || env is not null)
            {
                secret = BuildSecret.FromEnvironment(env ?? src ?? id);
            }
            else if (src is not null || type == "file")
            {
                secret = BuildSecret.FromFile(src ?? id);
            }
            else
            {
                secret = Environment.GetEnvironmentVariable(id) is not null ? BuildSecret.FromEnvironment(id) : BuildSecret.FromFile(id);
            }

            result[id] = secret;
        }

        return result.ToImmutable();
    }

    /// <summary>Reports on the calling thread, so lines come out in build order (Progress&lt;T&gt; would post them).</summary>
    private sealed class SynchronousProgress(Action<BuildProgress> report) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => report(value);
    }
}
