using System.Text.Json;
using OciKit.Images;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Transfer;

/// <summary>Copies between the registry, OCI layouts and both archive kinds keep the image's digest; skopeo agrees.</summary>
[Collection(RegistryCollection.Name)]
public class ImageCopierTests(RegistryFixture fixture)
{
    [Fact]
    public async Task A_round_trip_through_every_transport_preserves_the_digest()
    {
        using var dir = new TempDir();
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);
        var hops = new[]
        {
            $"docker://{fixture.BaseImage}",
            $"oci:{dir.Combine("layout")}:v1",
            $"oci-archive:{dir.Combine("image.oci.tar")}:v1",
            $"docker-archive:{dir.Combine("image.docker.tar")}:copied/busybox:1",
            $"oci:{dir.Combine("layout2")}",
            $"{fixture.Registry.Host}/copier/busybox:round-trip",
        };

        for (var i = 1; i < hops.Length; i++)
        {
            var result = await copier.CopyAsync(ImageLocation.Parse(hops[i - 1]), ImageLocation.Parse(hops[i]));
            Assert.Equal(fixture.BaseDigest, result.Descriptor.Digest.ToString());
        }

        // Every place now holds the same manifest, by skopeo's reading too.
        foreach (var hop in new[] { hops[1], hops[2], hops[5] })
        {
            var text = hop.StartsWith(fixture.Registry.Host, StringComparison.Ordinal) ? "docker://" + hop : hop;
            var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", text]);
            Assert.Equal(fixture.BaseDigest, JsonDocument.Parse(inspect.StdOut).RootElement.GetProperty("Digest").GetString());
        }

        // The layout without a tag got the source's name (its tag in the docker archive), and no temporary file is left.
        var layout2 = await OciLayout.OpenAsync(dir.Combine("layout2"));
        Assert.Equal(["1"], (await layout2.ListImagesAsync()).Select(i => i.Name));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        await using var archive = File.OpenRead(dir.Combine("image.docker.tar"));
        using var tar = new System.Formats.Tar.TarReader(archive);
        while (await tar.GetNextEntryAsync() is { } entry)
        {
            if (entry.Name == "manifest.json")
            {
                var manifest = await JsonDocument.ParseAsync(entry.DataStream!);
                Assert.Equal("copied/busybox:1", manifest.RootElement[0].GetProperty("RepoTags")[0].GetString());
                return;
            }
        }

        Assert.Fail("the docker archive has no manifest.json");
    }

    [Fact]
    public async Task A_layout_holding_several_images_needs_a_name_and_a_missing_one_is_reported()
    {
        using var dir = new TempDir();
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);
        var layout = dir.Combine("layout");
        await copier.CopyAsync(ImageLocation.Parse(fixture.BaseImage), ImageLocation.Parse($"oci:{layout}:a"));
        var store = await OciLayout.OpenAsync(layout);
        await store.TagAsync("b", (await store.ResolveAsync("a"))!);
        await store.TagAsync("c", await WriteOtherManifestAsync(store));

        var ambiguous = await Assert.ThrowsAsync<ImageNotFoundException>(() => copier.CopyAsync(ImageLocation.Parse($"oci:{layout}"), ImageLocation.Parse($"oci:{dir.Combine("x")}:t")));
        Assert.Contains("several images", ambiguous.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ImageNotFoundException>(() => copier.CopyAsync(ImageLocation.Parse($"oci:{layout}:nope"), ImageLocation.Parse($"oci:{dir.Combine("x")}:t")));
        Assert.Contains("a, b, c", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FileNotFoundException>(() => copier.CopyAsync(ImageLocation.Parse($"oci-archive:{dir.Combine("absent.tar")}"), ImageLocation.Parse($"oci:{dir.Combine("x")}:t")));
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => copier.CopyAsync(ImageLocation.Parse($"oci:{dir.Combine("absent")}"), ImageLocation.Parse($"oci:{dir.Combine("x")}:t")));
        Assert.False(Directory.Exists(dir.Combine("x")));
    }

    [Fact]
    public async Task A_multi_platform_index_keeps_its_digest_and_platform_picks_one_image()
    {
        using var dir = new TempDir();
        using var client = new RegistryClient();
        var copier = new ImageCopier(client);
        var layout = dir.Combine("multi");
        await copier.CopyAsync(ImageLocation.Parse(fixture.BaseImage), ImageLocation.Parse($"oci:{layout}:base"));
        var store = await OciLayout.OpenAsync(layout);
        var (baseImage, baseManifest) = await store.ReadImageAsync("base");
        var other = await store.WriteImageAsync(baseImage.WithConfig(c => c with { Architecture = "riscv64" }).Build());
        var index = ManifestDocument.FromIndex(new ImageIndex([
            baseManifest.Descriptor with { Platform = new Platform("linux", Platform.Current.Architecture) },
            other with { Platform = new Platform("linux", "riscv64") },
        ]));
        await store.WriteManifestAsync(index);
        await store.TagAsync("multi", index.Descriptor);

        string[] hops = [$"oci:{layout}:multi", $"{fixture.Registry.Host}/copier/multi:1", $"oci-archive:{dir.Combine("multi.tar")}:m", $"oci:{dir.Combine("again")}:m"];
        for (var i = 1; i < hops.Length; i++)
        {
            Assert.Equal(index.Digest, (await copier.CopyAsync(ImageLocation.Parse(hops[i - 1]), ImageLocation.Parse(hops[i]))).Descriptor.Digest);
        }

        var riscv = await copier.CopyAsync(ImageLocation.Parse(hops[1]), ImageLocation.Parse($"{fixture.Registry.Host}/copier/multi:riscv"), new CopyOptions { Platform = Platform.Parse("linux/riscv64") });
        Assert.Equal(other.Digest, riscv.Descriptor.Digest);
        var docker = await copier.CopyAsync(ImageLocation.Parse(hops[2]), ImageLocation.Parse($"docker-archive:{dir.Combine("native.tar")}:multi:native"));
        Assert.Equal(baseManifest.Digest, docker.Descriptor.Digest);
        await Assert.ThrowsAsync<ImageNotFoundException>(() => copier.CopyAsync(ImageLocation.Parse(hops[1]), ImageLocation.Parse($"oci:{dir.Combine("none")}"), new CopyOptions { Platform = Platform.Parse("linux/s390x") }));
    }

    private static async Task<Primitives.Descriptor> WriteOtherManifestAsync(OciLayout store)
    {
        var (image, _) = await store.ReadImageAsync("a");
        return await store.WriteImageAsync(image.WithLabel("other", "yes").Build());
    }
}
