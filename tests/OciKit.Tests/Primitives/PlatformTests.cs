using System.Collections.Immutable;
using OciKit.Images;

namespace OciKit.Tests.Primitives;

/// <summary>Platform matching has one home: <see cref="Platform.Satisfies"/>, and <see cref="ImageIndex.FindPlatform"/> over it.</summary>
public class PlatformTests
{
    [Theory]
    [InlineData("linux/amd64", "linux/amd64", true)]
    [InlineData("linux/arm64", "linux/arm64/v8", true)]
    [InlineData("linux/arm64/v8", "linux/arm64", true)]
    [InlineData("linux/arm/v7", "linux/arm/v7", true)]
    [InlineData("linux/arm/v6", "linux/arm/v7", false)]
    [InlineData("linux/arm64", "linux/amd64", false)]
    [InlineData("windows/amd64", "linux/amd64", false)]
    [InlineData("unknown/unknown", "linux/amd64", false)]
    public void A_platform_satisfies_the_wanted_one_as_Docker_decides(string actual, string wanted, bool expected) =>
        Assert.Equal(expected, Platform.Parse(actual).Satisfies(Platform.Parse(wanted)));

    [Fact]
    public void An_index_finds_the_first_entry_for_a_platform_and_skips_attestations_and_non_images()
    {
        var attestation = Entry(MediaTypes.OciManifest, "att", new Platform("unknown", "unknown"));
        var armV6 = Entry(MediaTypes.OciManifest, "v6", new Platform("linux", "arm", "v6"));
        var armV7 = Entry(MediaTypes.OciManifest, "v7", new Platform("linux", "arm", "v7"));
        var artifact = Entry("application/vnd.example.thing", "thing", Platform.LinuxAmd64);
        var amd64 = Entry(MediaTypes.DockerManifest, "amd64", Platform.LinuxAmd64);
        var index = new ImageIndex([attestation, armV6, armV7, artifact, amd64]);

        Assert.Equal(armV7, index.FindPlatform(new Platform("linux", "arm", "v7")));
        Assert.Equal(armV6, index.FindPlatform(new Platform("linux", "arm")));
        Assert.Equal(amd64, index.FindPlatform(Platform.LinuxAmd64));
        Assert.Null(index.FindPlatform(Platform.LinuxArm64));
        Assert.Equal("unknown/unknown, linux/arm/v6, linux/arm/v7, linux/amd64", index.DescribePlatforms());
    }

    [Fact]
    public void An_index_of_one_entry_without_a_platform_serves_every_platform_and_none_serves_none()
    {
        var only = Entry(MediaTypes.OciManifest, "only", null);
        Assert.Equal(only, new ImageIndex([only]).FindPlatform(Platform.LinuxArm64));
        Assert.Null(new ImageIndex([only, Entry(MediaTypes.OciManifest, "other", null)]).FindPlatform(Platform.LinuxAmd64));
        Assert.Null(new ImageIndex(ImmutableArray<Descriptor>.Empty).FindPlatform(Platform.LinuxAmd64));
        Assert.Equal("no platforms", new ImageIndex([only]).DescribePlatforms());
    }

    private static Descriptor Entry(string mediaType, string content, Platform? platform) =>
        new(mediaType, Digest.ComputeSha256(System.Text.Encoding.UTF8.GetBytes(content)), content.Length) { Platform = platform };
}
