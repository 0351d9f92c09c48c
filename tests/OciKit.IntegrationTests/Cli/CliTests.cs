using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>Every verb of the <c>ocikit</c> CLI, run in-process against the real test registry.</summary>
[Collection(RegistryCollection.Name)]
public class CliTests(RegistryFixture fixture)
{
    private string Host => fixture.Registry.Host;

    private static string Sha256(string text) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task Pull_images_inspect_tag_rmi_and_prune_work_on_the_local_store()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);

        var pull = (await cli.RunAsync("pull", fixture.BaseImage)).Succeeded();
        Assert.Equal(fixture.BaseDigest, pull.LastLine);
        Assert.Contains("2 blob(s) downloaded", pull.StdOut, StringComparison.Ordinal);

        // images: repository, tag, image id (the config digest), created, size.
        var config = (await cli.RunAsync("config", fixture.BaseImage)).Succeeded().StdOut.TrimEnd('\n');
        var imageId = Sha256(config);
        var images = (await cli.RunAsync("images")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"], images[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var row = Assert.Single(images[1..]).Split("   ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"{Host}/{RegistryFixture.BaseRepository}", row[0]);
        Assert.Equal("latest", row[1]);
        Assert.Equal(imageId["sha256:".Length..][..12], row[2]);
        Assert.Equal("N/A", row[3]); // the fixture's config says 1970
        Assert.EndsWith("B", row[4], StringComparison.Ordinal);

        // inspect: docker-like JSON, and --format paths.
        var inspect = (await cli.RunAsync("inspect", fixture.BaseImage)).Succeeded().StdOut;
        var json = JsonDocument.Parse(inspect).RootElement[0];
        Assert.Equal(imageId, json.GetProperty("Id").GetString());
        Assert.Equal(fixture.BaseDigest, json.GetProperty("Digest").GetString());
        Assert.Equal("[sh]\n", (await cli.RunAsync("inspect", "--format", "{{.Config.Cmd}}", fixture.BaseImage)).Succeeded().StdOut);
        Assert.Equal("[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]\n", (await cli.RunAsync("inspect", "--format", "{{.Config.Env}}", fixture.BaseImage)).Succeeded().StdOut);
        var formatted = (await cli.RunAsync("inspect", "-f", "{{.Os}} {{json .RootFS.Layers}} {{.NoSuchField}}", fixture.BaseImage)).Succeeded().StdOut;
        Assert.StartsWith("linux [", formatted, StringComparison.Ordinal);
        Assert.EndsWith("] <no value>\n", formatted, StringComparison.Ordinal);
        Assert.Equal(fixture.BaseDigest + "\n", (await cli.RunAsync("digest", fixture.BaseImage)).Succeeded().StdOut);
        Assert.Equal(fixture.BaseDigest, Sha256((await cli.RunAsync("manifest", fixture.BaseImage)).Succeeded().StdOut.TrimEnd('\n')));

        // tag, then rmi both names, then prune removes the now unreferenced blobs.
        (await cli.RunAsync("tag", fixture.BaseImage, "mine/busybox:v1")).Succeeded();
        Assert.Contains("mine/busybox", (await cli.RunAsync("images")).StdOut, StringComparison.Ordinal);
        Assert.Equal(fixture.BaseDigest + "\n", (await cli.RunAsync("digest", "mine/busybox:v1")).Succeeded().StdOut);
        (await cli.RunAsync("rmi", "mine/busybox:v1", fixture.BaseImage)).Succeeded();
        Assert.Single((await cli.RunAsync("images")).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var prune = (await cli.RunAsync("prune")).Succeeded();
        Assert.StartsWith("Deleted 3 blob(s)", prune.StdOut, StringComparison.Ordinal);
        (await cli.RunAsync("rmi", "mine/busybox:v1")).FailedWith(1, "mine/busybox:v1");
    }

    [Fact]
    public async Task Push_tags_and_copy_preserve_the_digest_across_registry_layout_and_archives()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        (await cli.RunAsync("pull", "-q", fixture.BaseImage)).Succeeded();
        (await cli.RunAsync("tag", fixture.BaseImage, $"{Host}/cli/pushed:1")).Succeeded();
        Assert.Equal(fixture.BaseDigest + "\n", (await cli.RunAsync("push", "-q", $"{Host}/cli/pushed:1")).Succeeded().StdOut);
        Assert.Equal(fixture.BaseDigest, (await cli.RunAsync("push", $"{Host}/cli/pushed:1", $"{Host}/cli/pushed:2")).Succeeded().LastLine);
        Assert.Equal(["1", "2"], (await cli.RunAsync("tags", $"{Host}/cli/pushed")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());

        string[] hops =
        [
            $"docker://{Host}/cli/pushed:1",
            $"oci:{dir.Combine("layout")}:v1",
            $"oci-archive:{dir.Combine("a.oci.tar")}",
            $"docker-archive:{dir.Combine("a.docker.tar")}:cli/copied:1",
            $"{Host}/cli/copied:back",
        ];
        for (var i = 1; i < hops.Length; i++)
        {
            Assert.Equal(fixture.BaseDigest + "\n", (await cli.RunAsync("copy", "-q", hops[i - 1], hops[i])).Succeeded().StdOut);
        }

        Assert.Equal(fixture.BaseDigest + "\n", (await cli.RunAsync("digest", "--remote", $"{Host}/cli/copied:back")).Succeeded().StdOut);
        var skopeo = await Tool.RunCheckedAsync("skopeo", ["inspect", $"oci-archive:{dir.Combine("a.oci.tar")}"]);
        Assert.Equal(fixture.BaseDigest, JsonDocument.Parse(skopeo.StdOut).RootElement.GetProperty("Digest").GetString());
    }

    [Fact]
    public async Task Search_lists_the_registry_catalog()
    {
        using var dir = new TempDir();
        var result = (await new CliRun(dir).RunAsync("search", $"{Host}/busy")).Succeeded();
        Assert.Contains(RegistryFixture.BaseRepository, result.StdOut.Split('\n'));
    }

    [Fact]
    public async Task Commit_appends_the_difference_of_two_directories_and_diff_writes_that_layer()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var lower = Directory.CreateDirectory(dir.Combine("lower")).FullName;
        var upper = Directory.CreateDirectory(dir.Combine("upper")).FullName;
        File.WriteAllText(Path.Combine(lower, "gone.txt"), "old");
        File.WriteAllText(Path.Combine(lower, "same.txt"), "same");
        File.WriteAllText(Path.Combine(upper, "same.txt"), "same");
        File.WriteAllText(Path.Combine(upper, "new.txt"), "committed\n");

        var layerFile = dir.Combine("layer.tar.gz");
        var diff = (await cli.RunAsync("diff", lower, upper, "-o", layerFile)).Succeeded();
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(layerFile))), diff.LastLine);
        var listing = await Tool.RunCheckedAsync("tar", ["-tzf", layerFile]);
        Assert.Equal([".wh.gone.txt", "new.txt"], listing.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.StartsWith("./", StringComparison.Ordinal) ? l[2..] : l).Order(StringComparer.Ordinal));

        (await cli.RunAsync("pull", "-q", fixture.BaseImage)).Succeeded();
        var commit = (await cli.RunAsync("commit", fixture.BaseImage, "committed:1", "--lower", lower, "--upper", upper, "-m", "add new.txt")).Succeeded();
        var layers = (await cli.RunAsync("inspect", "--format", "{{json .Manifest.Layers}}", "committed:1")).Succeeded().StdOut;
        var array = JsonDocument.Parse(layers).RootElement;
        Assert.Equal(2, array.GetArrayLength());
        Assert.Equal(diff.LastLine, array[1].GetProperty("Digest").GetString());
        Assert.Equal(commit.LastLine + "\n", (await cli.RunAsync("digest", "committed:1")).Succeeded().StdOut);

        // The committed image runs where the new file is visible: push it and let skopeo read it back.
        Assert.Equal(commit.LastLine, (await cli.RunAsync("push", "committed:1", $"{Host}/cli/committed:1")).Succeeded().LastLine);
        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{Host}/cli/committed:1"]);
        Assert.Equal(2, JsonDocument.Parse(inspect.StdOut).RootElement.GetProperty("Layers").GetArrayLength());
    }

    [Fact]
    public async Task Bad_arguments_and_missing_things_give_exit_1_and_one_line()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        (await cli.RunAsync("pull")).FailedWith(1, "Required argument missing");
        (await cli.RunAsync("frobnicate")).FailedWith(1, "frobnicate");
        (await cli.RunAsync("copy", "Not A Reference", "oci:/tmp/x")).FailedWith(1, "Invalid image reference 'Not A Reference'");
        (await cli.RunAsync("pull", "--platform", "linux", fixture.BaseImage)).FailedWith(1, "os/architecture");
        (await cli.RunAsync("tag", "absent:1", "other:1")).FailedWith(1, "absent:1");
        (await cli.RunAsync("inspect", "--format", "{{.Config", fixture.BaseImage)).FailedWith(1, "unclosed");
        (await cli.RunAsync("inspect", "--format", "{{range .Config.Env}}", fixture.BaseImage)).FailedWith(1, "not supported");
        (await cli.RunAsync("pull", $"{Host}/no/such-image:1")).FailedWith(1, "no/such-image");
        (await cli.RunAsync("copy", $"oci:{dir.Combine("absent")}", $"oci:{dir.Combine("x")}")).FailedWith(1, "absent");
        (await cli.RunAsync("diff", dir.Combine("absent"), dir.Path, "-o", dir.Combine("l.tgz"))).FailedWith(1, "absent");
        (await cli.RunAsync("login", Host, "-u", "me")).FailedWith(1, "--password-stdin");

        // A registry that does not answer is a registry error (2); --verbose adds the stack trace.
        (await cli.RunAsync("pull", "127.0.0.1:9/nothing:1")).FailedWith(2, "127.0.0.1:9");
        var verbose = await cli.RunAsync("--verbose", "pull", "127.0.0.1:9/nothing:1");
        Assert.Equal(2, verbose.ExitCode);
        Assert.Contains("   at ", verbose.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_every_verb_and_the_global_options()
    {
        using var dir = new TempDir();
        var help = (await new CliRun(dir).RunAsync("--help")).Succeeded().StdOut;
        foreach (var verb in new[] { "build", "pull", "push", "copy", "tag", "images", "rmi", "prune", "inspect", "manifest", "config", "digest", "tags", "search", "login", "logout", "diff", "commit", "parse", "sbom", "key", "sign", "verify" })
        {
            Assert.Matches($"(?m)^  {verb}\\b", help);
        }

        foreach (var option in new[] { "--insecure-registry", "--store", "--authfile", "--quiet", "--verbose", "--no-progress" })
        {
            Assert.Contains(option, help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Progress_is_one_line_per_blob_event_when_output_is_not_a_terminal()
    {
        using var dir = new TempDir();
        var result = (await new CliRun(dir).RunAsync("pull", fixture.BaseImage)).Succeeded();
        var lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Count(l => l.EndsWith(")", StringComparison.Ordinal) && l.Contains(": done (", StringComparison.Ordinal)));
        Assert.All(lines, l => Assert.Matches("^[0-9a-f]{12}: (transferring|done) \\(", l));
        Assert.Empty((await new CliRun(dir).RunAsync("--no-progress", "pull", fixture.BaseImage)).Succeeded().StdErr);
    }
}
