using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Tests.References;

public class ImageReferenceTests
{
    private const string Sha = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    // input, canonical form, familiar form
    public static TheoryData<string, string, string> Normalizations => new()
    {
        { "alpine", "docker.io/library/alpine:latest", "alpine:latest" },
        { "alpine:3.20", "docker.io/library/alpine:3.20", "alpine:3.20" },
        { "library/alpine", "docker.io/library/alpine:latest", "alpine:latest" },
        { "docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest" },
        { "index.docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest" },
        { "index.docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest" },
        { "bitnami/nginx:1.25", "docker.io/bitnami/nginx:1.25", "bitnami/nginx:1.25" },
        { "docker.io/a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest" },
        { "docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest" },
        { "localhost/foo", "localhost/foo:latest", "localhost/foo:latest" },
        { "localhost:5000/foo/bar:1", "localhost:5000/foo/bar:1", "localhost:5000/foo/bar:1" },
        { "myhost:5000/foo", "myhost:5000/foo:latest", "myhost:5000/foo:latest" },
        { "ghcr.io/org/app", "ghcr.io/org/app:latest", "ghcr.io/org/app:latest" },
        { "Example.COM/app", "Example.COM/app:latest", "Example.COM/app:latest" },
        { "[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest" },
        { "127.0.0.1:5000/a_b__c-d---e.f", "127.0.0.1:5000/a_b__c-d---e.f:latest", "127.0.0.1:5000/a_b__c-d---e.f:latest" },
        { "alpine@" + Sha, "docker.io/library/alpine@" + Sha, "alpine@" + Sha },
        { "alpine:3@" + Sha, "docker.io/library/alpine:3@" + Sha, "alpine:3@" + Sha },
        { "localhost:5000/foo@" + Sha, "localhost:5000/foo@" + Sha, "localhost:5000/foo@" + Sha },
        { "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000" },
        { "docker.io/foo.bar/baz", "docker.io/foo.bar/baz:latest", "docker.io/foo.bar/baz:latest" },
        { "alpine:_Tag.-x", "docker.io/library/alpine:_Tag.-x", "alpine:_Tag.-x" },
    };

    [Theory]
    [MemberData(nameof(Normalizations))]
    public void Normalizes_as_docker_does(string input, string canonical, string familiar)
    {
        var reference = ImageReference.Parse(input);
        Assert.Equal(canonical, reference.ToString());
        Assert.Equal(familiar, reference.FamiliarString);
        Assert.Equal(reference, ImageReference.Parse(canonical));
        Assert.Equal(reference, ImageReference.Parse(familiar));
    }

    [Theory]
    [InlineData("team/app", false)]
    [InlineData("app:1", false)]
    [InlineData("foo.bar", false)]
    [InlineData("localhost/app", true)]
    [InlineData("registry.example/team/app:1", true)]
    [InlineData("host:5000/app", true)]
    [InlineData("Team/app", true)]
    public void Names_its_registry_as_parsing_decides(string text, bool namesRegistry)
    {
        Assert.Equal(namesRegistry, ImageReference.NamesRegistry(text));
        if (ImageReference.TryParse(text, out var parsed))
        {
            // Parsing agrees: a text without a registry lands on Docker Hub, one with a registry keeps it.
            Assert.Equal(namesRegistry, parsed.Registry == text.Split('/')[0]);
        }
    }

    [Fact]
    public void Exposes_its_parts()
    {
        var reference = ImageReference.Parse("localhost:5000/team/app:1.0@" + Sha);
        Assert.Equal("localhost:5000", reference.Registry);
        Assert.Equal("team/app", reference.Repository);
        Assert.Equal("1.0", reference.Tag);
        Assert.Equal(Digest.Parse(Sha), reference.Digest);
        Assert.Equal("localhost:5000/team/app", reference.Name);
        Assert.Equal(Sha, reference.ManifestReference);
        Assert.Equal("localhost:5000", reference.ApiHost);
        Assert.Equal(new Uri("http://localhost:5000/v2/"), reference.GetApiBaseUri(insecure: true));
    }

    [Fact]
    public void Docker_hub_is_served_by_registry_1()
    {
        var reference = ImageReference.Parse("alpine");
        Assert.True(reference.IsDockerHub);
        Assert.Equal("registry-1.docker.io", reference.ApiHost);
        Assert.Equal(new Uri("https://registry-1.docker.io/v2/"), reference.GetApiBaseUri());
        Assert.Equal("latest", reference.ManifestReference);
        Assert.Equal("alpine", reference.FamiliarName);
        Assert.Null(ImageReference.Parse("alpine@" + Sha).Tag);
    }

