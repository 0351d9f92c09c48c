using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Signing;

/// <summary>
/// <c>copy --attachments</c> between repositories of the harness registry (Debian's docker-registry, no referrers API):
/// the cosign signature manifest and the SBOM referrer (with the destination's fallback index) follow the image, so
/// <c>verify</c> and <c>sbom --attached</c> work on the copy; a copy without the option carries neither.
/// </summary>
[Collection(RegistryCollection.Name)]
public class CopyAttachmentsTests(RegistryFixture fixture)
{
    private string Host => fixture.Registry.Host;

    [Fact]
    public async Task Signatures_and_an_attached_sbom_follow_the_image_only_with_the_option()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var source = $"{Host}/attach/source:v1";
        var digest = await BusyboxImage.PushAsync(fixture.Registry, "attach/source", "v1");
        (await cli.RunAsync("key", "generate", "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), source)).Succeeded();
        var artifact = (await cli.RunAsync("sbom", "attach", source)).Succeeded().LastLine;
        var sbom = (await cli.RunAsync("sbom", "--attached", source)).Succeeded().StdOut;

        var copy = (await cli.RunAsync("copy", "--attachments", "docker://" + source, $"docker://{Host}/attach/copied:v1")).Succeeded();
        Assert.Equal(digest, copy.LastLine);
        Assert.Contains($"signatures sha256-{digest["sha256:".Length..]}.sig", copy.StdErr + copy.StdOut, StringComparison.Ordinal);

        // The signature names the repository it was made in; verify checks it against that repository.
        var copied = $"{Host}/attach/copied:v1";
        var verified = (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), "--signed-repository", $"{Host}/attach/source", copied)).Succeeded();
        Assert.Contains($"Verified: {source}@{digest}", verified.StdOut, StringComparison.Ordinal);
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), copied)).FailedWith(1, $"not the repository {Host}/attach/copied");

        // The SBOM artifact is the same manifest, found through the copy's own fallback index.
        Assert.Equal(sbom, (await cli.RunAsync("sbom", "--attached", copied)).Succeeded().StdOut);
        var index = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", $"docker://{Host}/attach/copied:sha256-{digest["sha256:".Length..]}"]);
        Assert.Contains(artifact, index.StdOut, StringComparison.Ordinal);

        // Copying again changes nothing (the index lists the artifact once).
        (await cli.RunAsync("copy", "--attachments", "docker://" + source, $"docker://{Host}/attach/copied:v1")).Succeeded();
        var again = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", $"docker://{Host}/attach/copied:sha256-{digest["sha256:".Length..]}"]);
        Assert.Equal(index.StdOut, again.StdOut);

        // Without the option the image comes alone.
        var bare = $"{Host}/attach/bare:v1";
        (await cli.RunAsync("copy", "docker://" + source, "docker://" + bare)).Succeeded();
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), "--signed-repository", $"{Host}/attach/source", bare)).FailedWith(1, "it has no signatures");
        (await cli.RunAsync("sbom", "--attached", bare)).FailedWith(1, "No SBOM");

        // The option is for registry to registry copies; anything else is refused before writing.
        (await cli.RunAsync("copy", "--attachments", "docker://" + source, "oci:" + dir.Combine("layout") + ":v1")).FailedWith(1, "between registries only");
        Assert.False(Directory.Exists(dir.Combine("layout")));
    }
}
