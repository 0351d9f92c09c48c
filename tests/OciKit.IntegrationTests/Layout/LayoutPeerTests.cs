using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using OciKit.Images;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Layout;

/// <summary>Layouts and archives OciKit writes, checked by umoci, skopeo and podman; layouts they write, read by OciKit.</summary>
public sealed class LayoutPeerTests
{
    [Fact]
    public async Task Umoci_unpacks_a_layout_we_wrote_into_the_expected_rootfs()
    {
        using var dir = new TempDir("ocikit-umoci");
        var layout = await OciLayout.OpenAsync(dir.Combine("layout"));
        await StoreImageAsync(layout, "v1", Layer(
            ("etc/", null, null),
            ("etc/greeting", "hello from ocikit\n", null),
            ("etc/link", null, "greeting")));

        var ls = await Tool.RunCheckedAsync("umoci", ["ls", "--layout", dir.Combine("layout")]);
        Assert.Contains("v1", ls.StdOut.Split('\n', StringSplitOptions.TrimEntries));
        await Tool.RunCheckedAsync("umoci", ["unpack", "--image", dir.Combine("layout") + ":v1", dir.Combine("bundle")]);
        var rootfs = dir.Combine("bundle", "rootfs");
        Assert.Equal("hello from ocikit\n", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc", "greeting")));
        Assert.Equal("greeting", new FileInfo(Path.Combine(rootfs, "etc", "link")).LinkTarget);
        Assert.True(File.Exists(dir.Combine("bundle", "config.json")));
    }

    [Fact]
    public async Task Skopeo_inspects_a_layout_we_wrote()
    {
        using var dir = new TempDir("ocikit-skopeo");
        var path = dir.Combine("layout");
        var layout = await OciLayout.OpenAsync(path);
        var manifest = await StoreImageAsync(layout, "v1", Layer(("hello.txt", "hi\n", null)));

        var result = await Tool.RunCheckedAsync("skopeo", ["inspect", $"oci:{path}:v1"]);
        using var json = JsonDocument.Parse(result.StdOut);
        Assert.Equal(manifest.Digest.ToString(), json.RootElement.GetProperty("Digest").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("Layers").GetArrayLength());
        Assert.Equal(Platform.Current.Architecture, json.RootElement.GetProperty("Architecture").GetString());
        Assert.Equal("PATH=/bin", json.RootElement.GetProperty("Env").EnumerateArray().Single().GetString());

        // skopeo copies our layout to another one without changing a byte of the manifest.
        var copy = dir.Combine("copy");
        await Tool.RunCheckedAsync("skopeo", ["copy", $"oci:{path}:v1", $"oci:{copy}:v1"]);
        var copied = await OciLayout.OpenAsync(copy, new OciLayoutOptions { CreateIfMissing = false });
        Assert.Equal(manifest.Digest, (await copied.ResolveAsync("v1"))!.Digest);
    }

    [Fact]
    public async Task We_read_layouts_umoci_and_skopeo_wrote()
    {
        using var dir = new TempDir("ocikit-read");
        var a = dir.Combine("a");
        var b = dir.Combine("b");
        var file = dir.Combine("payload.txt");
        await File.WriteAllTextAsync(file, "payload\n");
        await Tool.RunCheckedAsync("umoci", ["init", "--layout", a]);
        await Tool.RunCheckedAsync("umoci", ["new", "--image", a + ":t"]);
        await Tool.RunCheckedAsync("umoci", ["insert", "--image", a + ":t", file, "/payload.txt"]);
        await Tool.RunCheckedAsync("umoci", ["config", "--image", a + ":t", "--config.cmd", "/bin/sh"]);
        await Tool.RunCheckedAsync("skopeo", ["copy", $"oci:{a}:t", $"oci:{b}:t"]);
        var c = dir.Combine("c");
        await Tool.RunCheckedAsync("skopeo", ["copy", "--dest-compress", "--dest-compress-format", "zstd", $"oci:{a}:t", $"oci:{c}:t"]);

        foreach (var path in new[] { a, b, c })
        {
            var layout = await OciLayout.OpenAsync(path, new OciLayoutOptions { CreateIfMissing = false });
            Assert.Contains(await layout.ListImagesAsync(), i => i.Name == "t");
            var (image, document) = await layout.ReadImageAsync("t");
            Assert.Equal(ManifestKind.Manifest, document.Kind);
            Assert.Equal(["/bin/sh"], image.Config.Config!.Cmd!.Value.ToArray());
            Assert.Equal(image.Layers.Length, image.Config.DiffIds.Length);
            Assert.All(image.Layers, l => Assert.True(layout.ContainsBlob(l.Digest)));
            foreach (var layer in image.Layers)
            {
                await using var stream = layout.OpenBlob(layer.Digest);
                Assert.Equal(layer.Digest, await Digest.ComputeSha256Async(stream));
            }

            await layout.VerifyImageAsync(image);
            Assert.Equal(document.Digest, image.Build().Manifest.Digest);
            if (path == c)
            {
                Assert.All(image.Layers, l => Assert.Equal(MediaTypes.OciLayerZstd, l.MediaType));
            }

            // Mutating an image read from a peer's layout and storing it back keeps the peer's layers as they are.
            var changed = image.WithEnv("FROM_OCIKIT", "1").Build();
            await layout.WriteImageAsync(changed, "t2");
            // umoci leaves superseded manifests and configs behind; collection removes those and nothing referenced.
            await layout.CollectGarbageAsync();
            foreach (var tag in new[] { "t", "t2" })
            {
                var (kept, _) = await layout.ReadImageAsync(tag);
                Assert.All(kept.Layers, l => Assert.True(layout.ContainsBlob(l.Digest)));
            }

            await Tool.RunCheckedAsync("umoci", ["stat", "--image", path + ":t2"]);
            await Tool.RunCheckedAsync("skopeo", ["inspect", $"oci:{path}:t2"]);
        }
    }

    [Fact]
    public async Task Podman_loads_and_runs_our_docker_archive()
    {
        using var dir = new TempDir("ocikit-podman");
        var layout = await OciLayout.OpenAsync(dir.Combine("layout"));
        var busybox = await File.ReadAllBytesAsync("/bin/busybox");
        var layer = Layer(("bin/", null, null), ("bin/busybox", busybox, null), ("bin/sh", null, "busybox"));
        await StoreImageAsync(layout, "ocikit-test/busybox:1", layer, image => image.WithCmd(["/bin/sh", "-c", "echo from-cmd"]));

        var archive = dir.Combine("image.tar");
        await using (var stream = File.Create(archive))
        {
            await DockerArchive.WriteAsync(layout, "ocikit-test/busybox:1", stream);
        }

        using var tools = new ContainerTools();
        var load = (await tools.PodmanAsync(["load", "-i", archive])).EnsureSuccess();
        var loaded = load.StdOut.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("Loaded image", StringComparison.Ordinal));
        var name = loaded[(loaded.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        Assert.Contains("ocikit-test/busybox:1", name, StringComparison.Ordinal);

        var echo = (await tools.PodmanAsync(["run", "--rm", "--network=none", name, "/bin/busybox", "echo", "hello"])).EnsureSuccess();
        Assert.Equal("hello", echo.StdOut.Trim());
        var cmd = (await tools.PodmanAsync(["run", "--rm", "--network=none", name])).EnsureSuccess();
        Assert.Equal("from-cmd", cmd.StdOut.Trim());

        // The same image as an oci-archive: podman loads it too, with the same image ID (the config digest).
        var (image, _) = await layout.ReadImageAsync("ocikit-test/busybox:1");
        var ociArchive = dir.Combine("image.oci.tar");
        await using (var stream = File.Create(ociArchive))
        {
            await OciArchive.WriteAsync(layout, ["ocikit-test/busybox:1"], stream);
        }

        (await tools.PodmanAsync(["load", "-i", ociArchive])).EnsureSuccess();
        var id = image.Build().Config.Digest.Encoded;
        var fromOci = (await tools.PodmanAsync(["run", "--rm", "--network=none", id, "/bin/busybox", "echo", "oci"])).EnsureSuccess();
        Assert.Equal("oci", fromOci.StdOut.Trim());
    }

    [Fact]
    public async Task Skopeo_reads_our_oci_archive_and_we_read_its_docker_archive()
    {
        using var dir = new TempDir("ocikit-archives");
        var layout = await OciLayout.OpenAsync(dir.Combine("layout"));
        var manifest = await StoreImageAsync(layout, "v1", Layer(("a.txt", "a\n", null)));
        var ociArchive = dir.Combine("image.oci.tar");
        await using (var stream = File.Create(ociArchive))
        {
            await OciArchive.WriteAsync(layout, ["v1"], stream);
        }

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", $"oci-archive:{ociArchive}:v1"]);
        using (var json = JsonDocument.Parse(inspect.StdOut))
        {
            Assert.Equal(manifest.Digest.ToString(), json.RootElement.GetProperty("Digest").GetString());
        }

        var dockerArchive = dir.Combine("image.docker.tar");
        await Tool.RunCheckedAsync("skopeo", ["copy", $"oci-archive:{ociArchive}:v1", $"docker-archive:{dockerArchive}:peer/image:2"]);
        var target = await OciLayout.OpenAsync(dir.Combine("imported"));
        await using (var stream = File.OpenRead(dockerArchive))
        {
            var imported = await DockerArchive.ImportAsync(stream, target);
            Assert.Contains(imported, i => i.Name is not null && i.Name.EndsWith("peer/image:2", StringComparison.Ordinal));
        }

        var (image, _) = await target.ReadImageAsync((await target.ListImagesAsync())[0].Name!);
        var (original, _) = await layout.ReadImageAsync("v1");
        Assert.Equal(original.Config.DiffIds.ToArray(), image.Config.DiffIds.ToArray());
    }

    private sealed record TestLayer(byte[] Gzip, Digest DiffId);

    /// <summary>A gzip tar layer of (path, content, symlink target) entries; a path ending in '/' is a directory.</summary>
    private static TestLayer Layer(params (string Path, object? Content, string? LinkTarget)[] entries)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (path, content, link) in entries)
            {
                var type = path.EndsWith('/') ? TarEntryType.Directory : link is not null ? TarEntryType.SymbolicLink : TarEntryType.RegularFile;
                var entry = new UstarTarEntry(type, path)
                {
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    Mode = type == TarEntryType.RegularFile && path.StartsWith("bin/", StringComparison.Ordinal) || type == TarEntryType.Directory
                        ? (UnixFileMode)0b111_101_101
                        : (UnixFileMode)0b110_100_100,
                };
                if (link is not null)
                {
                    entry.LinkName = link;
                }

                if (content is not null)
                {
                    entry.DataStream = new MemoryStream(content as byte[] ?? System.Text.Encoding.UTF8.GetBytes((string)content));
                }

                writer.WriteEntry(entry);
            }
        }

        var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(tar.ToArray());
        }

        return new TestLayer(gz.ToArray(), Digest.ComputeSha256(tar.ToArray()));
    }

    private static async Task<Descriptor> StoreImageAsync(OciLayout layout, string name, TestLayer layer, Func<Image, Image>? change = null)
    {
        var descriptor = await layout.WriteBlobAsync(layer.Gzip, MediaTypes.OciLayerGzip);
        var image = Image.Scratch(Platform.Current)
            .AppendLayer(descriptor, layer.DiffId, new HistoryEntry { CreatedBy = "ocikit test layer" })
            .WithEnv("PATH", "/bin")
            .WithCreated(DateTimeOffset.UnixEpoch);
        image = change?.Invoke(image) ?? image;
        return await layout.WriteImageAsync(image.Build(), name);
    }
}
