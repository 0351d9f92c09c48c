using System.Text.Json.Nodes;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Foreign;

/// <summary>
/// An image as the peers see it: <c>skopeo copy</c> to a <c>dir:</c> directory (which keeps the manifest and blobs as
/// they are), <c>skopeo inspect --raw</c> for the top-level digest, and GNU <c>tar</c> for each layer's file list and
/// for extracting the root filesystem; or an OCI layout read by hand (<see cref="LoadLayoutAsync"/>). Nothing here goes
/// through the library under test.
/// </summary>
internal sealed class PeerView
{
    private readonly Func<string, string> _blobPath;

    private PeerView(Func<string, string> blobPath, JsonNode config, IReadOnlyList<string> layerMediaTypes, IReadOnlyList<IReadOnlyList<string>> rawLayerEntries, bool isDockerSchema2, string topDigest, string manifestDigest, string configDigest, IReadOnlyList<string> layerDigests, IReadOnlyList<string> diffIds, IReadOnlyList<IReadOnlyList<string>> layerFiles)
    {
        _blobPath = blobPath;
        IsDockerSchema2 = isDockerSchema2;
        Config = config;
        LayerMediaTypes = layerMediaTypes;
        RawLayerEntries = rawLayerEntries;
        TopDigest = topDigest;
        ManifestDigest = manifestDigest;
        ConfigDigest = configDigest;
        LayerDigests = layerDigests;
        DiffIds = diffIds;
        LayerFiles = layerFiles;
        Files = Merge(layerFiles);
    }

    /// <summary>The digest of what the location's name points at (an index, for a multi-platform image).</summary>
    public string TopDigest { get; }

    /// <summary>The image's config.</summary>
    public JsonNode Config { get; }

    /// <summary>The layers' media types, lowest first.</summary>
    public IReadOnlyList<string> LayerMediaTypes { get; }

    /// <summary>Each layer's entry names exactly as <c>tar -t</c> prints them.</summary>
    public IReadOnlyList<IReadOnlyList<string>> RawLayerEntries { get; }

    /// <summary>Whether the image manifest is a Docker v2 schema 2 manifest (else OCI).</summary>
    public bool IsDockerSchema2 { get; }

    /// <summary>The digest of the platform's image manifest.</summary>
    public string ManifestDigest { get; }

    /// <summary>The config digest (the image id).</summary>
    public string ConfigDigest { get; }

    /// <summary>The layer blob digests, lowest first.</summary>
    public IReadOnlyList<string> LayerDigests { get; }

    /// <summary>The config's <c>rootfs.diff_ids</c>.</summary>
    public IReadOnlyList<string> DiffIds { get; }

    /// <summary>Each layer's entries as <c>tar -t</c> lists them, normalised (no <c>./</c> or <c>/</c> prefix, no trailing <c>/</c>).</summary>
    public IReadOnlyList<IReadOnlyList<string>> LayerFiles { get; }

    /// <summary>The paths of the merged file system (whiteouts applied).</summary>
    public IReadOnlySet<string> Files { get; }

    /// <summary>Copies <paramref name="source"/> (a skopeo transport name) to <paramref name="directory"/> (<c>dir:</c>) and lists it.</summary>
    public static async Task<PeerView> LoadAsync(string source, string directory)
    {
        var topDigest = await RawDigestAsync(source);
        await Tool.RunCheckedAsync("skopeo", ["copy", "--quiet", "--src-tls-verify=false", source, "dir:" + directory]);
        var manifestBytes = await File.ReadAllBytesAsync(Path.Combine(directory, "manifest.json"));
        return await FromManifestAsync(digest => Path.Combine(directory, digest["sha256:".Length..]), topDigest, manifestBytes);
    }

