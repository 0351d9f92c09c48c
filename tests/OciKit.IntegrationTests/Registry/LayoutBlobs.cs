using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Registry;

/// <summary>Reads an OCI layout the test wrote (the busybox fixture) without the library's layout code.</summary>
internal sealed class LayoutBlobs(string layout)
{
    public string BlobPath(Digest digest) => Path.Combine(layout, "blobs", digest.Algorithm, digest.Encoded);

    public (byte[] Bytes, Descriptor Descriptor) Manifest()
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var m = index.RootElement.GetProperty("manifests")[0];
        var descriptor = new Descriptor(m.GetProperty("mediaType").GetString()!, Digest.Parse(m.GetProperty("digest").GetString()!), m.GetProperty("size").GetInt64());
        return (File.ReadAllBytes(BlobPath(descriptor.Digest)), descriptor);
    }

    public IReadOnlyList<Descriptor> Blobs(byte[] manifest)
    {
        using var doc = JsonDocument.Parse(manifest);
        var list = new List<Descriptor> { Read(doc.RootElement.GetProperty("config")) };
        list.AddRange(doc.RootElement.GetProperty("layers").EnumerateArray().Select(Read));
        return list;
    }

    private static Descriptor Read(JsonElement e) => new(e.GetProperty("mediaType").GetString()!, Digest.Parse(e.GetProperty("digest").GetString()!), e.GetProperty("size").GetInt64());
}
