using System.Net;
using OciKit.Auth;
using OciKit.Cli;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Cli;

/// <summary>The exit-code table: 1 user error (arguments, input, not found), 2 registry or authentication, 3 internal.</summary>
public class ExitCodeTests
{
    public static TheoryData<Exception, int> Table => new()
    {
        { new ArgumentException("bad"), 1 },
        { new FormatException("bad template"), 1 },
        { new FileNotFoundException("absent"), 1 },
        { new DirectoryNotFoundException("absent"), 1 },
        { new NotSupportedException("unsupported media type"), 1 },
        { new InvalidReferenceException("Bad Ref", "invalid repository name"), 1 },
        { new OciFormatException("manifest", "is not JSON."), 1 },
        { new ImageNotFoundException("x", "the local store"), 1 },
        { new DigestMismatchException("blob", Digest.ComputeSha256("a"u8), Digest.ComputeSha256("b"u8)), 1 },
        { new RegistryException("Could not get manifest", "GET", new Uri("http://r/v2/a/manifests/1"), HttpStatusCode.NotFound), 1 },
        { new RegistryException("Could not push", "PUT", new Uri("http://r/v2/a/blobs/uploads/"), HttpStatusCode.InternalServerError), 2 },
        { new RegistryException("Could not reach registry r", "GET", new Uri("http://r/v2/"), null), 2 },
        { new RegistryAuthenticationException("r", "the registry refused the request"), 2 },
        { new RegistryDigestMismatchException("blob", "r/a:1", Digest.ComputeSha256("a"u8), Digest.ComputeSha256("b"u8), "GET", null), 2 },
        { new CredentialHelperException("pass", "get", "r", "exited with 1", 1), 2 },
        { new InvalidOperationException("a defect"), 3 },
        { new NullReferenceException(), 3 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Exceptions_map_to_the_documented_exit_codes(Exception exception, int code) =>
        Assert.Equal(code, CliRunner.ExitCodeFor(exception));

    [Fact]
    public void Messages_are_folded_to_one_line() =>
        Assert.Equal("first line second line", CliRunner.OneLine("first line\r\n  second line\n"));
}
