using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layers;
using OciKit.Publish;

namespace OciKit.Tests.Publish;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PublishLayersTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-publish-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("Microsoft.NETCore.App.Runtime.linux-x64", null, null, PublishLayerKind.Runtime)]
    [InlineData("Microsoft.AspNetCore.App.Runtime.linux-musl-arm64", null, null, PublishLayerKind.Runtime)]
    [InlineData("Polly.Core", null, null, PublishLayerKind.Packages)]
    [InlineData("Microsoft.Extensions.Logging", null, null, PublishLayerKind.Packages)]
    [InlineData(null, "ProjectReference", null, PublishLayerKind.ProjectReferences)]
    [InlineData(null, null, "/src/Lib/Lib.csproj", PublishLayerKind.ProjectReferences)]
    [InlineData(null, null, null, PublishLayerKind.App)]
    [InlineData("", "", "", PublishLayerKind.App)]
    public void Classify_chooses_the_layer_from_the_item_metadata(string? package, string? referenceSource, string? sourceProject, PublishLayerKind expected)
        => Assert.Equal(expected, new PublishedFileOrigin("x.dll", package, referenceSource, sourceProject).Classify());

    [Fact]
    public void Collect_lists_the_directory_in_ordinal_order_and_files_msbuild_does_not_know_belong_to_the_app()
    {
        Write("app.dll");
        Write("Polly.Core.dll");
        Write("runtimes/linux-x64/native/libfoo.so");
        Write("Lib.dll");
        Write("appsettings.json");

        var files = PublishLayers.Collect(_dir, [
            new PublishedFileOrigin("Polly.Core.dll", "Polly.Core"),
            new PublishedFileOrigin(@"runtimes\linux-x64\native\libfoo.so", "Foo.Native"),
            new PublishedFileOrigin("./Lib.dll", ReferenceSourceTarget: "ProjectReference"),
        ]);

        Assert.Equal(["Lib.dll", "Polly.Core.dll", "app.dll", "appsettings.json", "runtimes/linux-x64/native/libfoo.so"], files.Select(f => f.RelativePath));
        Assert.Equal(
            [PublishLayerKind.ProjectReferences, PublishLayerKind.Packages, PublishLayerKind.App, PublishLayerKind.App, PublishLayerKind.Packages],
            files.Select(f => f.Kind));
        Assert.All(files, f => Assert.True(File.Exists(f.SourcePath)));
    }

    [Fact]
    public void Collect_of_a_missing_directory_throws() =>
        Assert.Throws<DirectoryNotFoundException>(() => PublishLayers.Collect(Path.Combine(_dir, "missing"), []));

    [Fact]
    public void Split_rejects_a_path_published_twice() =>
        Assert.Throws<ArgumentException>(() => PublishLayers.Split([
            new PublishedFile("/a", "lib/x.dll", PublishLayerKind.App),
            new PublishedFile("/b", "lib\\x.dll", PublishLayerKind.Packages),
        ]));

    [Fact]
    public async Task Layer_entries_live_below_the_working_directory_and_keep_the_app_host_executable()
    {
        Write("app");
        Write("app.dll");
        File.SetUnixFileMode(Path.Combine(_dir, "app"), (UnixFileMode)0x1ED);
        var layer = Assert.Single(PublishLayers.Split(PublishLayers.Collect(_dir, [])));

        var entries = layer.ToEntries("/app/").ToList();

        Assert.Equal(["app/app", "app/app.dll"], entries.Select(e => e.Path));
        Assert.Equal([(UnixFileMode)0x1ED, (UnixFileMode)0x1A4], entries.Select(e => e.Mode));
        Assert.All(entries, e => Assert.Equal(0, e.Uid));
        using var blob = new MemoryStream();
        var info = await LayerWriter.WriteAsync(entries, blob);
        Assert.Equal(blob.Length, info.Descriptor.Size);
    }

    [Fact]
    public async Task The_same_files_give_the_same_layer_digest_whatever_their_timestamps()
    {
        Write("app.dll", "code");
        Write("sub/data.json", "{}");
        var first = await DigestOfAppLayerAsync();
        File.SetLastWriteTimeUtc(Path.Combine(_dir, "app.dll"), DateTime.UtcNow.AddDays(-3));
        File.SetLastWriteTimeUtc(Path.Combine(_dir, "sub", "data.json"), DateTime.UtcNow);
        Assert.Equal(first, await DigestOfAppLayerAsync());

        Write("app.dll", "code2");
        Assert.NotEqual(first, await DigestOfAppLayerAsync());
    }

    private static Gen<PublishedFile[]> FilesGen =>
        (from name in Gen.Elements("a.dll", "b.dll", "lib/c.so", "Z.json", "é.txt", "x/y/z.pdb", "A.dll", "app")
         from kind in Gen.Elements(Enum.GetValues<PublishLayerKind>())
         select new PublishedFile("/src/" + name, name, kind))
            .ArrayOf()
            .Select(files => files.DistinctBy(f => f.RelativePath).ToArray());

    [Property(MaxTest = 100)]
    public Property Split_is_an_ordered_partition_independent_of_input_order() => Prop.ForAll(
        (from files in FilesGen from seed in Gen.Choose(0, 1000) select (files, seed)).ToArbitrary(),
        t =>
        {
            var (files, seed) = t;
            var layers = PublishLayers.Split(files);
            var shuffled = PublishLayers.Split(files.OrderBy(_ => new Random(seed).Next()).ToArray());
            var flat = layers.SelectMany(l => l.Files).ToList();
            return flat.Count == files.Length
                && files.All(f => layers.Single(l => l.Kind == f.Kind).Files.Contains(f))
                && layers.All(l => !l.Files.IsEmpty && l.Files.SequenceEqual(l.Files.OrderBy(f => f.RelativePath, StringComparer.Ordinal)))
                && layers.Select(l => l.Kind).SequenceEqual(layers.Select(l => l.Kind).Order())
                && layers.Length == shuffled.Length
                && layers.Zip(shuffled).All(p => p.First.Kind == p.Second.Kind && p.First.Files.SequenceEqual(p.Second.Files));
        });

    private async Task<string> DigestOfAppLayerAsync()
    {
        var layer = Assert.Single(PublishLayers.Split(PublishLayers.Collect(_dir, [])));
        using var blob = new MemoryStream();
        var info = await LayerWriter.WriteAsync(layer.ToEntries("/app"), blob, new LayerOptions { Timestamp = DateTimeOffset.UnixEpoch });
        return info.Descriptor.Digest.ToString();
    }

    private void Write(string relative, string content = "x")
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }
}
