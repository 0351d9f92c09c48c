using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Primitives;

namespace OciKit.Tests.Primitives;

public class DigestTests
{
    private const string EmptySha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Fact]
    public void Computes_the_sha256_of_empty_content()
    {
        Assert.Equal(EmptySha256, Digest.ComputeSha256([]).ToString());
    }

    [Fact]
    public async Task Stream_and_span_digests_agree()
    {
        var bytes = Encoding.UTF8.GetBytes("hello, oci");
        var fromStream = await Digest.ComputeSha256Async(new MemoryStream(bytes));
        Assert.Equal(Digest.ComputeSha256(bytes), fromStream);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256")]
    [InlineData("sha256:")]
    [InlineData(":abc")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    [InlineData("sha512:abcd")]
    [InlineData("SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("sha256+:abc")]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g")]
    public void Rejects_malformed_digests(string text)
    {
        Assert.False(Digest.TryParse(text, out _));
        var error = Assert.Throws<OciFormatException>(() => Digest.Parse(text));
        Assert.Equal("digest", error.Subject);
    }

    [Theory]
    [InlineData(EmptySha256)]
    [InlineData("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")]
    [InlineData("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564")]
    public void Accepts_the_spec_examples(string text)
    {
        var digest = Digest.Parse(text);
        Assert.Equal(text, digest.ToString());
    }

    [Fact]
    public void Verify_reports_expected_and_actual()
    {
        var expected = Digest.Parse(EmptySha256);
        var error = Assert.Throws<DigestMismatchException>(() => expected.Verify("x"u8, "blob"));
        Assert.Equal(expected, error.Expected);
        Assert.Equal(Digest.ComputeSha256("x"u8), error.Actual);
        Assert.Contains(EmptySha256, error.Message, StringComparison.Ordinal);
    }

    [Property]
    public Property Parse_of_ToString_round_trips(byte[] content)
    {
        var digest = Digest.ComputeSha256(content);
        return (Digest.Parse(digest.ToString()) == digest && digest.Matches(content)).ToProperty();
    }
}