    [Theory]
    [InlineData("", "repository name must have at least one component")]
    [InlineData("Alpine", "repository name must be lowercase")]
    [InlineData("ghcr.io/Org/App", "repository name must be lowercase")]
    [InlineData("alpine:", "invalid tag")]
    [InlineData("alpine:-x", "invalid tag")]
    [InlineData("alpine:.x", "invalid tag")]
    [InlineData("alpine:a/b", "invalid registry host")]
    [InlineData("alpine:tÄg", "invalid tag")]
    [InlineData("alpine@sha256:abc", "invalid digest")]
    [InlineData("alpine@", "invalid digest")]
    [InlineData("alpine:1@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "invalid digest")]
    [InlineData("ghcr.io/", "repository name must have at least one component")]
    [InlineData("ghcr.io//app", "invalid repository name")]
    [InlineData("-ghcr.io/app", "invalid registry host")]
    [InlineData("host:port/app", "invalid registry host")]
    [InlineData("a__-b", "invalid repository name")]
    [InlineData("a___b", "invalid repository name")]
    [InlineData("app-", "invalid repository name")]
    [InlineData("app\n", "invalid repository name")]
    [InlineData(" app", "invalid repository name")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "cannot specify 64-byte hexadecimal strings as a repository name")]
    public void Rejects_invalid_references_with_a_precise_reason(string input, string reason)
    {
        Assert.False(ImageReference.TryParse(input, out _));
        var error = Assert.Throws<InvalidReferenceException>(() => ImageReference.Parse(input));
        Assert.Equal(reason, error.Reason);
        Assert.Equal(input, error.Reference);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<OciException>(error);
    }

    [Fact]
    public void Tags_are_at_most_128_characters()
    {
        Assert.Equal(new string('t', 128), ImageReference.Parse("a:" + new string('t', 128)).Tag);
        Assert.Equal("invalid tag", Assert.Throws<InvalidReferenceException>(() => ImageReference.Parse("a:" + new string('t', 129))).Reason);
    }

    [Fact]
    public void Names_are_at_most_255_characters_including_the_registry()
    {
        // "docker.io/library/" is 18 characters.
        Assert.Equal(255, ImageReference.Parse(new string('a', 237)).Name.Length);
        var error = Assert.Throws<InvalidReferenceException>(() => ImageReference.Parse(new string('a', 238)));
        Assert.StartsWith("name too long", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WithTag_and_WithDigest_return_new_references()
    {
        var reference = ImageReference.Parse("alpine");
        var digest = Digest.Parse(Sha);
        var pinned = reference.WithDigest(digest);
        Assert.Equal("docker.io/library/alpine:latest@" + Sha, pinned.ToString());
        Assert.Equal("docker.io/library/alpine:3@" + Sha, pinned.WithTag("3").ToString());
        Assert.Equal("docker.io/library/alpine:latest", reference.ToString());
        Assert.Equal("invalid tag", Assert.Throws<InvalidReferenceException>(() => reference.WithTag("-bad")).Reason);
        Assert.Throws<ArgumentNullException>(() => reference.WithTag(null!));
    }

    [Fact]
    public void Create_validates_its_parts()
    {
        Assert.Equal("docker.io/library/alpine:latest", ImageReference.Create("index.docker.io", "alpine").ToString());
        Assert.Equal("ghcr.io/a/b@" + Sha, ImageReference.Create("ghcr.io", "a/b", digest: Digest.Parse(Sha)).ToString());
        Assert.Equal("ghcr.io/a/b:1", ImageReference.Create("ghcr.io", "a/b", "1").ToString());
        Assert.Equal("docker.io/ghcr.io/x:latest", ImageReference.Create("docker.io", "ghcr.io/x").ToString());
        Assert.StartsWith("invalid registry host", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("foo", "x")).Reason, StringComparison.Ordinal);
        Assert.Equal("invalid registry host", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("bad_host", "x")).Reason);
        Assert.Equal("repository name must be lowercase", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("ghcr.io", "X")).Reason);
        Assert.Equal("invalid repository name", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("ghcr.io", "x:1")).Reason);
        Assert.Equal("invalid repository name", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("ghcr.io", "x@" + Sha)).Reason);
        Assert.Equal("invalid tag", Assert.Throws<InvalidReferenceException>(() => ImageReference.Create("ghcr.io", "x", "a/b")).Reason);
    }

    [Fact]
    public void Is_parsable_through_the_generic_interface()
    {
        Assert.Equal(ImageReference.Parse("alpine"), ParseGeneric<ImageReference>("alpine"));
        Assert.Throws<InvalidReferenceException>(() => ParseGeneric<ImageReference>("Alpine"));
    }

    private static T ParseGeneric<T>(string text)
        where T : IParsable<T> => T.Parse(text, null);

    [Fact]
    public void Parse_rejects_null()
    {
        Assert.Throws<ArgumentNullException>(() => ImageReference.Parse(null!));
        Assert.False(ImageReference.TryParse(null, out _));
    }

    private static readonly Gen<string> Component = Gen.Elements("a", "b1", "app", "x-y", "x--y", "a.b", "a_b", "a__b", "library", "0");
    private static readonly Gen<string> Registry = Gen.Elements("", "docker.io/", "index.docker.io/", "localhost/", "localhost:5000/", "ghcr.io/", "Reg.Example.com:443/", "[::1]/", "10.0.0.1:5000/");
    private static readonly Gen<string> TagGen = Gen.Elements("", ":latest", ":1.0", ":_x", ":A-b.c", ":" + new string('z', 128));
    private static readonly Gen<string> DigestGen = Gen.Elements("", "@" + Sha, "@sha512:" + new string('a', 128));

    private static Arbitrary<string> References()
        => (from registry in Registry
            from count in Gen.Choose(1, 4)
            from parts in Gen.ArrayOf(Component, count)
            from tag in TagGen
            from digest in DigestGen
            select registry + string.Join('/', parts) + tag + digest).ToArbitrary();

    [Property(MaxTest = 300)]
    public Property Canonical_form_round_trips_and_normalization_is_idempotent()
        => Prop.ForAll(References(), text =>
        {
            var reference = ImageReference.Parse(text);
            var again = ImageReference.Parse(reference.ToString());
            return again == reference && again.ToString() == reference.ToString();
        });

    [Property(MaxTest = 300)]
    public Property Familiar_form_parses_back_to_the_same_reference()
        => Prop.ForAll(References(), text =>
        {
            var reference = ImageReference.Parse(text);
            return ImageReference.Parse(reference.FamiliarString) == reference
                && ImageReference.Parse(reference.FamiliarName + ":x").Name == reference.Name;
        });

    [Property(MaxTest = 300)]
    public Property Parts_survive_the_round_trip()
        => Prop.ForAll(References(), text =>
        {
            var reference = ImageReference.Parse(text);
            var rebuilt = ImageReference.Create(reference.Registry, reference.Repository, reference.Tag, reference.Digest);
            return rebuilt == reference;
        });
}

