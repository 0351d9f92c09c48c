using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Publish;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// The library facade behind OciPublish, without MSBuild: the base comes from the test registry, the image stays in
/// the local store and goes to archives that skopeo and podman read.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerizerTests(RegistryFixture registry)
{
    [Theory]
    [InlineData(ContainerImageFormat.Oci, "oci-archive")]
    [InlineData(ContainerImageFormat.Docker, "docker-archive")]
    public async Task Image_kept_in_the_local_store_is_deterministic_and_its_archive_runs(ContainerImageFormat format, string transport)
    {
        using var dir = new TempDir("ocikit-containerize");
        var publish = Directory.CreateDirectory(dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "run.sh"), "#!/bin/sh\necho \"hi from $(cat /app/lib/data.txt) as $(id -u) in $PWD: $*\"\n");
        File.SetUnixFileMode(Path.Combine(publish, "run.sh"), (UnixFileMode)0x1ED);
        Directory.CreateDirectory(Path.Combine(publish, "lib"));
        await File.WriteAllTextAsync(Path.Combine(publish, "lib", "data.txt"), "a package");
        var files = PublishLayers.Collect(publish, [new PublishedFileOrigin("lib/data.txt", "Some.Package")]);
        var request = new ContainerizeRequest
        {
            Files = files,
            BaseImage = ImageReference.Parse(registry.BaseImage),
            Repository = "facade/app",
            Tags = ["1", "2"],
            User = "1654",
            Entrypoint = new ContainerEntrypoint(["/app/run.sh"], DefaultArgs: ["default"]),
            Format = format,
            ArchiveOutputPath = dir.Path + "/out/",
        };

        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));
        var messages = new List<string>();
        var first = await new Containerizer(store, client).ContainerizeAsync(request, new Progress(messages));
        var second = await new Containerizer(store, client).ContainerizeAsync(request);

        Assert.Equal(first.Manifest.Digest, second.Manifest.Digest);
        Assert.All(first.Images[0].Layers, l => Assert.False(l.Reused));
        Assert.All(second.Images[0].Layers, l => Assert.True(l.Reused));
        Assert.Equal(["facade/app:1", "facade/app:2"], first.References.ToArray());
        Assert.Equal(0, first.BlobsUploaded);
        Assert.Equal([PublishLayerKind.Packages, PublishLayerKind.App], first.Images[0].Layers.Select(l => l.Kind));
        Assert.Equal(first.Manifest.Digest, (await store.ResolveAsync("facade/app:2"))!.Digest);
        Assert.Equal(registry.BaseDigest, first.Images[0].BaseManifest.Digest.ToString());
        Assert.Contains(messages, m => m.StartsWith("Layer App: 1 file(s)", StringComparison.Ordinal));
        Assert.Equal(dir.Combine("out", "facade-app.tar"), first.ArchivePath);

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--raw", $"{transport}:{first.ArchivePath}"]);
        Assert.Contains(format == ContainerImageFormat.Docker ? "vnd.docker.distribution.manifest.v2+json" : "vnd.oci.image.manifest.v1+json", inspect.StdOut, StringComparison.Ordinal);

        using var containers = new ContainerTools();
        var run = await containers.PodmanAsync(["run", "--rm", "--network=none", $"{transport}:{first.ArchivePath}"]);
        Assert.Equal("hi from a package as 1654 in /app: default", run.EnsureSuccess().StdOut.Trim());

        // A change to the app's own file rewrites only the app layer; the package layer is taken from the store.
        await File.AppendAllTextAsync(Path.Combine(publish, "run.sh"), "# changed\n");
        var changed = await new Containerizer(store, client).ContainerizeAsync(request with { ArchiveOutputPath = null });
        Assert.NotEqual(first.Manifest.Digest, changed.Manifest.Digest);
        Assert.Equal([true, false], changed.Images[0].Layers.Select(l => l.Reused));
        Assert.Equal(first.Images[0].Layers[0].Layer, changed.Images[0].Layers[0].Layer);
    }

    [Fact]
    public async Task A_missing_base_image_is_reported_as_not_found()
    {
        using var dir = new TempDir("ocikit-containerize");
        await File.WriteAllTextAsync(dir.Combine("app.dll"), "x");
        var request = new ContainerizeRequest
        {
            Files = PublishLayers.Collect(dir.Path, []),
            BaseImage = ImageReference.Parse($"{registry.Registry.Host}/base/absent:1"),
            Repository = "facade/absent",
            Entrypoint = new ContainerEntrypoint(["/app/app"]),
        };
        using var client = new RegistryClient();
        var store = await OciLayout.OpenAsync(dir.Combine("store"));

        var e = await Assert.ThrowsAsync<ImageNotFoundException>(() => new Containerizer(store, client).ContainerizeAsync(request));
        Assert.Equal($"{registry.Registry.Host}/base/absent:1", e.Name);
    }

    private sealed class Progress(List<string> messages) : IProgress<string>
    {
        public void Report(string value) => messages.Add(value);
    }
}
