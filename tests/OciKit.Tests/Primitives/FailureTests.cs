using System.Net;
using OciKit.Auth;
using OciKit.Build;
using OciKit.Build.Sources;
using OciKit.Dockerfile;
using OciKit.Dockerfile.Shell;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.Tests.Primitives;

/// <summary>The one classification of failures both adapters read: every library exception says who failed.</summary>
public class FailureTests
{
    private static readonly Digest A = Digest.ComputeSha256("a"u8);
    private static readonly Digest B = Digest.ComputeSha256("b"u8);

    public static TheoryData<Exception, FailureKind> Table => new()
    {
        { new DockerfileSyntaxException("Dockerfile", 3, 1, "unknown instruction"), FailureKind.Caller },
        { new ShellExpansionException("${x:?}", "x is not set"), FailureKind.Caller },
        { new BuildException("Dockerfile", 2, "COPY failed"), FailureKind.Caller },
        { new InvalidReferenceException("Bad Ref", "invalid repository name"), FailureKind.Caller },
        { new RemoteSourceException("https://example.test/x", "404"), FailureKind.Caller },
        { new ArgumentException("bad"), FailureKind.Caller },
        { new FormatException("bad"), FailureKind.Caller },
        { new ImageNotFoundException("x", "the local store"), FailureKind.NotFound },
        { new OciKit.Transfer.ContainerNotFoundException("web"), FailureKind.NotFound },
        { new RegistryException("Could not get manifest", "GET", new Uri("http://r/v2/a/manifests/1"), HttpStatusCode.NotFound), FailureKind.NotFound },
        { new FileNotFoundException("absent"), FailureKind.NotFound },
        { new DirectoryNotFoundException("absent"), FailureKind.NotFound },
        { new RegistryException("Could not push", "PUT", new Uri("http://r/v2/a/blobs/uploads/"), HttpStatusCode.InternalServerError), FailureKind.Registry },
        { new RegistryException("Could not reach registry r", "GET", new Uri("http://r/v2/"), null), FailureKind.Registry },
        { new RegistryDigestMismatchException("blob", "r/a:1", A, B, "GET", null), FailureKind.Registry },
        { new RegistryTimeoutException(null, "r:5000", RegistryTimeoutKind.Connect, TimeSpan.FromSeconds(30), "GET", new Uri("https://r:5000/v2/")), FailureKind.Registry },
        { new RegistryAuthenticationException("r", "the registry refused the request"), FailureKind.Authentication },
        { new CredentialHelperException("pass", "get", "r", "exited with 1", 1), FailureKind.Authentication },
        { new CredentialFileException("/root/.docker/config.json", "not JSON"), FailureKind.Authentication },
        { new OciFormatException("manifest", "is not JSON."), FailureKind.Content },
        { new DigestMismatchException("blob", A, B), FailureKind.Content },
        { new LayerPathException("../x", "'..' climbs above the layer root"), FailureKind.Content },
        { new SymlinkLoopException("a/b", 255), FailureKind.Content },
        { new ArchiveEntryException("a.tar", "../x", "it climbs out"), FailureKind.Content },
        { new BlobNotFoundException(A, "/store"), FailureKind.Content },
        { new OciKit.Sbom.SbomFormatException("/app/app.deps.json", "is not JSON"), FailureKind.Content },
        { new OciKit.Sbom.SbomNotFoundException("r/a:1"), FailureKind.NotFound },
        { new SigningKeyException("app.key", "it is not PEM."), FailureKind.Caller },
        { new SignatureVerificationException("r/a:1", ["signature 1 is not by key sha256:00"]), FailureKind.Content },
        { new TrustPolicyException("/etc/policy.json", "it is not JSON."), FailureKind.Caller },
        { new TrustPolicyRefusedException("r/a:1", "default", "it rejects every image"), FailureKind.Content },
        { new OciKit.Execution.ContainerRuntimeNotFoundException(null, "no runtime: apt-get install runc"), FailureKind.NotSupported },
        { new OciKit.Execution.ContainerRunException("runc", "runc could not run the container"), FailureKind.IO },
        { new IOException("disk full"), FailureKind.IO },
        { new UnauthorizedAccessException("denied"), FailureKind.IO },
        { new HttpRequestException("reset"), FailureKind.IO },
        { new NotSupportedException("media type"), FailureKind.NotSupported },
        { new OperationCanceledException(), FailureKind.Cancelled },
        { new TaskCanceledException(), FailureKind.Cancelled },
        { new InvalidOperationException("a defect"), FailureKind.Internal },
        { new NullReferenceException(), FailureKind.Internal },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Every_failure_has_one_kind(Exception exception, FailureKind kind) => Assert.Equal(kind, Failure.Classify(exception));

    [Fact]
    public void Every_library_exception_type_is_in_the_table()
    {
        var covered = Table.Select(row => ((object[])row)[0].GetType()).ToHashSet();
        var library = typeof(OciException).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(OciException)) && !t.IsAbstract)
            .Where(t => !covered.Contains(t))
            .Select(t => t.FullName)
            .ToList();
        Assert.Empty(library);
    }

    [Fact]
    public void Registry_authentication_failures_are_registry_exceptions()
    {
        var error = new RegistryAuthenticationException("r", "refused");
        Assert.IsAssignableFrom<RegistryException>(error);
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.False(error.IsTransient);
        Assert.Equal("Authentication with r failed: refused.", error.Message);
    }
}