    /// <summary>
    /// Reads the image named <paramref name="tag"/> in an OCI layout by hand (JSON and files, no library, no skopeo),
    /// taking the current platform's image from an index.
    /// </summary>
    /// <remarks>
    /// skopeo 1.9 (containers/image) only finds names in <c>index.json</c> whose descriptor has an OCI media type, so a
    /// layout holding a Docker v2 schema 2 manifest, as a digest-preserving copy writes it, is read here by hand.
    /// </remarks>
    public static async Task<PeerView> LoadLayoutAsync(string layout, string tag)
    {
        string BlobPath(string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
        var index = JsonNode.Parse(await File.ReadAllBytesAsync(Path.Combine(layout, "index.json")))!;
        var named = index["manifests"]!.AsArray().Single(m => (string?)m!["annotations"]?["org.opencontainers.image.ref.name"] == tag)!;
        var topDigest = (string)named["digest"]!;
        var bytes = await File.ReadAllBytesAsync(BlobPath(topDigest));
        Assert.Equal(topDigest, HandLayout.Sha256(bytes));
        if (JsonNode.Parse(bytes)!["manifests"] is JsonArray manifests)
        {
            var platform = manifests.Single(m => (string?)m!["platform"]?["os"] == "linux" && (string?)m!["platform"]?["architecture"] == OciKit.Primitives.Platform.Current.Architecture)!;
            bytes = await File.ReadAllBytesAsync(BlobPath((string)platform["digest"]!));
        }

        return await FromManifestAsync(BlobPath, topDigest, bytes);
    }

    private static async Task<PeerView> FromManifestAsync(Func<string, string> blobPath, string topDigest, byte[] manifestBytes)
    {
        var manifest = JsonNode.Parse(manifestBytes)!;
        var configDigest = (string)manifest["config"]!["digest"]!;
        var config = JsonNode.Parse(await File.ReadAllBytesAsync(blobPath(configDigest)))!;
        var diffIds = config["rootfs"]!["diff_ids"]!.AsArray().Select(d => (string)d!).ToList();
        var layerDigests = manifest["layers"]!.AsArray().Select(l => (string)l!["digest"]!).ToList();
        var layerMediaTypes = manifest["layers"]!.AsArray().Select(l => (string)l!["mediaType"]!).ToList();
        var rawEntries = new List<IReadOnlyList<string>>();
        foreach (var digest in layerDigests)
        {
            Assert.Equal(digest, HandLayout.Sha256File(blobPath(digest)));
            rawEntries.Add(await ListRawAsync(blobPath(digest)));
        }

        var layerFiles = rawEntries.Select(e => (IReadOnlyList<string>)[.. e.Select(Normalize).Where(n => n.Length > 0)]).ToList();

        var isDockerSchema2 = (string?)manifest["mediaType"] == OciKit.Primitives.MediaTypes.DockerManifest;
        return new PeerView(blobPath, config, layerMediaTypes, rawEntries, isDockerSchema2, topDigest, HandLayout.Sha256(manifestBytes), configDigest, layerDigests, diffIds, layerFiles);
    }

    /// <summary>The digest of the exact bytes <c>skopeo inspect --raw</c> prints (the manifest or index a name points at).</summary>
    public static async Task<string> RawDigestAsync(string source)
    {
        // Piped to sha256sum so that no byte (a trailing newline) is lost in capturing the output as text.
        var result = await Tool.RunCheckedAsync("bash", ["-c", "set -o pipefail; skopeo inspect --raw --tls-verify=false \"$1\" | sha256sum", "bash", source]);
        return "sha256:" + result.StdOut[..64];
    }

    /// <summary>The entries of a layer blob (any compression GNU tar detects: none, gzip, zstd), normalised.</summary>
    public static async Task<IReadOnlyList<string>> ListLayerAsync(string blob)
        => [.. (await ListRawAsync(blob)).Select(Normalize).Where(n => n.Length > 0)];

    private static async Task<IReadOnlyList<string>> ListRawAsync(string blob)
        => (await Tool.RunCheckedAsync("tar", ["-tf", blob])).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Extracts every layer, lowest first, into <paramref name="rootfs"/> with GNU tar (the inputs hold no whiteouts).</summary>
    public async Task ExtractAsync(string rootfs)
    {
        Directory.CreateDirectory(rootfs);
        foreach (var digest in LayerDigests)
        {
            await Tool.RunCheckedAsync("tar", ["-xf", _blobPath(digest), "-C", rootfs, "--no-same-owner"]);
        }
    }

    /// <summary>A tar entry name as a path relative to the root.</summary>
    public static string Normalize(string name)
    {
        var n = name.Replace("//", "/", StringComparison.Ordinal);
        while (n.StartsWith("./", StringComparison.Ordinal) || n.StartsWith('/'))
        {
            n = n.StartsWith('/') ? n[1..] : n[2..];
        }

        n = n.TrimEnd('/');
        return n == "." ? string.Empty : n;
    }

    private static HashSet<string> Merge(IEnumerable<IReadOnlyList<string>> layers)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            foreach (var entry in layer)
            {
                var slash = entry.LastIndexOf('/');
                var parent = slash < 0 ? string.Empty : entry[..slash];
                var leaf = entry[(slash + 1)..];
                if (leaf == ".wh..wh..opq")
                {
                    files.RemoveWhere(f => f.StartsWith(parent + "/", StringComparison.Ordinal));
                }
                else if (leaf.StartsWith(".wh.", StringComparison.Ordinal))
                {
                    var gone = (parent.Length == 0 ? string.Empty : parent + "/") + leaf[4..];
                    files.RemoveWhere(f => f == gone || f.StartsWith(gone + "/", StringComparison.Ordinal));
                }
                else
                {
                    files.Add(entry);
                    for (var i = entry.IndexOf('/'); i > 0; i = entry.IndexOf('/', i + 1))
                    {
                        files.Add(entry[..i]); // parents an entry implies, whether or not the tar lists them
                    }
                }
            }
        }

        return files;
    }
}
