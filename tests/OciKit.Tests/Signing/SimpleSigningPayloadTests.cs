using System.Text;
using OciKit.References;
using OciKit.Signing;

namespace OciKit.Tests.Signing;

/// <summary>The cosign simple-signing payload: exact bytes as cosign writes them, the identity as the signer named the image, strict reading.</summary>
public class SimpleSigningPayloadTests
{
    private static readonly Digest D = Digest.ComputeSha256("manifest"u8);

    [Fact]
    public void The_payload_has_cosigns_exact_key_order_and_a_null_optional()
    {
        var payload = SimpleSigningPayload.For(ImageReference.Parse("registry.test:5000/team/app:1.0"), D);
        Assert.Equal(
            $$"""{"critical":{"identity":{"docker-reference":"registry.test:5000/team/app:1.0"},"image":{"docker-manifest-digest":"{{D}}"},"type":"cosign container image signature"},"optional":null}""",
            Encoding.UTF8.GetString(payload.ToJson()));
    }

    [Fact]
    public void An_image_named_by_digest_is_signed_under_its_repository_alone()
    {
        var payload = SimpleSigningPayload.For(ImageReference.Parse($"registry.test/team/app@{D}"), D);
        Assert.Equal("registry.test/team/app", payload.DockerReference);
    }

    [Fact]
    public void A_payload_reads_back_to_itself()
    {
        var payload = SimpleSigningPayload.For(ImageReference.Parse("registry.test/app:v1"), D);
        Assert.Equal(payload, SimpleSigningPayload.Parse(payload.ToJson()));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"atomic container signature"}}""")]
    [InlineData("""{"critical":{"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"}}""")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"not a digest"},"type":"cosign container image signature"}}""")]
    public void Anything_but_a_cosign_payload_is_a_format_error(string json)
    {
        var error = Assert.Throws<OciFormatException>(() => SimpleSigningPayload.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.NotEmpty(error.Message);
    }

    [Fact]
    public void Signatures_live_under_the_algorithm_dash_hex_sig_tag_of_the_repository_never_a_digest()
    {
        Assert.Equal("sha256-" + D.Encoded + ".sig", CosignSignatures.SignatureTag(D));
        var reference = CosignSignatures.SignatureReference(ImageReference.Parse($"registry.test/team/app@{D}"), D);
        Assert.Null(reference.Digest);
        Assert.Equal("registry.test/team/app:sha256-" + D.Encoded + ".sig", reference.ToString());
    }
}
