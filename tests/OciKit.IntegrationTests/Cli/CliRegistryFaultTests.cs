using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>A registry that serves content with the wrong digest is the registry's failure: exit 2, both digests named.</summary>
[Collection(RegistryCollection.Name)]
public class CliRegistryFaultTests(RegistryFixture fixture)
{
    private const string Zeros = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    [Fact]
    public async Task A_lying_docker_content_digest_exits_2_naming_the_reference_and_both_digests()
    {
        using var dir = new TempDir();
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        proxy.Add("GET", "/manifests/latest", new Fault.WrongDigestHeader());
        var reference = $"{proxy.Host}/{RegistryFixture.BaseRepository}:latest";

        var result = await new CliRun(dir).RunAsync("pull", "-q", reference);

        result.FailedWith(2, reference);
        Assert.Contains(Zeros, result.StdErr, StringComparison.Ordinal);
        Assert.Contains(fixture.BaseDigest, result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_corrupt_blob_exits_2_naming_the_reference_and_both_digests_and_stores_nothing_of_it()
    {
        using var dir = new TempDir();
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        proxy.Add("GET", "/blobs/sha256:", new Fault.CorruptBody(), times: 1000);
        var reference = $"{proxy.Host}/{RegistryFixture.BaseRepository}:latest";
        var cli = new CliRun(dir);

        var result = await cli.RunAsync("pull", "-q", reference);

        result.FailedWith(2, reference);
        var corrupted = proxy.Requests.Where(r => r.Fault is Fault.CorruptBody).Select(r => r.PathAndQuery[(r.PathAndQuery.LastIndexOf('/') + 1)..]).ToList();
        Assert.NotEmpty(corrupted);
        Assert.Contains(corrupted, expected => result.StdErr.Contains("expected " + expected, StringComparison.Ordinal));
        Assert.Matches("got sha256:[0-9a-f]{64}", result.StdErr);
        Assert.Empty((await cli.RunAsync("images", "-q")).Succeeded().StdOut.Trim());
    }
}
