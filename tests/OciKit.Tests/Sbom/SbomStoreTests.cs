using System.Collections.Immutable;
using System.Text;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Sbom;

namespace OciKit.Tests.Sbom;

/// <summary>
/// An SBOM kept in a layout beside its image: the artifact and the <c>REPOSITORY:sha256-&lt;hex&gt;</c> referrers index,
/// the newest SBOM read back, attaching the same one twice listing it once, and the index read as an artifact, not a
/// broken image.
/// </summary>
public sealed class SbomStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-sbomstore-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("app:1", "app")]
    [InlineData("app", "app")]
    [InlineData("127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app")]
    [InlineData("127.0.0.1:5000/team/app@sha256:0123456789012345678901234567890123456789012345678901234567890123", "127.0.0.1:5000/team/app")]
    public void The_referrers_name_is_the_repository_with_the_fallback_tag(string name, string repository)
    {
        var subject = Digest.ComputeSha256("x"u8);
        Assert.Equal($"{repository}:sha256-{subject.Encoded}", SbomStore.ReferrersName(name, subject));
    }

    [Fact]
    public async Task The_newest_sbom_is_read_back_the_same_one_is_listed_once_and_the_index_is_an_artifact()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "store"));
        var image = await SbomGeneratorTests.StoreAsync(layout, "app:1", DateTimeOffset.UnixEpoch, []);
        await Assert.ThrowsAsync<SbomNotFoundException>(() => SbomStore.ReadAttachedAsync(layout, "app:1", Platform.LinuxAmd64));

        var first = Sbom(image, "first");
        var artifact = await SbomStore.AttachAsync(layout, "app:1", first);
        Assert.Equal(artifact, await SbomStore.AttachAsync(layout, "app:1", first));
        var indexName = SbomStore.ReferrersName("app:1", image.Digest);
        var index = await layout.ReadManifestAsync((await layout.ResolveAsync(indexName))! with { Annotations = null });
        var listed = Assert.Single(index.Index!.Manifests);
        Assert.Equal(MediaTypes.SpdxJson, listed.ArtifactType);
        Assert.Equal(first.Json.ToArray(), (await SbomStore.ReadAttachedAsync(layout, "app:1", Platform.LinuxAmd64)).ToArray());

        var second = Sbom(image, "second");
        await SbomStore.AttachAsync(layout, "app:1", second);
        Assert.Equal(second.Json.ToArray(), (await SbomStore.ReadAttachedAsync(layout, "app:1", Platform.LinuxAmd64)).ToArray());

        // The artifact is subject-linked to the image and, read as an image, is an artifact rather than a broken image.
        var manifest = await layout.ReadManifestAsync(artifact with { ArtifactType = null });
        Assert.Equal(image.Digest, manifest.Manifest!.Subject!.Digest);
        var notImage = await Assert.ThrowsAsync<NotSupportedException>(() => layout.ReadImageAsync(artifact with { ArtifactType = null }, Platform.LinuxAmd64));
        Assert.Contains(MediaTypes.SpdxJson, notImage.Message, StringComparison.Ordinal);
        var inventory = await new OciKit.Transfer.LocalImages(layout).InventoryAsync();
        Assert.Empty(inventory.Broken);
        Assert.Contains(inventory.Images, i => i.Name == indexName);
    }

    private static SbomResult Sbom(Descriptor image, string text)
        => new(Encoding.UTF8.GetBytes($$"""{"spdxVersion":"SPDX-2.3","name":"{{text}}"}"""), image, ImmutableArray<SbomPackage>.Empty, ImmutableArray<string>.Empty);
}
