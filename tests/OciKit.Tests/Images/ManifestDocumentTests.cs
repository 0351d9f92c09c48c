using System.Text;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Tests.Images;

public class ManifestDocumentTests
{
    private const string Config = """{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}""";

    [Fact]
    public void Received_bytes_keep_their_digest_even_when_not_canonical()
    {
        var text = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n  \"config\": " + Config + ",\n  \"layers\": []\n}\n";
        var bytes = Encoding.UTF8.GetBytes(text);
        var document = ManifestDocument.Parse(bytes);
        Assert.Equal(Digest.ComputeSha256(bytes), document.Digest);
        Assert.Equal(bytes.Length, document.Size);
        Assert.NotEqual(document.Digest, Digest.ComputeSha256(document.Manifest!.ToJson()));
        Assert.Same(bytes, System.Runtime.InteropServices.MemoryMarshal.TryGetArray(document.Bytes, out var segment) ? segment.Array : null);
    }

    [Fact]
    public void Verifies_against_the_descriptor_it_was_fetched_by()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"config\":" + Config + ",\"layers\":[]}");
        var good = new Descriptor(MediaTypes.OciManifest, Digest.ComputeSha256(bytes), bytes.Length);
        Assert.Equal(ManifestKind.Manifest, ManifestDocument.Parse(bytes, good).Kind);
        Assert.Throws<DigestMismatchException>(() => ManifestDocument.Parse(bytes, good with { Digest = Digest.ComputeSha256("x"u8) }));
        Assert.Throws<OciFormatException>(() => ManifestDocument.Parse(bytes, good with { Size = 3 }));
    }

    [Fact]
    public void Media_type_is_inferred_when_undeclared()
    {
        Assert.Equal(MediaTypes.OciManifest, ManifestDocument.Parse(Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"config\":" + Config + ",\"layers\":[]}")).MediaType);
        Assert.Equal(MediaTypes.OciIndex, ManifestDocument.Parse("{\"schemaVersion\":2,\"manifests\":[]}"u8.ToArray()).MediaType);
    }

    [Fact]
    public void Unknown_media_types_pass_through()
    {
        var bytes = "{\"anything\":true}"u8.ToArray();
        var document = ManifestDocument.Parse(bytes, "application/vnd.example.thing+json");
        Assert.Equal(ManifestKind.Unknown, document.Kind);
        Assert.Equal("application/vnd.example.thing+json", document.MediaType);
        Assert.Equal(Digest.ComputeSha256(bytes), document.Digest);
    }

    [Fact]
    public void Schema_1_is_refused_clearly()
    {
        var e = Assert.Throws<NotSupportedException>(() => ManifestDocument.Parse("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}"u8.ToArray()));
        Assert.Contains("schema 1", e.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => ManifestDocument.Parse("{}"u8.ToArray(), MediaTypes.DockerManifestSchema1Signed));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"schemaVersion\":3,\"manifests\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"manifests\":[],\"manifests\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2,\"data\":\"e30K\"},\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":-1},\"layers\":[]}")]
    public void Malformed_documents_are_format_errors_naming_the_document(string text)
    {
        var e = Assert.Throws<OciFormatException>(() => ManifestDocument.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.StartsWith("manifest sha256:", e.Subject, StringComparison.Ordinal);
    }

    [Fact]
    public void Declared_and_received_media_types_must_agree()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":" + Config + ",\"layers\":[]}");
        Assert.Throws<OciFormatException>(() => ManifestDocument.Parse(bytes, MediaTypes.DockerManifest));
    }
}
