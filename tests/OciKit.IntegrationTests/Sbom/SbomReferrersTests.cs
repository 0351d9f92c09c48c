using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using OciKit.Images;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Sbom;

/// <summary>
/// <c>ocikit sbom</c> against the real test registry (Debian's docker-registry, which lacks the referrers API): attach
/// pushes the SPDX artifact and keeps the <c>sha256-&lt;hex&gt;</c> fallback index, which skopeo reads, and
/// <c>--attached</c> finds the SBOM again, through the fallback tag and through a referrers API in front.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class SbomReferrersTests(RegistryFixture fixture)
{
    private const string Status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";
    private const string Apk = "P:musl\nV:1.2.4-r2\nA:x86_64\n";
    private const string Deps = """{ "libraries": { "app/1.0.0": { "type": "project" }, "Serilog/3.1.1": { "type": "package" } } }""";

    private string Host => fixture.Registry.Host;

    [Fact]
    public async Task Attach_pushes_an_spdx_artifact_and_the_fallback_index_that_skopeo_reads_and_attached_reads_it_back_byte_for_byte()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var image = $"{Host}/sbom/app:1";
        await PushImageAsync(dir, image, cli);
        var digest = (await cli.RunAsync("digest", "--remote", image)).Succeeded().LastLine;
        var hex = digest["sha256:".Length..];

        var generated = (await cli.RunAsync("sbom", image)).Succeeded().StdOut;
        var purls = Purls(generated);
        Assert.Equal(["pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64", "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all", "pkg:nuget/Serilog@3.1.1"], purls);
        Assert.Equal(generated, (await cli.RunAsync("sbom", "docker://" + image)).Succeeded().StdOut);

        // Pulled into the local store, the bare name is read from there (no registry request), to the same bytes.
        (await cli.RunAsync("pull", image)).Succeeded();
        var before = fixture.Registry.CountRequests("GET", "/v2/sbom/app/");
        Assert.Equal(generated, (await cli.RunAsync("sbom", image)).Succeeded().StdOut);
        Assert.Equal(before, fixture.Registry.CountRequests("GET", "/v2/sbom/app/"));
        (await cli.RunAsync("sbom", "--attached", image)).FailedWith(1, "No SBOM");

        var attach = (await cli.RunAsync("sbom", "attach", image)).Succeeded();
        var artifact = attach.LastLine;
        Assert.Contains($"(referrers tag sha256-{hex})", attach.StdOut, StringComparison.Ordinal);

        // The fallback index, as skopeo reads it: the one SPDX artifact, with its type.
        var index = await SkopeoRawAsync($"docker://{Host}/sbom/app:sha256-{hex}");
        Assert.Equal(MediaTypes.OciIndex, index.GetProperty("mediaType").GetString());
        var listed = Assert.Single(index.GetProperty("manifests").EnumerateArray().ToList());
        Assert.Equal(artifact, listed.GetProperty("digest").GetString());
        Assert.Equal(MediaTypes.OciManifest, listed.GetProperty("mediaType").GetString());
        Assert.Equal(MediaTypes.SpdxJson, listed.GetProperty("artifactType").GetString());

        // The artifact: SPDX type, empty config, one SPDX layer, the image as subject.
        var manifest = await SkopeoRawAsync($"docker://{Host}/sbom/app@{artifact}");
        Assert.Equal(MediaTypes.SpdxJson, manifest.GetProperty("artifactType").GetString());
        Assert.Equal(MediaTypes.OciEmpty, manifest.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", manifest.GetProperty("config").GetProperty("digest").GetString());
        Assert.Equal(MediaTypes.SpdxJson, Assert.Single(manifest.GetProperty("layers").EnumerateArray().ToList()).GetProperty("mediaType").GetString());
        Assert.Equal(digest, manifest.GetProperty("subject").GetProperty("digest").GetString());

        // Read back: the bytes generated, since generation is deterministic.
        Assert.Equal(generated, (await cli.RunAsync("sbom", "--attached", image)).Succeeded().StdOut);

        // Attaching the same SBOM again finds it listed and leaves the index as it was.
        var again = (await cli.RunAsync("sbom", "attach", image)).Succeeded();
        Assert.Equal(artifact, again.LastLine);
        Assert.Single((await SkopeoRawAsync($"docker://{Host}/sbom/app:sha256-{hex}")).GetProperty("manifests").EnumerateArray());

        // Through a registry that has the referrers API, the SBOM is found by the API (not the fallback tag).
        using var api = new ReferrersApiDouble(fixture.Registry.BaseUri, ReferrersApiMode.Filtering);
        api.Add("sbom/app", digest, MediaTypes.OciManifest, artifact, listed.GetProperty("size").GetInt64(), MediaTypes.SpdxJson);
        Assert.Equal(generated, (await cli.RunAsync("sbom", "--attached", $"{api.Host}/sbom/app:1")).Succeeded().StdOut);
        Assert.Contains(api.Requests, r => r.AnsweredItself && r.PathAndQuery.StartsWith($"/v2/sbom/app/referrers/{digest}", StringComparison.Ordinal));
        Assert.DoesNotContain(api.Requests, r => r.PathAndQuery.Contains($"sha256-{hex}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Attach_and_attached_refuse_a_location_that_is_not_a_registry_as_a_user_error_and_help_lists_the_verbs()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);

        (await cli.RunAsync("sbom", "--attached", "oci:" + dir.Combine("layout"))).FailedWith(1, "an attached SBOM lives in a registry");
        (await cli.RunAsync("sbom", "attach", "oci:" + dir.Combine("layout"))).FailedWith(1, "an attached SBOM lives in a registry");
        Assert.Matches("(?m)^  sbom\\b", (await cli.RunAsync("--help")).Succeeded().StdOut);
        var help = (await cli.RunAsync("sbom", "--help")).Succeeded().StdOut;
        Assert.Matches("(?m)^  attach\\b", help);
        Assert.Contains("--attached", help, StringComparison.Ordinal);
    }

    /// <summary>Writes a two-layer image (OS databases, then an application's deps.json) into a layout and copies it to the registry.</summary>
    private static async Task PushImageAsync(TempDir dir, string image, CliRun cli)
    {
        var layout = await OciLayout.OpenAsync(dir.Combine("layout"));
        var built = Image.Scratch(Platform.Current).WithCreated(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero));
        foreach (var files in new[] { new[] { ("var/lib/dpkg/status", Status), ("lib/apk/db/installed", Apk) }, [("app/app.deps.json", Deps)] })
        {
            var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
            {
                foreach (var (path, content) in files)
                {
                    writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, path) { ModificationTime = DateTimeOffset.UnixEpoch, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
                }
            }

            var bytes = tar.ToArray();
            var layer = await layout.WriteBlobAsync(bytes, MediaTypes.OciLayer);
            built = built.AppendLayer(layer, Digest.ComputeSha256(bytes));
        }

        await layout.WriteImageAsync(built.Build(), "app");
        (await cli.RunAsync("copy", "oci:" + dir.Combine("layout") + ":app", "docker://" + image)).Succeeded();
    }

    private static async Task<JsonElement> SkopeoRawAsync(string location)
    {
        var raw = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", location]);
        return JsonDocument.Parse(raw.StdOut).RootElement.Clone();
    }

    private static List<string?> Purls(string spdx) =>
        JsonDocument.Parse(spdx).RootElement.GetProperty("packages").EnumerateArray().Skip(1)
            .Select(p => p.GetProperty("externalRefs")[0].GetProperty("referenceLocator").GetString()).ToList();
}
