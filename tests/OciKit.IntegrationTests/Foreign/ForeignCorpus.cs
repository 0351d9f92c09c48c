using System.Text;
using System.Text.Json.Nodes;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Foreign;

/// <summary>One image of the foreign corpus: made by a peer, pushed to the corpus registry, and kept where the peer wrote it.</summary>
/// <param name="Name">The case's name (also its repository's last component).</param>
/// <param name="Reference">The image in the corpus registry (<c>HOST/foreign/NAME:1</c>).</param>
/// <param name="Source">Where the peer wrote it, in the transport syntax of <c>ocikit copy</c> and skopeo.</param>
/// <param name="Input">The image as the peers see it (read from <paramref name="Reference"/>).</param>
/// <param name="IsIndex">Whether <paramref name="Reference"/> names an index rather than an image manifest.</param>
internal sealed record ForeignCase(string Name, string Reference, string Source, PeerView Input, bool IsIndex);

/// <summary>
/// The foreign-image corpus: images written by the peers themselves (tar, umoci, buildah, podman, skopeo) rather than
/// by OciKit's layer writer, built once at run time into a private loopback registry. Each case is a way real images
/// differ from OciKit's own: <c>./</c>-prefixed entries and a <c>./</c> root entry, no directory entries, uncompressed,
/// zstd and Docker v2 schema 2 layers, docker-archives, a BuildKit-style index with an attestation manifest, and
/// configs whose history is missing or does not line up with the layers.
/// </summary>
/// <remarks>
/// A missing peer fails the whole class with the tool's name (<see cref="Tool.Locate"/>), never a silent skip.
/// </remarks>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ForeignCorpus : IAsyncLifetime
{
    /// <summary>The cases, in the order they are made (later ones derive from earlier ones).</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "tar-dot", "tar-bare", "umoci", "buildah-commit", "buildah-bud", "podman-build",
        "skopeo-v2s2", "skopeo-zstd", "skopeo-oci-archive", "skopeo-docker-archive", "skopeo-dir",
        "attestation", "no-history", "history-more", "history-fewer",
    ];

    /// <summary>The content of <c>/hello.txt</c> in every case.</summary>
    public const string Hello = "hello from a foreign image\n";

    private readonly TempDir _dir = new("ocikit-foreign");
    private readonly Dictionary<string, ForeignCase> _cases = new(StringComparer.Ordinal);
    private RegistryServer? _registry;
    private ContainerTools? _tools;

    /// <summary>The corpus registry (anonymous, plain HTTP on loopback).</summary>
    public RegistryServer Registry => _registry ?? throw new InvalidOperationException("The corpus has not been built.");

    /// <summary>
    /// Not a case every verb must take: an index holding only the attestation manifest (platform <c>unknown/unknown</c>),
    /// which has no image to build on, pull or save, and must be refused with a typed error naming the image.
    /// </summary>
    public string AttestationOnlyReference => $"{Host}/foreign/attestation-only:1";

    /// <summary>Every case, by name.</summary>
    internal ForeignCase this[string name] => _cases[name];

    private string Host => Registry.Host;

    private string Root => _dir.Combine("root");

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        foreach (var tool in new[] { "skopeo", "umoci", "buildah", "podman", "tar", "gzip", "zstd", "busybox", "cp", "bash", "sha256sum" })
        {
            Tool.Locate(tool);
        }

        _registry = await RegistryServer.StartAnonymousAsync();
        _tools = new ContainerTools();
        WriteRoot();

        await AddAsync("tar-dot", TarDotAsync);
        await AddAsync("tar-bare", TarBareAsync);
        await AddAsync("umoci", UmociAsync);
        await AddAsync("buildah-commit", BuildahCommitAsync);
        await AddAsync("buildah-bud", BuildahBudAsync);
        await AddAsync("podman-build", PodmanBuildAsync);
        await AddAsync("skopeo-v2s2", async r =>
        {
            await SkopeoAsync("--format", "v2s2", Layout("umoci"), r);
            return r;
        });
        await AddAsync("skopeo-zstd", async r =>
        {
            var source = $"oci:{_dir.Combine("skopeo-zstd")}:1";
            await SkopeoAsync("--dest-compress", "--dest-compress-format", "zstd", Layout("buildah-commit"), source);
            await SkopeoAsync(source, r);
            return source;
        });
        await AddAsync("skopeo-oci-archive", async r =>
        {
            var source = $"oci-archive:{_dir.Combine("skopeo.oci.tar")}:1";
            await SkopeoAsync(Layout("tar-bare"), source);
            await SkopeoAsync(source, r);
            return source;
        });
        await AddAsync("skopeo-docker-archive", async r =>
        {
            var source = $"docker-archive:{_dir.Combine("skopeo.docker.tar")}";
            await SkopeoAsync(Layout("umoci"), source + ":corpus/skopeo-docker-archive:1");
            await SkopeoAsync(source, r);
            return source;
        });
        await AddAsync("skopeo-dir", async r =>
        {
            var dir = "dir:" + _dir.Combine("skopeo-dir");
            await SkopeoAsync(Layout("buildah-commit"), dir);
            await SkopeoAsync(dir, r);
            return r; // ocikit has no dir: transport; the registry copy skopeo made from it is the source
        });
        await AddAsync("attestation", AttestationAsync);
        await AttestationOnlyAsync();
        await AddAsync("no-history", r => EditedAsync("no-history", r, config => config.Remove("history")));
        await AddAsync("history-more", r => EditedAsync("history-more", r, config =>
        {
            // Three entries claim a layer, the image has one.
            if (config["history"] is not JsonArray history)
            {
                history = [];
                config["history"] = history;
            }

            history.Add(new JsonObject { ["created_by"] = "/bin/sh -c a-layer-that-is-not-there" });
            history.Add(new JsonObject { ["created_by"] = "/bin/sh -c another-one" });
            history.Add(new JsonObject { ["created_by"] = "ENV X=1", ["empty_layer"] = true });
        }));
        await AddAsync("history-fewer", r => EditedAsync("history-fewer", r, config =>
        {
            // No entry claims the image's layer.
            config["history"] = new JsonArray(new JsonObject { ["created_by"] = "CMD [\"sh\"]", ["empty_layer"] = true });
        }));
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        _tools?.Dispose();
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _dir.Dispose();
    }

    /// <summary>A fresh directory for one test's work, removed with the corpus.</summary>
    public string NewDirectory(string name) => Directory.CreateDirectory(_dir.Combine($"work-{name}-{Guid.NewGuid():N}")).FullName;

    private async Task AddAsync(string name, Func<string, Task<string>> make)
    {
        var reference = $"{Host}/foreign/{name}:1";
        string source;
        try
        {
            source = await make($"docker://{reference}");
        }
        catch (ToolFailedException e)
        {
            throw new ToolFailedException($"Making the foreign corpus case '{name}' failed: {e.Message}", e);
        }

        var input = await PeerView.LoadAsync($"docker://{reference}", _dir.Combine("input-" + name));
        var raw = JsonNode.Parse(await RawAsync($"docker://{reference}"))!;
        var isIndex = raw["manifests"] is not null;
        _cases.Add(name, new ForeignCase(name, reference, source, input, isIndex));
    }

    private static async Task<string> RawAsync(string source)
        => (await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", source])).StdOut;

    private string Layout(string name) => $"oci:{_dir.Combine(name)}:1";

    private static Task SkopeoAsync(params string[] args)
        => Tool.RunCheckedAsync("skopeo", ["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", .. args]);

    private void WriteRoot()
    {
        Directory.CreateDirectory(Path.Combine(Root, "bin"));
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        File.Copy(Tool.Locate("busybox"), Path.Combine(Root, "bin", "busybox"));
        File.SetUnixFileMode(Path.Combine(Root, "bin", "busybox"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(Root, "bin", "sh"), "busybox");
        File.WriteAllText(Path.Combine(Root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(Root, "hello.txt"), Hello);
    }

    // tar -C rootfs -cf layer.tar . : the ordinary way, a './' root entry, './'-prefixed names, directory entries; uncompressed.
    private async Task<string> TarDotAsync(string _)
    {
        var tar = _dir.Combine("tar-dot.tar");
        await Tool.RunCheckedAsync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", Root, "-cf", tar, "."]);
        var layout = HandLayout.Create(_dir.Combine("tar-dot"));
        var layer = await File.ReadAllBytesAsync(tar);
        var (manifestDigest, _) = WriteImage(layout, layer, MediaTypes.OciLayer, HandLayout.Sha256(layer), "1", "tar -C root -cf layer.tar .");

        // skopeo 1.9 gzips uncompressed layers on the way to a registry (--dest-decompress is not honoured there), so
        // this image is pushed with the distribution API by hand: each blob in one PUT, then the manifest.
        using var http = Registry.CreateHttpClient();
        var manifest = layout.ReadJson(manifestDigest);
        foreach (var digest in manifest["layers"]!.AsArray().Select(l => (string)l!["digest"]!).Append((string)manifest["config"]!["digest"]!))
        {
            using var start = await http.PostAsync("/v2/foreign/tar-dot/blobs/uploads/", null);
            Assert.True(start.StatusCode == System.Net.HttpStatusCode.Accepted, $"starting an upload: {start.StatusCode}");
            var location = start.Headers.Location!.ToString();
            using var blob = new ByteArrayContent(await File.ReadAllBytesAsync(layout.BlobPath(digest)));
            blob.Headers.ContentType = new("application/octet-stream");
            using var upload = await http.PutAsync(location + (location.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "digest=" + digest, blob);
            Assert.True(upload.StatusCode == System.Net.HttpStatusCode.Created, $"uploading {digest}: {upload.StatusCode}");
        }

        using var body = new ByteArrayContent(await File.ReadAllBytesAsync(layout.BlobPath(manifestDigest)));
        body.Headers.ContentType = new(MediaTypes.OciManifest);
        using var put = await http.PutAsync("/v2/foreign/tar-dot/manifests/1", body);
        Assert.True(put.StatusCode == System.Net.HttpStatusCode.Created, $"putting the manifest: {put.StatusCode}");
        return Layout("tar-dot");
    }

    // tar -cf l.tar -C root FILES: no './', no directory entries; gzip -n.
    private async Task<string> TarBareAsync(string reference)
    {
        var tar = _dir.Combine("tar-bare.tar");
        await Tool.RunCheckedAsync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-cf", tar, "-C", Root, "bin/busybox", "bin/sh", "etc/passwd", "hello.txt"]);
        await Tool.RunCheckedAsync("gzip", ["-n", "-k", tar]);
        var layout = HandLayout.Create(_dir.Combine("tar-bare"));
        WriteImage(layout, await File.ReadAllBytesAsync(tar + ".gz"), MediaTypes.OciLayerGzip, HandLayout.Sha256File(tar), "1", "tar -cf l.tar -C root bin/busybox bin/sh etc/passwd hello.txt");
        await SkopeoAsync(Layout("tar-bare"), reference);
        return Layout("tar-bare");
    }

    private static (string Digest, long Size) WriteImage(HandLayout layout, byte[] layer, string layerMediaType, string diffId, string tag, string createdBy)
    {
        var (layerDigest, layerSize) = layout.AddBlob(layer);
        var config = new JsonObject
        {
            ["architecture"] = Platform.Current.Architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("sh") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffId) },
            ["history"] = new JsonArray(new JsonObject { ["created_by"] = createdBy }),
        };
        var (configDigest, configSize) = layout.AddJson(config);
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = HandLayout.Descriptor(MediaTypes.OciConfig, configDigest, configSize),
            ["layers"] = new JsonArray(HandLayout.Descriptor(layerMediaType, layerDigest, layerSize)),
        };
        var (digest, size) = layout.AddJson(manifest);
        layout.SetIndex(MediaTypes.OciManifest, digest, size, tag);
        return (digest, size);
    }

    // umoci init/new/unpack/repack: umoci's own layer writer and history.
    private async Task<string> UmociAsync(string reference)
    {
        var layout = _dir.Combine("umoci");
        var bundle = _dir.Combine("umoci-bundle");
        await Tool.RunCheckedAsync("umoci", ["init", "--layout", layout]);
        await Tool.RunCheckedAsync("umoci", ["new", "--image", layout + ":1"]);
        await Tool.RunCheckedAsync("umoci", ["unpack", "--image", layout + ":1", bundle]);
        await Tool.RunCheckedAsync("cp", ["-a", Root + "/.", Path.Combine(bundle, "rootfs")]);
        await Tool.RunCheckedAsync("umoci", ["repack", "--image", layout + ":1", bundle]);
        await Tool.RunCheckedAsync("umoci", ["config", "--image", layout + ":1", "--config.cmd", "sh"]);
        await SkopeoAsync(Layout("umoci"), reference);
        return Layout("umoci");
    }

    // buildah from scratch + buildah copy + buildah commit; buildah push to the registry and to an OCI layout.
    private async Task<string> BuildahCommitAsync(string reference)
    {
        var container = (await _tools!.BuildahAsync(["from", "scratch"])).EnsureSuccess().StdOut.Trim();
        (await _tools.BuildahAsync(["copy", container, Root + "/", "/"])).EnsureSuccess();
        (await _tools.BuildahAsync(["config", "--cmd", "sh", container])).EnsureSuccess();
        (await _tools.BuildahAsync(["commit", "--quiet", container, "corpus/buildah-commit:1"])).EnsureSuccess();
        (await _tools.BuildahAsync(["rm", container])).EnsureSuccess();
        (await _tools.BuildahAsync(["push", "--quiet", "--tls-verify=false", "corpus/buildah-commit:1", reference])).EnsureSuccess();
        (await _tools.BuildahAsync(["push", "--quiet", "corpus/buildah-commit:1", Layout("buildah-commit")])).EnsureSuccess();
        return Layout("buildah-commit");
    }

    // The build context of buildah bud and podman build: COPY only, no RUN (no runtime needed).
    private async Task<string> ContextAsync()
    {
        var context = _dir.Combine("context");
        if (!Directory.Exists(context))
        {
            Directory.CreateDirectory(context);
            await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY root/ /\nCMD [\"sh\"]\n");
            await Tool.RunCheckedAsync("cp", ["-a", Root, Path.Combine(context, "root")]);
        }

        return context;
    }

    // buildah bud (COPY only, Docker format); buildah push to the registry and to a docker-archive.
    private async Task<string> BuildahBudAsync(string reference)
    {
        (await _tools!.BuildahAsync(["bud", "--quiet", "--network=none", "--format", "docker", "-t", "corpus/buildah-bud:1", await ContextAsync()])).EnsureSuccess();
        (await _tools.BuildahAsync(["push", "--quiet", "--tls-verify=false", "corpus/buildah-bud:1", reference])).EnsureSuccess();
        var archive = _dir.Combine("buildah-bud.tar");
        (await _tools.BuildahAsync(["push", "--quiet", "corpus/buildah-bud:1", $"docker-archive:{archive}:corpus/buildah-bud:1"])).EnsureSuccess();
        return "docker-archive:" + archive;
    }

    // podman build; podman push to the registry; podman save (a docker-archive).
    private async Task<string> PodmanBuildAsync(string reference)
    {
        (await _tools!.PodmanAsync(["build", "--quiet", "--network=none", "-t", "corpus/podman-build:1", await ContextAsync()])).EnsureSuccess();
        (await _tools.PodmanAsync(["push", "--quiet", "--tls-verify=false", "corpus/podman-build:1", reference])).EnsureSuccess();
        var archive = _dir.Combine("podman-build.tar");
        (await _tools.PodmanAsync(["save", "--quiet", "-o", archive, "corpus/podman-build:1"])).EnsureSuccess();
        return "docker-archive:" + archive;
    }

    // An index as BuildKit writes it with provenance: the image, plus an attestation manifest for platform unknown/unknown.
    private async Task<string> AttestationAsync(string reference)
    {
        var bare = HandLayout.Open(_dir.Combine("tar-bare"));
        var layout = HandLayout.Create(_dir.Combine("attestation"));
        var (_, imageDigest) = bare.OnlyManifest();
        var imageManifest = bare.ReadJson(imageDigest);
        foreach (var digest in new[] { imageDigest, (string)imageManifest["config"]!["digest"]! }.Concat(imageManifest["layers"]!.AsArray().Select(l => (string)l!["digest"]!)))
        {
            layout.AddBlob(await File.ReadAllBytesAsync(bare.BlobPath(digest)));
        }

        var statement = new JsonObject
        {
            ["_type"] = "https://in-toto.io/Statement/v0.1",
            ["predicateType"] = "https://slsa.dev/provenance/v0.2",
            ["subject"] = new JsonArray(new JsonObject { ["name"] = "foreign/attestation", ["digest"] = new JsonObject { ["sha256"] = imageDigest["sha256:".Length..] } }),
            ["predicate"] = new JsonObject { ["builder"] = new JsonObject { ["id"] = "ocikit-test" } },
        };
        var (statementDigest, statementSize) = layout.AddJson(statement);
        // BuildKit's attestation storage: the config "will point to a valid image config" (kept for compatibility,
        // to be ignored), for platform unknown/unknown, whose DiffIDs are the uncompressed in-toto layers' digests.
        var attestationConfig = new JsonObject
        {
            ["architecture"] = "unknown",
            ["os"] = "unknown",
            ["config"] = new JsonObject(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(statementDigest) },
        };
        var (configDigest, configSize) = layout.AddJson(attestationConfig);
        var attestation = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = HandLayout.Descriptor(MediaTypes.OciConfig, configDigest, configSize),
            ["layers"] = new JsonArray(HandLayout.Descriptor("application/vnd.in-toto+json", statementDigest, statementSize, new JsonObject { ["in-toto.io/predicate-type"] = "https://slsa.dev/provenance/v0.2" })),
        };
        var (attestationDigest, attestationSize) = layout.AddJson(attestation);
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JsonArray(
                HandLayout.Descriptor(MediaTypes.OciManifest, imageDigest, new FileInfo(bare.BlobPath(imageDigest)).Length, platform: new JsonObject { ["architecture"] = Platform.Current.Architecture, ["os"] = "linux" }),
                HandLayout.Descriptor(
                    MediaTypes.OciManifest,
                    attestationDigest,
                    attestationSize,
                    new JsonObject { ["vnd.docker.reference.type"] = "attestation-manifest", ["vnd.docker.reference.digest"] = imageDigest },
                    new JsonObject { ["architecture"] = "unknown", ["os"] = "unknown" })),
        };
        var (indexDigest, indexSize) = layout.AddJson(index);
        layout.SetIndex(MediaTypes.OciIndex, indexDigest, indexSize, "1");
        await Tool.RunCheckedAsync("skopeo", ["copy", "--quiet", "--all", "--dest-tls-verify=false", Layout("attestation"), reference]);
        return Layout("attestation");
    }

    private async Task AttestationOnlyAsync()
    {
        await Tool.RunCheckedAsync("cp", ["-a", _dir.Combine("attestation"), _dir.Combine("attestation-only")]);
        var layout = HandLayout.Open(_dir.Combine("attestation-only"));
        var index = layout.ReadJson(layout.OnlyManifest().Digest).AsObject();
        var attestation = index["manifests"]!.AsArray().Single(m => (string?)m!["platform"]!["os"] == "unknown")!.DeepClone();
        index["manifests"] = new JsonArray(attestation);
        var (digest, size) = layout.AddJson(index);
        layout.SetIndex(MediaTypes.OciIndex, digest, size, "1");
        await Tool.RunCheckedAsync("skopeo", ["copy", "--quiet", "--all", "--dest-tls-verify=false", Layout("attestation-only"), "docker://" + AttestationOnlyReference]);
    }

    // buildah's image with its config edited by hand (new config blob, manifest and index).
    private async Task<string> EditedAsync(string name, string reference, Action<JsonObject> edit)
    {
        await Tool.RunCheckedAsync("cp", ["-a", _dir.Combine("buildah-commit"), _dir.Combine(name)]);
        HandLayout.Open(_dir.Combine(name)).EditConfig(edit, "1");
        await SkopeoAsync(Layout(name), reference);
        return Layout(name);
    }
}