/// <summary>The one home of the rules a local lookup and a cross-repository mount follow.</summary>
public class ImageReferenceRuleTests
{
    [Theory]
    [InlineData("alpine", "alpine|docker.io/library/alpine:latest|alpine:latest")]
    [InlineData("alpine:latest", "alpine:latest|docker.io/library/alpine:latest")]
    [InlineData("docker.io/library/alpine:latest", "docker.io/library/alpine:latest|alpine:latest")]
    [InlineData("registry.example:5000/team/app:1", "registry.example:5000/team/app:1")]
    [InlineData("Not A Reference", "Not A Reference")]
    public void A_local_name_is_looked_up_as_given_then_canonical_then_familiar(string name, string expected) =>
        Assert.Equal(expected.Split('|'), OciKit.References.ImageReference.LocalSpellings(name));

    [Theory]
    [InlineData("r.example/base/runtime:8", "r.example/app/web:1", "base/runtime")]
    [InlineData("R.EXAMPLE/base/runtime:8", "r.example/app/web:1", "base/runtime")]
    [InlineData("r.example/app/web:0", "r.example/app/web:1", null)]
    [InlineData("other.example/base/runtime:8", "r.example/app/web:1", null)]
    public void Blobs_are_mounted_only_from_another_repository_of_the_same_registry(string source, string target, string? expected) =>
        Assert.Equal(expected, OciKit.Registry.RegistryClient.MountSource(OciKit.References.ImageReference.Parse(source), OciKit.References.ImageReference.Parse(target)));
}
