using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

public class ImageLocationTests
{
    private const string Sha = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Theory]
    [InlineData("alpine", "docker.io/library/alpine:latest")]
    [InlineData("docker://alpine:3", "docker.io/library/alpine:3")]
    [InlineData("docker://localhost:5000/team/app@" + Sha, "localhost:5000/team/app@" + Sha)]
    [InlineData("127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1")]
    public void Registry_locations_are_references_with_or_without_the_prefix(string text, string reference)
    {
        var location = ImageLocation.Parse(text);
        Assert.Equal(ImageTransport.Registry, location.Transport);
        Assert.Equal(ImageReference.Parse(reference), location.Reference);
        Assert.Null(location.Path);
        Assert.Null(location.Tag);
        Assert.Equal("docker://" + reference, location.ToString());
    }

    [Theory]
    [InlineData("oci:/tmp/layout", ImageTransport.OciLayout, "/tmp/layout", null)]
    [InlineData("oci:/tmp/layout:v1", ImageTransport.OciLayout, "/tmp/layout", "v1")]
    [InlineData("oci:/tmp/layout:example.com/app:1.0", ImageTransport.OciLayout, "/tmp/layout", "example.com/app:1.0")]
    [InlineData("oci-archive:/tmp/a.tar", ImageTransport.OciArchive, "/tmp/a.tar", null)]
    [InlineData("oci-archive:/tmp/a.tar:latest", ImageTransport.OciArchive, "/tmp/a.tar", "latest")]
    public void Layout_locations_split_the_path_at_the_first_colon(string text, ImageTransport transport, string path, string? tag)
    {
        var location = ImageLocation.Parse(text);
        Assert.Equal(transport, location.Transport);
        Assert.Equal(path, location.Path);
        Assert.Equal(tag, location.Tag);
        Assert.Null(location.Reference);
        Assert.Equal(text, location.ToString());
        Assert.Equal(location, ImageLocation.Parse(location.ToString()));
    }

    [Fact]
    public void Docker_archive_names_its_image_by_a_tagged_reference()
    {
        var named = ImageLocation.Parse("docker-archive:/tmp/d.tar:app:1");
        Assert.Equal(ImageTransport.DockerArchive, named.Transport);
        Assert.Equal("/tmp/d.tar", named.Path);
        Assert.Equal(ImageReference.Parse("app:1"), named.Reference);
        Assert.Null(named.Tag);
        Assert.Equal("docker-archive:/tmp/d.tar:docker.io/library/app:1", named.ToString());
        Assert.Equal(named, ImageLocation.Parse(named.ToString()));

        var only = ImageLocation.Parse("docker-archive:/tmp/d.tar");
        Assert.Null(only.Reference);
        Assert.Equal("docker-archive:/tmp/d.tar", only.ToString());
    }

    [Fact]
    public void Relative_paths_become_absolute()
    {
        var location = ImageLocation.Parse("oci:relative/dir:t");
        Assert.Equal(Path.GetFullPath("relative/dir"), location.Path);
        Assert.True(Path.IsPathRooted(location.Path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("oci:")]
    [InlineData("oci::tag")]
    [InlineData("oci:/tmp/x:")]
    [InlineData("oci:/tmp/x:-bad")]
    [InlineData("oci:/tmp/x:bad tag")]
    [InlineData("oci-archive::x")]
    [InlineData("docker-archive:/tmp/d.tar:app@" + Sha)]
    [InlineData("docker-archive:/tmp/d.tar:Not Valid")]
    [InlineData("docker://")]
    [InlineData("docker://Upper/Case")]
    [InlineData("Not A Reference")]
    public void Rejects_invalid_locations(string text)
    {
        Assert.False(ImageLocation.TryParse(text, out _));
        var error = Assert.Throws<InvalidReferenceException>(() => ImageLocation.Parse(text));
        Assert.Equal(text, error.Reference);
        Assert.False(string.IsNullOrEmpty(error.Reason));
    }

    [Fact]
    public void Factories_validate_their_arguments()
    {
        Assert.Throws<ArgumentNullException>(() => ImageLocation.Parse(null!));
        Assert.False(ImageLocation.TryParse(null, out _));
        Assert.Throws<ArgumentNullException>(() => ImageLocation.ForRegistry(null!));
        Assert.Throws<ArgumentException>(() => ImageLocation.ForOciLayout(""));
        Assert.Throws<ArgumentException>(() => ImageLocation.ForOciLayout("/tmp/a:b"));
        Assert.Throws<ArgumentException>(() => ImageLocation.ForOciArchive("/tmp/a.tar", "-x"));
        Assert.Throws<ArgumentException>(() => ImageLocation.ForDockerArchive("/tmp/a.tar", ImageReference.Parse("app@" + Sha)));
        Assert.Equal(ImageLocation.Parse("oci:/tmp/l:v1"), ImageLocation.ForOciLayout("/tmp/l", "v1"));
        Assert.Equal(ImageLocation.Parse("oci-archive:/tmp/a.tar"), ImageLocation.ForOciArchive("/tmp/a.tar"));
        Assert.Equal(ImageLocation.Parse("docker-archive:/tmp/d.tar:app"), ImageLocation.ForDockerArchive("/tmp/d.tar", ImageReference.Parse("app:latest")));
        Assert.Equal(ImageLocation.Parse("docker://alpine"), ImageLocation.ForRegistry(ImageReference.Parse("alpine")));
    }

    private static readonly Gen<string> PathGen = Gen.Elements("/tmp/x", "/a/b c/d", "/l.tar", "/srv/oci-store", "/x/y_z");
    private static readonly Gen<string?> TagGen = Gen.Elements<string?>(null, "v1", "latest", "a.b-c_d", "example.com/app:1.0", "x@y+z");
    private static readonly Gen<string?> RefGen = Gen.Elements<string?>(null, "app", "app:1", "localhost:5000/team/app:v2", "ghcr.io/o/r:x");

    private static Arbitrary<ImageLocation> Locations() =>
        (from kind in Gen.Choose(0, 3)
         from path in PathGen
         from tag in TagGen
         from reference in RefGen
         select kind switch
         {
             0 => ImageLocation.ForRegistry(ImageReference.Parse(reference ?? "alpine")),
             1 => ImageLocation.ForOciLayout(path, tag),
             2 => ImageLocation.ForOciArchive(path, tag),
             _ => ImageLocation.ForDockerArchive(path, reference is null ? null : ImageReference.Parse(reference)),
         }).ToArbitrary();

    [Property(MaxTest = 300)]
    public Property Text_form_round_trips() =>
        Prop.ForAll(Locations(), location =>
        {
            var again = ImageLocation.Parse(location.ToString());
            return again == location && again.ToString() == location.ToString();
        });
}
