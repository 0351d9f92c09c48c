using OciKit.Images;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Transfer;

/// <summary>Inspecting images in the registry: what the registry serves is checked against the manifest.</summary>
[Collection(RegistryCollection.Name)]
public class ImageInspectorTests(RegistryFixture fixture)
{
    [Fact]
    public async Task A_remote_config_whose_bytes_are_not_its_digest_is_refused()
    {
        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10) });
        var path = $"inspect-config-{Guid.NewGuid():N}";
        var repository = $"{fixture.Registry.Host}/{path}";
        var honest = await PushAsync(client, repository + ":honest", "a");
        var other = await PushAsync(client, repository + ":other", "b");
        Assert.Equal(honest.Config.Size, other.Config.Size);

        // The honest image inspects; then its config is served with the other image's bytes (same size, other digest).
        var inspector = new ImageInspector(client);
        var inspected = await inspector.InspectAsync(repository + ":honest", remote: true);
        Assert.Equal("a", inspected.Config.Config!.Labels!["v"]);

        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        var lying = $"{proxy.Host}/{path}";
        proxy.Add("GET", $"/blobs/{honest.Config.Digest}", new Fault.Redirect(new Uri($"{fixture.Registry.BaseUri}v2/{path}/blobs/{other.Config.Digest}")), times: 10);

        var error = await Assert.ThrowsAsync<RegistryDigestMismatchException>(() => inspector.InspectAsync(lying + ":honest", remote: true));
        Assert.Equal(honest.Config.Digest, error.Expected);
        Assert.Equal(other.Config.Digest, error.Actual);
    }

    private static async Task<BuiltImage> PushAsync(RegistryClient client, string name, string label)
    {
        var reference = ImageReference.Parse(name);
        var image = Image.Scratch(Platform.Current).WithLabel("v", label).Build();
        using (var config = new MemoryStream(image.ConfigBytes.ToArray()))
        {
            await client.UploadBlobAsync(reference, config, image.Config.MediaType);
        }

        await client.PutManifestAsync(reference, image.Manifest.Bytes, image.Manifest.MediaType);
        return image;
    }
}
