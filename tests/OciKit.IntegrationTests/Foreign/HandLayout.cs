using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace OciKit.IntegrationTests.Foreign;

/// <summary>
/// A few lines of JSON and SHA-256 that write or edit an OCI image layout by hand, independently of the library under
/// test: the assembling step for layers a peer (<c>tar</c>) wrote, the hand-written BuildKit-style attestation index,
/// and the config edits (history removed or not lining up with the layers) applied to a peer-made image.
/// </summary>
internal sealed class HandLayout
{
    private HandLayout(string path) => Path = path;

    /// <summary>The layout directory.</summary>
    public string Path { get; }

    /// <summary>Creates an empty layout (<c>oci-layout</c>, <c>blobs/sha256</c>).</summary>
    public static HandLayout Create(string path)
    {
        Directory.CreateDirectory(System.IO.Path.Combine(path, "blobs", "sha256"));
        File.WriteAllText(System.IO.Path.Combine(path, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        return new HandLayout(path);
    }

    /// <summary>Opens a layout a peer wrote.</summary>
    public static HandLayout Open(string path) => File.Exists(System.IO.Path.Combine(path, "oci-layout"))
        ? new HandLayout(path)
        : throw new InvalidOperationException($"{path} is not an OCI layout");

    /// <summary>Stores a blob; returns its descriptor fields.</summary>
    public (string Digest, long Size) AddBlob(byte[] content)
    {
        var digest = Sha256(content);
        File.WriteAllBytes(BlobPath(digest), content);
        return (digest, content.Length);
    }

    /// <summary>Stores a JSON document as a blob (compact).</summary>
    public (string Digest, long Size) AddJson(JsonNode node) => AddBlob(Encoding.UTF8.GetBytes(node.ToJsonString()));

    /// <summary>Reads a blob as JSON.</summary>
    public JsonNode ReadJson(string digest) => JsonNode.Parse(File.ReadAllBytes(BlobPath(digest)))!;

    /// <summary>The file holding a blob.</summary>
    public string BlobPath(string digest) => System.IO.Path.Combine(Path, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>Writes <c>index.json</c> naming one manifest (or index) under <paramref name="tag"/>.</summary>
    public void SetIndex(string mediaType, string digest, long size, string tag)
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(Descriptor(mediaType, digest, size, new JsonObject { ["org.opencontainers.image.ref.name"] = tag })),
        };
        File.WriteAllText(System.IO.Path.Combine(Path, "index.json"), index.ToJsonString());
    }

    /// <summary>The only manifest <c>index.json</c> names: its descriptor fields.</summary>
    public (string MediaType, string Digest) OnlyManifest()
    {
        var index = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(Path, "index.json")))!;
        var manifests = index["manifests"]!.AsArray();
        if (manifests.Count != 1)
        {
            throw new InvalidOperationException($"{Path}/index.json names {manifests.Count} manifests, expected one");
        }

        return ((string)manifests[0]!["mediaType"]!, (string)manifests[0]!["digest"]!);
    }

    /// <summary>
    /// Replaces the config of the layout's only image by <paramref name="edit"/>'s result: writes the new config blob,
    /// a manifest pointing at it, and an index naming that manifest as <paramref name="tag"/>.
    /// </summary>
    public void EditConfig(Action<JsonObject> edit, string tag)
    {
        var (mediaType, manifestDigest) = OnlyManifest();
        var manifest = ReadJson(manifestDigest).AsObject();
        var config = ReadJson((string)manifest["config"]!["digest"]!).AsObject();
        edit(config);
        var (configDigest, configSize) = AddJson(config);
        manifest["config"]!["digest"] = configDigest;
        manifest["config"]!["size"] = configSize;
        var (digest, size) = AddJson(manifest);
        SetIndex(mediaType, digest, size, tag);
    }

    /// <summary>A descriptor object.</summary>
    public static JsonObject Descriptor(string mediaType, string digest, long size, JsonObject? annotations = null, JsonObject? platform = null)
    {
        var d = new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };
        if (platform is not null)
        {
            d["platform"] = platform;
        }

        if (annotations is not null)
        {
            d["annotations"] = annotations;
        }

        return d;
    }

    /// <summary>The <c>sha256:</c> digest of some bytes.</summary>
    public static string Sha256(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The <c>sha256:</c> digest of a file.</summary>
    public static string Sha256File(string path)
    {
        using var stream = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
