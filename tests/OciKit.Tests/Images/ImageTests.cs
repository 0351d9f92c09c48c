using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Tests.Images;

public class ImageTests
{
    private static (Descriptor Layer, Digest DiffId) Layer(string name) =>
        (new Descriptor(MediaTypes.OciLayerGzip, Digest.ComputeSha256(System.Text.Encoding.UTF8.GetBytes(name + ".gz")), 100 + name.Length),
         Digest.ComputeSha256(System.Text.Encoding.UTF8.GetBytes(name)));

    private static Image Base()
    {
        var (l1, d1) = Layer("base1");
        var (l2, d2) = Layer("base2");
        return Image.Scratch(Platform.LinuxAmd64)
            .AppendLayer(l1, d1, new HistoryEntry { CreatedBy = "ADD base1" })
            .AppendLayer(l2, d2, new HistoryEntry { CreatedBy = "ADD base2" })
            .WithEnv("PATH", "/usr/bin");
    }

    [Fact]
    public void Mutations_return_new_images_and_leave_the_old_one_untouched()
    {
        var original = Base();
        var before = original.Build().Manifest.Digest;
        var (l3, d3) = Layer("app");
        var changed = original
            .AppendLayer(l3, d3)
            .WithEnv("PATH", "/app:/usr/bin")
            .WithEnv("MODE", "prod")
            .WithEntrypoint(["/app/run"])
            .WithCmd(["--port", "80"])
            .WithLabel("org.opencontainers.image.source", "https://example.com/src")
            .WithUser("1000")
            .WithWorkingDir("/app")
            .WithExposedPort("80")
            .WithVolume("/data")
            .WithAnnotation(AnnotationKeys.BaseDigest, before.ToString())
            .AddHistory(new HistoryEntry { CreatedBy = "ENV MODE=prod" });

        Assert.Equal(before, original.Build().Manifest.Digest);
        Assert.Equal(2, original.Layers.Length);
        Assert.Equal("/usr/bin", original.Config.Config!.GetEnv("PATH"));

        var built = changed.Build();
        var config = ImageConfig.Parse(built.ConfigBytes);
        Assert.Equal(3, config.DiffIds.Length);
        Assert.Equal(["PATH=/app:/usr/bin", "MODE=prod"], config.Config!.Env!.Value.ToArray());
        Assert.Equal(["/app/run"], config.Config.Entrypoint!.Value.ToArray());
        Assert.Equal(["80/tcp"], config.Config.ExposedPorts!.ToArray());
        Assert.Equal(["/data"], config.Config.Volumes!.ToArray());
        Assert.Equal("1000", config.Config.User);
        Assert.Equal("/app", config.Config.WorkingDir);
        Assert.Equal(4, config.History.Length);
        Assert.True(config.History[3].EmptyLayer);
        Assert.Equal(3, config.History.Count(h => !h.EmptyLayer));

        var manifest = built.Manifest.Manifest!;
        Assert.Equal(built.Config, manifest.Config);
        Assert.Equal(Digest.ComputeSha256(built.ConfigBytes.Span), manifest.Config.Digest);
        Assert.Equal(built.ConfigBytes.Length, manifest.Config.Size);
        Assert.Equal(Digest.ComputeSha256(built.Manifest.Bytes.Span), built.Manifest.Digest);
        Assert.Equal(before.ToString(), manifest.Annotations![AnnotationKeys.BaseDigest]);
        Assert.Equal(l3, manifest.Layers[2]);
        Assert.Empty(ConformanceTests.Schemas.Check("config-schema.json", built.ConfigBytes.Span));
        Assert.Empty(ConformanceTests.Schemas.Check("image-manifest-schema.json", built.Manifest.Bytes.Span));
    }

    [Fact]
    public void Building_twice_gives_identical_bytes()
    {
        var a = Base().Build();
        var b = Base().Build();
        Assert.Equal(a.Manifest.Bytes.ToArray(), b.Manifest.Bytes.ToArray());
        Assert.Equal(a.ConfigBytes.ToArray(), b.ConfigBytes.ToArray());
    }

    [Fact]
    public void Docker_media_type_converts_layer_and_config_media_types_without_touching_digests()
    {
        var oci = Base();
        var docker = oci.WithManifestMediaType(MediaTypes.DockerManifest).Build();
        Assert.Equal(MediaTypes.DockerManifest, docker.Manifest.MediaType);
        Assert.Equal(MediaTypes.DockerConfig, docker.Config.MediaType);
        Assert.All(docker.Layers, l => Assert.Equal(MediaTypes.DockerLayerGzip, l.MediaType));
        Assert.Equal(oci.Layers.Select(l => l.Digest), docker.Layers.Select(l => l.Digest));
        var back = Image.FromManifest(docker.Manifest.Manifest!, ImageConfig.Parse(docker.ConfigBytes)).WithManifestMediaType(MediaTypes.OciManifest);
        Assert.Equal(oci.Build().Manifest.Digest, back.Build().Manifest.Digest);
    }

    [Fact]
    public void Rebase_swaps_base_layers_and_history_and_keeps_the_top()
    {
        var oldBase = Base();
        var (top, topDiff) = Layer("app");
        var app = oldBase.AppendLayer(top, topDiff, new HistoryEntry { CreatedBy = "COPY app" }).WithCmd(["/app"]);
        var (n1, nd1) = Layer("newbase");
        var newBase = Image.Scratch(Platform.LinuxAmd64).AppendLayer(n1, nd1, new HistoryEntry { CreatedBy = "ADD newbase" });

        var rebased = app.Rebase(oldBase, newBase);
        Assert.Equal([n1.Digest, top.Digest], rebased.Layers.Select(l => l.Digest));
        Assert.Equal([nd1, topDiff], rebased.Config.DiffIds.ToArray());
        Assert.Equal(["ADD newbase", "COPY app"], rebased.Config.History.Select(h => h.CreatedBy));
        Assert.Equal(["/app"], rebased.Config.Config!.Cmd!.Value.ToArray());
        Assert.Same(top.Digest, rebased.Layers[1].Digest);

        Assert.Throws<ArgumentException>(() => app.Rebase(newBase, oldBase));
        Assert.Throws<ArgumentException>(() => app.Rebase(oldBase, Image.Scratch(Platform.LinuxArm64)));
    }

    [Fact]
    public void Layers_and_diff_ids_must_pair()
    {
        var (l, _) = Layer("x");
        Assert.Throws<ArgumentException>(() => new Image(ImageConfig.Empty(Platform.LinuxAmd64), [l]));
        Assert.Throws<ArgumentException>(() => Image.Scratch(Platform.LinuxAmd64, MediaTypes.OciIndex));
    }
}
