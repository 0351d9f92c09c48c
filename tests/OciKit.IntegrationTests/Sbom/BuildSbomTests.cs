using System.Text.Json;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Sbom;

/// <summary>
/// <c>build --sbom</c>: the SPDX document of the built image is kept in the store as an artifact referring to it (found by
/// <c>sbom --attached NAME</c>, kept by <c>prune</c>), and with <c>--push</c> attached in the registry as well, the
/// same bytes, where skopeo reads the referrers index and the artifact's subject.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class BuildSbomTests(RegistryFixture fixture)
{
    private const string Status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n";
    private const string Deps = """{ "libraries": { "app/1.0.0": { "type": "project" }, "Serilog/3.1.1": { "type": "package" } } }""";

    [Fact]
    public async Task The_sbom_is_kept_in_the_store_and_pushed_beside_the_image()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var context = dir.Combine("context");
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "status"), Status);
        File.WriteAllText(Path.Combine(context, "app.deps.json"), Deps);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY status /var/lib/dpkg/status\nCOPY app.deps.json /app/\n");

        // Store only: the artifact is beside the image, and prune keeps it.
        var built = (await cli.RunAsync("--quiet", "build", "--sbom", "-t", "local/app:1", context)).Succeeded();
        var stored = (await cli.RunAsync("sbom", "--attached", "local/app:1")).Succeeded().StdOut;
        Assert.Equal((await cli.RunAsync("sbom", "local/app:1")).Succeeded().StdOut, stored);
        Assert.Contains("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64", stored, StringComparison.Ordinal);
        Assert.Contains("pkg:nuget/Serilog@3.1.1", stored, StringComparison.Ordinal);
        (await cli.RunAsync("prune")).Succeeded();
        Assert.Equal(stored, (await cli.RunAsync("sbom", "--attached", "local/app:1")).Succeeded().StdOut);
        Assert.Contains($"local/app:sha256-{built.LastLine["sha256:".Length..]}", await File.ReadAllTextAsync(Path.Combine(cli.Store, "index.json")), StringComparison.Ordinal);

        // Pushed: the registry has the same SBOM as an artifact whose subject is the pushed image.
        var image = $"{fixture.Registry.Host}/sbom/built:1";
        var pushed = (await cli.RunAsync("build", "--sbom", "--push", "-t", image, context)).Succeeded();
        var digest = pushed.LastLine;
        var remote = (await cli.RunAsync("sbom", "--attached", "docker://" + image)).Succeeded().StdOut;
        Assert.Equal((await cli.RunAsync("sbom", "--attached", image)).Succeeded().StdOut, remote);
        Assert.Equal((await cli.RunAsync("sbom", image)).Succeeded().StdOut, remote);

        var index = await SkopeoRawAsync($"docker://{image.Replace(":1", "", StringComparison.Ordinal)}:sha256-{digest["sha256:".Length..]}");
        var artifact = Assert.Single(index.GetProperty("manifests").EnumerateArray().ToList());
        Assert.Equal(MediaTypes.SpdxJson, artifact.GetProperty("artifactType").GetString());
        var manifest = await SkopeoRawAsync($"docker://{fixture.Registry.Host}/sbom/built@{artifact.GetProperty("digest").GetString()}");
        Assert.Equal(digest, manifest.GetProperty("subject").GetProperty("digest").GetString());

        // Without a tag there is nowhere to keep it: refused before building.
        (await cli.RunAsync("build", "--sbom", context)).FailedWith(1, "needs at least one tag");
    }

    private static async Task<JsonElement> SkopeoRawAsync(string location)
    {
        var raw = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", location]);
        return JsonDocument.Parse(raw.StdOut).RootElement.Clone();
    }
}
