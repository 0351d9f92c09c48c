using System.Text.Json;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Foreign;

/// <summary>
/// Every verb that reads images, fed every image of the <see cref="ForeignCorpus"/> (images the peers wrote), and
/// checked against what the peers (skopeo, GNU tar) read back from the result.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ForeignImageTests(ForeignCorpus corpus) : IClassFixture<ForeignCorpus>
{
    private string Host => corpus.Registry.Host;

    /// <summary>Every case of the corpus.</summary>
    public static TheoryData<string> Cases() => new(ForeignCorpus.Names);

    [Fact]
    public void Each_case_has_the_trait_it_is_named_for()
    {
        // Peers change defaults between versions (and skopeo reuses blobs it has seen): a case that lost its trait
        // would test nothing new, so each one is checked on what the registry holds.
        var traits = new Dictionary<string, Func<ForeignCase, bool>>
        {
            ["tar-dot"] = c => c.Input.RawLayerEntries[0][0] == "./" && c.Input.LayerMediaTypes[0] == MediaTypes.OciLayer,
            ["tar-bare"] = c => c.Input.RawLayerEntries[0].All(e => !e.EndsWith('/') && !e.StartsWith("./", StringComparison.Ordinal)),
            ["umoci"] = c => c.Source.StartsWith("oci:", StringComparison.Ordinal),
            ["buildah-commit"] = c => !c.Input.IsDockerSchema2,
            ["buildah-bud"] = c => c.Input.IsDockerSchema2 && c.Source.StartsWith("docker-archive:", StringComparison.Ordinal),
            ["podman-build"] = c => c.Source.StartsWith("docker-archive:", StringComparison.Ordinal),
            ["skopeo-v2s2"] = c => c.Input.IsDockerSchema2 && c.Input.LayerMediaTypes.All(m => m == MediaTypes.DockerLayerGzip),
            ["skopeo-zstd"] = c => c.Input.LayerMediaTypes.All(m => m == MediaTypes.OciLayerZstd),
            ["skopeo-oci-archive"] = c => c.Source.StartsWith("oci-archive:", StringComparison.Ordinal),
            ["skopeo-docker-archive"] = c => c.Source.StartsWith("docker-archive:", StringComparison.Ordinal),
            ["skopeo-dir"] = c => c.Source.StartsWith("docker://", StringComparison.Ordinal),
            ["attestation"] = c => c.IsIndex && c.Input.TopDigest != c.Input.ManifestDigest,
            ["no-history"] = c => c.Input.Config["history"] is null,
            ["history-more"] = c => NonEmptyHistory(c) > c.Input.DiffIds.Count,
            ["history-fewer"] = c => NonEmptyHistory(c) < c.Input.DiffIds.Count,
        };
        Assert.Equal(ForeignCorpus.Names.Order(), traits.Keys.Order());
        foreach (var name in ForeignCorpus.Names)
        {
            var c = corpus[name];
            Assert.True(traits[name](c), $"the corpus case '{name}' lacks its trait: media types [{string.Join(", ", c.Input.LayerMediaTypes)}], first entries [{string.Join(", ", c.Input.RawLayerEntries[0].Take(3))}], source {c.Source}");
            Assert.Contains("bin/busybox", c.Input.Files);
            Assert.Contains("hello.txt", c.Input.Files);
            Assert.Equal(name == "attestation", c.IsIndex);
        }

        static int NonEmptyHistory(ForeignCase c)
            => c.Input.Config["history"]!.AsArray().Count(h => h!["empty_layer"]?.GetValue<bool>() != true);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Build_FROM_a_foreign_image_keeps_its_layers_and_adds_one(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-build");
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "add.txt"), "added\n");
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), $"FROM {c.Reference}\nCOPY add.txt /added/add.txt\n");
        var output = $"{Host}/built/{name}:1";

        var build = (await new CliRun(dir).RunAsync("build", "-q", "--push", "-t", output, context)).Succeeded();

        var built = await PeerView.LoadAsync("docker://" + output, dir.Combine("built"));
        Assert.Equal(build.LastLine, built.ManifestDigest);
        Assert.Equal([.. c.Input.DiffIds, built.DiffIds[^1]], built.DiffIds);
        Assert.Contains("added/add.txt", built.LayerFiles[^1]);
        AssertSameFiles([.. c.Input.Files, "added", "added/add.txt"], built.Files, name);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task COPY_from_a_foreign_stage_and_image_copies_the_files_the_peers_read(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-copyfrom");
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), $"""
            FROM {c.Reference} AS foreign
            FROM scratch
            COPY --from=foreign /etc/passwd /bin/busybox /copied/
            COPY --from={c.Reference} /hello.txt /copied/
            """);
        var output = $"{Host}/copied-from/{name}:1";

        (await new CliRun(dir).RunAsync("build", "-q", "--push", "-t", output, context)).Succeeded();

        var built = await PeerView.LoadAsync("docker://" + output, dir.Combine("built"));
        AssertSameFiles(["copied", "copied/busybox", "copied/hello.txt", "copied/passwd"], built.Files, name);
        var input = dir.Combine("input-rootfs");
        var result = dir.Combine("built-rootfs");
        await c.Input.ExtractAsync(input);
        await built.ExtractAsync(result);
        foreach (var (from, to) in new[] { ("etc/passwd", "copied/passwd"), ("bin/busybox", "copied/busybox"), ("hello.txt", "copied/hello.txt") })
        {
            var expected = await File.ReadAllBytesAsync(Path.Combine(input, from));
            var actual = await File.ReadAllBytesAsync(Path.Combine(result, to));
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name}: /{to} differs from the foreign image's /{from}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Diff_and_commit_on_a_foreign_image_append_the_change(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-commit");
        var cli = new CliRun(dir);
        var lower = dir.Combine("lower");
        var upper = dir.Combine("upper");
        await c.Input.ExtractAsync(lower);
        await Tool.RunCheckedAsync("cp", ["-a", lower, upper]);
        File.Delete(Path.Combine(upper, "hello.txt"));
        await File.WriteAllTextAsync(Path.Combine(upper, "committed.txt"), "committed\n");

        var layer = dir.Combine("layer.tar.gz");
        var diff = (await cli.RunAsync("diff", lower, upper, "-o", layer)).Succeeded();
        Assert.Equal([".wh.hello.txt", "committed.txt"], (await PeerView.ListLayerAsync(layer)).Order(StringComparer.Ordinal));

        (await cli.RunAsync("pull", "-q", c.Reference)).Succeeded();
        var commit = (await cli.RunAsync("commit", c.Reference, "committed/" + name + ":1", "--lower", lower, "--upper", upper, "-m", "foreign")).Succeeded();
        var output = $"{Host}/committed/{name}:1";
        Assert.Equal(commit.LastLine, (await cli.RunAsync("push", "-q", "committed/" + name + ":1", output)).Succeeded().LastLine);

        var committed = await PeerView.LoadAsync("docker://" + output, dir.Combine("committed"));
        Assert.Equal(commit.LastLine, committed.ManifestDigest);
        Assert.Equal(c.Input.LayerDigests.Count + 1, committed.LayerDigests.Count);
        Assert.Equal(diff.LastLine, committed.LayerDigests[^1]);
        Assert.Equal([.. c.Input.DiffIds, committed.DiffIds[^1]], committed.DiffIds);
        AssertSameFiles([.. c.Input.Files.Where(f => f != "hello.txt"), "committed.txt"], committed.Files, name);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Inspect_reports_the_id_digest_and_layers_skopeo_reads(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-inspect");
        var cli = new CliRun(dir);

        var remote = JsonDocument.Parse((await cli.RunAsync("inspect", "--remote", c.Reference)).Succeeded().StdOut).RootElement[0];
        AssertInspection(remote, c.Input.TopDigest);

        // pull keeps the current platform's image of an index (and the whole index with --all-platforms).
        (await cli.RunAsync("pull", "-q", c.Reference)).Succeeded();
        AssertInspection(JsonDocument.Parse((await cli.RunAsync("inspect", c.Reference)).Succeeded().StdOut).RootElement[0], c.Input.ManifestDigest);
        Assert.Equal(c.Input.ManifestDigest + "\n", (await cli.RunAsync("digest", c.Reference)).Succeeded().StdOut);
        if (c.IsIndex)
        {
            (await cli.RunAsync("pull", "-q", "--all-platforms", c.Reference)).Succeeded();
            AssertInspection(JsonDocument.Parse((await cli.RunAsync("inspect", c.Reference)).Succeeded().StdOut).RootElement[0], c.Input.TopDigest);
            Assert.Equal(c.Input.TopDigest + "\n", (await cli.RunAsync("digest", c.Reference)).Succeeded().StdOut);
        }

        void AssertInspection(JsonElement json, string digest)
        {
            Assert.Equal(c.Input.ConfigDigest, json.GetProperty("Id").GetString());
            Assert.Equal(digest, json.GetProperty("Digest").GetString());
            Assert.Equal(c.Input.ManifestDigest, json.GetProperty("Manifest").GetProperty("Digest").GetString());
            Assert.Equal(c.Input.DiffIds, json.GetProperty("RootFS").GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Images_rmi_and_prune_list_then_remove_a_foreign_image_completely(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-store");
        var cli = new CliRun(dir);
        (await cli.RunAsync("pull", "-q", c.Reference)).Succeeded();

        var rows = (await cli.RunAsync("images")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var row = Assert.Single(rows[1..]).Split("   ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"{Host}/foreign/{name}", row[0]);
        Assert.Equal("1", row[1]);
        Assert.Equal(c.Input.ConfigDigest["sha256:".Length..][..12], row[2]);

        (await cli.RunAsync("rmi", c.Reference)).Succeeded();
        Assert.Single((await cli.RunAsync("images")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        (await cli.RunAsync("prune")).Succeeded();
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(cli.Store, "blobs"), "*", SearchOption.AllDirectories));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Copy_to_every_location_keeps_the_digests_skopeo_reads(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-copy");
        var cli = new CliRun(dir);
        var sources = new[] { c.Source, "docker://" + c.Reference }.Distinct().ToList();
        var hop = 0;
        foreach (var source in sources)
        {
            var sourceKeepsManifest = !source.StartsWith("docker-archive:", StringComparison.Ordinal);
            var sourceDigest = sourceKeepsManifest ? await PeerView.RawDigestAsync(source) : null;
            var destinations = new (string Location, Func<Task<PeerView>> Read)[]
            {
                ($"docker://{Host}/copied/{name}:{++hop}", null!),
                ($"oci:{dir.Combine("layout" + hop)}:copied", () => PeerView.LoadLayoutAsync(dir.Combine("layout" + hop), "copied")),
                ($"oci-archive:{dir.Combine(hop + ".oci.tar")}:copied", async () =>
                {
                    var unpacked = Directory.CreateDirectory(dir.Combine("unpacked" + hop)).FullName;
                    await Tool.RunCheckedAsync("tar", ["-xf", dir.Combine(hop + ".oci.tar"), "-C", unpacked]);
                    return await PeerView.LoadLayoutAsync(unpacked, "copied");
                }),
                ($"docker-archive:{dir.Combine(hop + ".docker.tar")}:copied/{name}:1", null!),
            };
            foreach (var (destination, readLayout) in destinations)
            {
                var copy = (await cli.RunAsync("copy", "-q", source, destination)).Succeeded();
                var what = $"{name}: ocikit copy {source} {destination}";
                var copied = readLayout is null
                    ? await PeerView.LoadAsync(destination, corpus.NewDirectory(name))
                    : await readLayout();
                if (!destination.StartsWith("docker-archive:", StringComparison.Ordinal))
                {
                    // The manifest (or index) is copied byte for byte, so the destination has the digest ocikit printed.
                    Assert.True(copy.LastLine == copied.TopDigest, $"{what}: printed {copy.LastLine}, the destination holds {copied.TopDigest}");
                    if (sourceDigest is not null)
                    {
                        Assert.True(sourceDigest == copy.LastLine, $"{what}: the digest changed from {sourceDigest} to {copy.LastLine}");
                    }

                    // skopeo 1.9 finds a name in an OCI layout only when its descriptor has an OCI media type (see
                    // PeerView.LoadLayoutAsync); a Docker v2 schema 2 image copied with its digest kept is read by hand only.
                    if (readLayout is not null && !copied.IsDockerSchema2)
                    {
                        Assert.Equal(copied.TopDigest, await PeerView.RawDigestAsync(destination));
                    }
                }

                Assert.True(c.Input.ConfigDigest == copied.ConfigDigest, $"{what}: config {copied.ConfigDigest}, expected {c.Input.ConfigDigest}");
                Assert.Equal(c.Input.DiffIds, copied.DiffIds);
                AssertSameFiles(c.Input.Files, copied.Files, what);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Containerize_onto_a_foreign_base_keeps_its_layers(string name)
    {
        var c = corpus[name];
        using var dir = new TempDir("ocikit-foreign-publish");
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "app.txt"), "an app\n");
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, []),
            BaseImage = ImageReference.Parse(c.Reference),
            Registry = Host,
            Repository = "published/" + name,
            Tags = ["1"],
            Entrypoint = new ContainerEntrypoint(["/bin/sh"]),
        };

        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var result = await new Containerizer(store, client).ContainerizeAsync(request);

        Assert.Equal(c.Input.ManifestDigest, result.Images[0].BaseManifest.Digest.ToString());
        var published = await PeerView.LoadAsync($"docker://{Host}/published/{name}:1", dir.Combine("published"));
        Assert.Equal(result.Manifest.Digest.ToString(), published.TopDigest);
        Assert.Equal(c.Input.DiffIds, published.DiffIds.Take(c.Input.DiffIds.Count));
        Assert.Contains("app/app.txt", published.Files);
        Assert.Empty(c.Input.Files.Except(published.Files));

        // Published again after a change: the base's tag is asked for again, but not the documents its digests name
        // (an index's platform manifest, the configuration: kept in the store), nor any blob the target's manifest names.
        await File.WriteAllTextAsync(Path.Combine(publish, "app.txt"), "an app, changed\n");
        using var proxy = new FaultProxy(corpus.Registry.BaseUri);
        var again = await new Containerizer(store, client).ContainerizeAsync(request with
        {
            BaseImage = ImageReference.Parse(c.Reference.Replace(Host, proxy.Host, StringComparison.Ordinal)),
            Registry = proxy.Host,
        });
        var baseRepository = "/v2/" + ImageReference.Parse(c.Reference).Repository + "/";
        Assert.Single(proxy.Requests, r => r.Method == "GET" && r.PathAndQuery.StartsWith(baseRepository + "manifests/", StringComparison.Ordinal));
        Assert.DoesNotContain(proxy.Requests, r => r.PathAndQuery.Contains("/blobs/sha256:", StringComparison.Ordinal));
        Assert.Equal(result.Images[0].BaseManifest.Digest, again.Images[0].BaseManifest.Digest);
        var republished = await PeerView.LoadAsync($"docker://{Host}/published/{name}:1", dir.Combine("republished"));
        Assert.Equal(again.Manifest.Digest.ToString(), republished.TopDigest);
        Assert.Equal(c.Input.DiffIds, republished.DiffIds.Take(c.Input.DiffIds.Count));
    }

    [Fact]
    public async Task An_index_holding_only_an_attestation_is_refused_naming_the_image_and_what_it_offers()
    {
        var reference = corpus.AttestationOnlyReference;
        var expected = $"No image '{reference}' in its index: no image for linux/{Platform.Current.Architecture} (the index offers unknown/unknown)";
        using var dir = new TempDir("ocikit-foreign-refused");
        var cli = new CliRun(dir);
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), $"FROM {reference}\n");
        var copyFrom = Directory.CreateDirectory(dir.Combine("copy-from")).FullName;
        await File.WriteAllTextAsync(Path.Combine(copyFrom, "Dockerfile"), $"FROM scratch\nCOPY --from={reference} /hello.txt /\n");

        (await cli.RunAsync("pull", reference)).FailedWith(1, expected);
        (await cli.RunAsync("inspect", "--remote", reference)).FailedWith(1, expected);
        (await cli.RunAsync("build", "-q", context)).FailedWith(1, expected);
        (await cli.RunAsync("build", "-q", copyFrom)).FailedWith(1, expected);
        (await cli.RunAsync("copy", "docker://" + reference, $"docker-archive:{dir.Combine("a.tar")}")).FailedWith(1, expected);
        Assert.False(File.Exists(dir.Combine("a.tar")), "a refused copy left a half-written archive");

        // An OCI layout keeps the index as it is, with its digest.
        var copied = (await cli.RunAsync("copy", "-q", "docker://" + reference, $"oci:{dir.Combine("layout")}:1")).Succeeded().LastLine;
        Assert.Equal(await PeerView.RawDigestAsync("docker://" + reference), copied);
        Assert.Equal(copied, await PeerView.RawDigestAsync($"oci:{dir.Combine("layout")}:1"));

        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "app.txt"), "an app\n");
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(publish, []),
            BaseImage = ImageReference.Parse(reference),
            Repository = "published/attestation-only",
            Entrypoint = new ContainerEntrypoint(["/bin/sh"]),
        };
        using var client = new RegistryClient();
        var e = await Assert.ThrowsAsync<ImageNotFoundException>(async () => await new Containerizer(await OciLayout.OpenAsync(dir.Combine("store")), client).ContainerizeAsync(request));
        Assert.Equal(reference, e.Name);
        Assert.Contains("unknown/unknown", e.Message, StringComparison.Ordinal);
    }

    private static void AssertSameFiles(IEnumerable<string> expected, IReadOnlySet<string> actual, string what)
    {
        var wanted = expected.ToHashSet(StringComparer.Ordinal);
        var missing = wanted.Except(actual).Order(StringComparer.Ordinal).ToList();
        var extra = actual.Except(wanted).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count + extra.Count == 0, $"{what}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
    }
}
