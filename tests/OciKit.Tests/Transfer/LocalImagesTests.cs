using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

public sealed class LocalImagesTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ocikit-local-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<LocalImages> OpenAsync() => new(await OciLayout.OpenAsync(Path.Combine(_root, "store")));

    private static async Task<Descriptor> StoreAsync(LocalImages images, string name, string label, DateTimeOffset? created = null)
    {
        var image = Image.Scratch(Platform.Current).WithLabel("which", label).WithCreated(created);
        return await images.Store.WriteImageAsync(image.Build(), name);
    }

    [Fact]
    public async Task Names_are_found_as_written_canonical_or_familiar()
    {
        var images = await OpenAsync();
        var stored = await StoreAsync(images, "docker.io/library/alpine:latest", "a");
        await StoreAsync(images, "hello:1", "h");

        foreach (var name in new[] { "alpine", "alpine:latest", "docker.io/library/alpine", "docker.io/library/alpine:latest" })
        {
            var found = await images.FindAsync(name);
            Assert.Equal(("docker.io/library/alpine:latest", stored.Digest), (found!.Value.Name, found.Value.Descriptor.Digest));
        }

        Assert.Equal("hello:1", (await images.RequireAsync("docker.io/library/hello:1")).Name);
        Assert.Null(await images.FindAsync("alpine:3"));
        var missing = await Assert.ThrowsAsync<ImageNotFoundException>(() => images.RequireAsync("alpine:3"));
        Assert.Equal("alpine:3", missing.Name);
    }

    [Fact]
    public async Task Lists_repository_tag_image_id_created_and_size_sorted()
    {
        var images = await OpenAsync();
        var created = new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);
        var hello = await StoreAsync(images, "hello:1", "h", created);
        await StoreAsync(images, "ghcr.io/org/app:2", "g");
        await images.TagAsync("hello:1", ImageReference.Parse("hello:2"));

        // An index without this machine's platform is listed by its own digest.
        var foreign = Image.Scratch(new Platform("linux", "riscv64")).Build();
        await images.Store.WriteImageAsync(foreign);
        var index = ManifestDocument.FromIndex(new ImageIndex([foreign.Manifest.Descriptor with { Platform = new Platform("linux", "riscv64") }]));
        await images.Store.WriteManifestAsync(index);
        await images.Store.TagAsync("foreign:1", index.Descriptor);

        var list = await images.ListAsync();
        Assert.Equal(["foreign", "ghcr.io/org/app", "hello", "hello"], list.Select(i => i.Repository));
        Assert.Equal(["1", "2", "1", "2"], list.Select(i => i.Tag));
        Assert.Equal("docker.io/library/hello:2", list[3].Name);
        var (_, stored) = await images.Store.ReadImageAsync("hello:1");
        Assert.Equal(stored.Manifest!.Config.Digest, list[2].ImageId);
        Assert.Equal(hello.Digest, list[2].Digest);
        Assert.Equal(created, list[2].Created);
        Assert.Equal(stored.Manifest.Config.Size, list[2].Size);
        Assert.Equal(index.Digest, list[0].ImageId);
        Assert.Null(list[0].Created);
    }

    [Fact]
    public async Task Remove_untags_and_prune_collects_what_no_name_reaches()
    {
        var images = await OpenAsync();
        await StoreAsync(images, "docker.io/library/alpine:latest", "a");
        Assert.Equal("docker.io/library/alpine:latest", await images.RemoveAsync("alpine"));
        await Assert.ThrowsAsync<ImageNotFoundException>(() => images.RemoveAsync("alpine"));
        Assert.Empty(await images.ListAsync());
        var pruned = await images.PruneAsync();
        Assert.Equal(2, pruned.RemovedBlobs);
    }

    [Fact]
    public async Task Commit_appends_a_reproducible_layer_of_the_difference()
    {
        var images = await OpenAsync();
        await StoreAsync(images, "base:1", "b");
        var lower = Directory.CreateDirectory(Path.Combine(_root, "lower")).FullName;
        var upper = Directory.CreateDirectory(Path.Combine(_root, "upper")).FullName;
        File.WriteAllText(Path.Combine(lower, "old.txt"), "old");
        File.WriteAllText(Path.Combine(upper, "new.txt"), "new");

        var options = new CommitOptions { Comment = "add new.txt", Author = "tester" };
        var first = await images.CommitAsync("base:1", lower, upper, ImageReference.Parse("derived:1"), options);
        var second = await images.CommitAsync("base:1", lower, upper, ImageReference.Parse("derived:2"), options);
        Assert.Equal(first.Digest, second.Digest);

        var (image, _) = await images.Store.ReadImageAsync("docker.io/library/derived:1");
        var layer = Assert.Single(image.Layers);
        Assert.True(images.Store.ContainsBlob(layer.Digest));
        Assert.Equal("tester", image.Config.Author);
        var history = image.Config.History[^1];
        Assert.Equal(("ocikit commit", "add new.txt", false), (history.CreatedBy, history.Comment, history.EmptyLayer));
        await Assert.ThrowsAsync<ImageNotFoundException>(() => images.CommitAsync("absent", lower, upper, ImageReference.Parse("x")));
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => images.CommitAsync("base:1", Path.Combine(_root, "absent"), upper, ImageReference.Parse("x")));
        Assert.Empty(Directory.GetFiles(Path.GetTempPath(), "ocikit-commit-*"));
    }
}
