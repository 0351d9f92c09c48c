using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.HarnessTests;

/// <summary>Proves the real clients work against the harness registry and its busybox base image.</summary>
[Collection(RegistryCollection.Name)]
public class PeerToolTests(RegistryFixture fixture)
{
    [Fact]
    public async Task Skopeo_inspects_the_base_image()
    {
        var result = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{fixture.BaseImage}"]);
        using var json = JsonDocument.Parse(result.StdOut);
        Assert.Equal(fixture.BaseDigest, json.RootElement.GetProperty("Digest").GetString());
        Assert.Equal("linux", json.RootElement.GetProperty("Os").GetString());
        Assert.Single(json.RootElement.GetProperty("Layers").EnumerateArray());
    }

    [Fact]
    public async Task Podman_runs_the_base_image_pulled_from_the_registry()
    {
        using var tools = new ContainerTools();
        var output = await tools.RunFromRegistryAsync(fixture.BaseImage, ["sh", "-c", "echo hello from busybox; id -u app"]);
        Assert.Equal($"hello from busybox\n{BusyboxImage.AppUid}\n", output);
    }

    [Fact]
    public async Task Umoci_unpacks_the_fixture_layout()
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Combine("layout"), "t");
        await Tool.RunCheckedAsync("umoci", ["unpack", "--image", dir.Combine("layout") + ":t", dir.Combine("bundle")]);
        var rootfs = dir.Combine("bundle", "rootfs");
        Assert.True(File.Exists(Path.Combine(rootfs, "bin", "busybox")));
        Assert.Equal("busybox", new FileInfo(Path.Combine(rootfs, "bin", "sh")).LinkTarget);
        Assert.Contains("app:x:1654", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc", "passwd")), StringComparison.Ordinal);
    }
}
