using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Auth;

namespace OciKit.Tests.Auth;

public class RegistryCredentialTests
{
    [Fact]
    public void Kinds_expose_their_secret_under_the_right_name()
    {
        var basic = RegistryCredential.FromUsernamePassword("bob", "pw");
        Assert.Equal(("bob", "pw", null, null), (basic.Username, basic.Password, basic.IdentityToken, basic.RegistryToken));
        var identity = RegistryCredential.FromIdentityToken("tok", RegistryCredential.IdentityTokenUsername);
        Assert.Equal((RegistryCredentialKind.IdentityToken, null, "tok", null), (identity.Kind, identity.Username, identity.IdentityToken, identity.Password));
        var registry = RegistryCredential.FromRegistryToken("rt");
        Assert.Equal((RegistryCredentialKind.RegistryToken, "rt"), (registry.Kind, registry.RegistryToken));
        Assert.Equal(basic, RegistryCredential.FromUsernamePassword("bob", "pw"));
        Assert.NotEqual(basic, RegistryCredential.FromUsernamePassword("bob", "other"));
    }

    [Fact]
    public void Rejects_unusable_arguments()
    {
        Assert.Throws<ArgumentException>(() => RegistryCredential.FromUsernamePassword("a:b", "pw"));
        Assert.Throws<ArgumentException>(() => RegistryCredential.FromUsernamePassword("", "pw"));
        Assert.Throws<ArgumentNullException>(() => RegistryCredential.FromUsernamePassword("a", null!));
        Assert.Throws<ArgumentException>(() => RegistryCredential.FromIdentityToken(""));
        Assert.Throws<ArgumentException>(() => RegistryCredential.FromRegistryToken(""));
    }

    private static readonly Arbitrary<string> Secrets =
        (from chars in Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_.!:".ToCharArray()))
         let s = new string(chars)
         where s.Length >= 6
         select "S3cr" + s).ToArbitrary();

    [Property(MaxTest = 200)]
    public Property ToString_never_shows_the_secret()
        => Prop.ForAll(Secrets, secret =>
            !RegistryCredential.FromUsernamePassword("user", secret).ToString().Contains(secret, StringComparison.Ordinal)
            && !RegistryCredential.FromIdentityToken(secret, "user").ToString().Contains(secret, StringComparison.Ordinal)
            && !RegistryCredential.FromRegistryToken(secret).ToString().Contains(secret, StringComparison.Ordinal)
            && !$"{RegistryCredential.FromUsernamePassword("user", secret)}".Contains(secret, StringComparison.Ordinal));
}

public class RegistryKeysTests
{
    [Theory]
    [InlineData("https://index.docker.io/v1/", "docker.io")]
    [InlineData("index.docker.io", "docker.io")]
    [InlineData("registry-1.docker.io", "docker.io")]
    [InlineData("docker.io", "docker.io")]
    [InlineData("https://ghcr.io", "ghcr.io")]
    [InlineData("http://localhost:5000/v2/", "localhost:5000")]
    [InlineData("HTTPS://Quay.io/v1/", "Quay.io")]
    [InlineData("quay.io/ns/repo", "quay.io")]
    public void Reads_keys_as_docker_does(string key, string host)
    {
        Assert.Equal(host, RegistryKeys.ToHost(key));
        Assert.True(RegistryKeys.Matches(key, host.ToUpperInvariant()));
    }

    [Fact]
    public void Server_urls_are_the_docker_hub_legacy_url_or_the_host()
    {
        Assert.Equal("https://index.docker.io/v1/", RegistryKeys.ToServerUrl("docker.io"));
        Assert.Equal("https://index.docker.io/v1/", RegistryKeys.ToServerUrl("registry-1.docker.io"));
        Assert.Equal("ghcr.io", RegistryKeys.ToServerUrl("https://ghcr.io/"));
    }
}
