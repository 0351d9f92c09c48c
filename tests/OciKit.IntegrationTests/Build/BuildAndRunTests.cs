using OciKit.Build;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Build;

/// <summary>Images built by the engine on the busybox base from the test registry, pushed, and run by podman.</summary>
[Collection(RegistryCollection.Name)]
public class BuildAndRunTests(RegistryFixture fixture)
{
    [Fact]
    public async Task An_image_built_on_busybox_is_pushed_and_podman_runs_it()
    {
        using var dir = new TempDir("ocikit-build");
        var context = dir.Combine("context");
        Directory.CreateDirectory(context);
        await File.WriteAllTextAsync(Path.Combine(context, "hello.sh"), "cat /etc/greeting\nid -u\npwd\nstat -c %u /usr/local/bin/hello.sh /work\n");
        await File.WriteAllTextAsync(Path.Combine(context, ".dockerignore"), "*.tmp\n");
        await File.WriteAllTextAsync(Path.Combine(context, "junk.tmp"), "ignored");
        var dockerfile = $"""
            ARG BASE={fixture.BaseImage}
            FROM $BASE
            ARG WHO=nobody
            COPY --chmod=755 --chown=app *.sh /usr/local/bin/
            COPY <<EOF /etc/greeting
            hello from $WHO
            EOF
            USER app
            WORKDIR /work
            ENTRYPOINT ["/bin/sh", "/usr/local/bin/hello.sh"]
            """;
        var tag = $"{fixture.Registry.Host}/build/hello:1";
        using var client = new RegistryClient();
        var options = new BuildOptions(context)
        {
            DockerfileText = dockerfile,
            StorePath = dir.Combine("store"),
            Tags = [tag],
            BuildArgs = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("WHO", "ocikit"),
            BaseImages = new RegistryBaseImages(client),
        };

        var result = await ImageBuilder.BuildAsync(options);
        await new ImageDelivery(await OciLayout.OpenAsync(dir.Combine("store"))).PushAsync(client, result.Tags);
        Assert.Empty(result.Warnings);
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var (image, _) = await store.ReadImageAsync(tag);
        Assert.Equal(4, image.Layers.Length); // busybox + two COPY + WORKDIR

        using var tools = new ContainerTools();
        var output = await tools.RunFromRegistryAsync(tag, []);
        Assert.Equal($"hello from ocikit\n{BusyboxImage.AppUid}\n/work\n{BusyboxImage.AppUid}\n{BusyboxImage.AppUid}\n", output);

        // A rebuild reuses the pulled base and every layer, and gives the same digest.
        var again = await ImageBuilder.BuildAsync(options);
        Assert.Equal(result.Digest, again.Digest);
    }
}
