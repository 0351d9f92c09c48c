using System.Text;
using System.Text.Json.Nodes;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Cli;

/// <summary>
/// The CLI with one bad image: a pull of it is refused with an error naming it, and one already in the store (written
/// by another tool) is a warning on stderr for <c>images</c> and <c>prune</c>, which still list, prune and exit 0.
/// </summary>
[Collection(RegistryCollection.Name)]
public class CliBrokenImageTests(RegistryFixture fixture)
{
    [Fact]
    public async Task Images_prune_inspect_and_rmi_go_on_past_an_image_whose_config_is_not_json()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        await BuildAsync(cli, dir, "good:1", "a");

        // Another tool's image, written straight into the layout's files: its configuration is not JSON.
        var config = WriteForeignBlob(cli.Store, "not json at all"u8.ToArray());
        var manifest = WriteForeignBlob(cli.Store, Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{config.Digest}}","size":{{config.Size}}},"layers":[]}"""));
        AddToIndexJson(cli.Store, manifest, "docker.io/library/broken:1");

        var images = (await cli.RunAsync("images")).Succeeded();
        var lines = images.StdOut.TrimEnd('\n').Split('\n');
        Assert.StartsWith("REPOSITORY", lines[0], StringComparison.Ordinal);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("good ", lines[1], StringComparison.Ordinal);
        var warning = Assert.Single(images.StdErr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"warning: image docker.io/library/broken:1 ({manifest.Digest}) cannot be read: ", warning, StringComparison.Ordinal);
        Assert.Contains($"configuration {config.Digest}", warning, StringComparison.Ordinal);

        (await cli.RunAsync("inspect", "good:1")).Succeeded();
        var prune = (await cli.RunAsync("prune")).Succeeded();
        Assert.StartsWith("Deleted ", prune.StdOut, StringComparison.Ordinal);

        Assert.Contains("Untagged: docker.io/library/broken:1", (await cli.RunAsync("rmi", "broken:1")).Succeeded().StdOut, StringComparison.Ordinal);
        var clean = (await cli.RunAsync("images")).Succeeded();
        Assert.Equal(string.Empty, clean.StdErr);
        Assert.Contains("good ", clean.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prune_warns_about_an_image_whose_manifest_is_damaged_and_still_deletes_the_rest()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        await BuildAsync(cli, dir, "good:1", "a");
        await BuildAsync(cli, dir, "damaged:1", "b");
        var damaged = (await cli.RunAsync("digest", "damaged:1")).Succeeded().LastLine;
        var orphan = WriteForeignBlob(cli.Store, "orphan"u8.ToArray());

        var layout = await OciLayout.OpenAsync(cli.Store);
        await File.WriteAllTextAsync(layout.BlobPath(Digest.Parse(damaged)), "\0\0\0 the disk ate it");

        var prune = (await cli.RunAsync("prune")).Succeeded();
        Assert.Contains($"warning: image damaged:1 ({damaged}) cannot be read", prune.StdErr, StringComparison.Ordinal);
        Assert.False(layout.ContainsBlob(orphan.Digest));
        var good = await layout.ReadImageAsync("good:1");
        await layout.VerifyImageAsync(good.Image);
        Assert.Contains("good ", (await cli.RunAsync("images")).Succeeded().StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pulling_an_image_whose_config_is_not_json_fails_naming_it_and_stores_nothing()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var target = ImageReference.Parse($"{fixture.Registry.Host}/broken/config:1");
        using (var client = new RegistryClient())
        {
            var config = await client.UploadBlobAsync(target, new MemoryStream("not json"u8.ToArray()), MediaTypes.OciConfig);
            var manifest = Encoding.UTF8.GetBytes(
                $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{config.Digest}}","size":{{config.Size}}},"layers":[]}""");
            await client.PutManifestAsync(target, manifest, MediaTypes.OciManifest);
        }

        var pull = await cli.RunAsync("--no-progress", "pull", target.ToString());
        pull.FailedWith(1, $"image {target}");
        var layout = await OciLayout.OpenAsync(cli.Store);
        Assert.Empty(await layout.ListImagesAsync());
        Assert.Empty(Directory.GetFiles(Path.Combine(cli.Store, "blobs", "sha256")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(cli.Store, ".ocikit", "tmp")));
    }

    /// <summary>Builds a one-file image (FROM scratch, COPY a.txt) into the CLI's store under <paramref name="tag"/>.</summary>
    private static async Task BuildAsync(CliRun cli, TempDir dir, string tag, string content)
    {
        var context = Directory.CreateDirectory(dir.Combine("context")).FullName;
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n");
        await File.WriteAllTextAsync(Path.Combine(context, "a.txt"), content);
        (await cli.RunAsync("build", context, "-t", tag)).Succeeded();
    }

    private static Descriptor WriteForeignBlob(string store, byte[] bytes)
    {
        var digest = Digest.ComputeSha256(bytes);
        File.WriteAllBytes(Path.Combine(store, "blobs", "sha256", digest.Encoded), bytes);
        return new Descriptor(MediaTypes.OciManifest, digest, bytes.Length);
    }

    private static void AddToIndexJson(string store, Descriptor manifest, string name)
    {
        var path = Path.Combine(store, "index.json");
        var index = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        index["manifests"]!.AsArray().Add(new JsonObject
        {
            ["mediaType"] = manifest.MediaType,
            ["digest"] = manifest.Digest.ToString(),
            ["size"] = manifest.Size,
            ["annotations"] = new JsonObject { [AnnotationKeys.RefName] = name },
        });
        File.WriteAllText(path, index.ToJsonString());
    }
}
