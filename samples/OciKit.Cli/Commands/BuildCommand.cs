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
        var skipRun = new Option<bool>("--skip-run") { Description = "Skip RUN instructions with a warning instead of failing." };
        var squash = new Option<bool>("--squash") { Description = "Merge the final stage's new layers into one." };
        var noCache = new Option<bool>("--no-cache") { Description = "Neither use nor record the build cache." };
        var push = new Option<bool>("--push") { Description = "Push the image to each tag's registry after building." };
        var zstd = new Option<bool>("--zstd") { Description = "Compress new layers with zstd instead of gzip." };
        var archive = new Option<string?>("--output-archive") { Description = "Also write the image to this archive file (needs --tag)." };
        var archiveFormat = new Option<ArchiveFormat>("--archive-format") { Description = "oci (oci-archive) or docker (docker save tarball).", DefaultValueFactory = _ => ArchiveFormat.Oci };
        var sbom = new Option<bool>("--sbom")
        {
            Description = "Generate the image's SPDX SBOM and attach it: in the store (an artifact referring to the image, read by 'sbom --attached NAME'), and with --push in each tag's registry (referrers). Needs a tag.",
        };

        var command = new Command("build", "Build an image from a Dockerfile, without a daemon.");
        command.Arguments.Add(context);
        foreach (var option in new Option[] { file, tags, buildArgs, target, platform, skipRun, squash, noCache, push, zstd, archive, archiveFormat, sbom })
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

            if (archivePath is not null && tagList.Length == 0)
            {
                throw new ArgumentException("Writing an archive needs at least one tag.");
            }

            var withSbom = parseResult.GetValue(sbom);
            if (withSbom && tagList.Length == 0)
            {
                throw new ArgumentException("Attaching an SBOM needs at least one tag (the store keeps it beside the tag's repository).");
            }

            // The build pulls base images it does not have through this client, and the delivery below pushes with it.
            using var client = session.CreateClient();
            var options = new BuildOptions(Path.GetFullPath(parseResult.GetValue(context) ?? "."))
            {
                DockerfilePath = parseResult.GetValue(file),
                Tags = [.. tagList],
                BuildArgs = args.ToImmutable(),
                Target = parseResult.GetValue(target),
                Platform = CommandOptions.ParsePlatform(parseResult.GetValue(platform)),
                SkipRun = parseResult.GetValue(skipRun),
                Squash = parseResult.GetValue(squash),
                NoCache = parseResult.GetValue(noCache),
                StorePath = session.StorePath,
                Compression = parseResult.GetValue(zstd) ? Layers.LayerCompression.Zstd : Layers.LayerCompression.Gzip,
                BaseImages = new RegistryBaseImages(client),
                TrustPolicy = await policy.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false),
            };

            var progress = quiet ? null : new SynchronousProgress(report =>
            {
                var text = report.Kind switch
                {
                    BuildProgressKind.Warning => $"warning: {report.Message}",
                    BuildProgressKind.Pull => $"[{report.Stage}] {report.Message}",
                    _ => $"[{report.Stage}] {report.Message}" + (report.CacheHit == true ? "  (cached)" : ""),
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
            if (archivePath is not null || pushAfter)
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

    /// <summary>Reports on the calling thread, so lines come out in build order (Progress&lt;T&gt; would post them).</summary>
    private sealed class SynchronousProgress(Action<BuildProgress> report) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => report(value);
    }
}
