using OciKit.Auth;

namespace OciKit.Tests.Auth;

public class AuthChallengeTests
{
    [Fact]
    public void Parses_a_docker_hub_bearer_challenge()
    {
        var challenge = Assert.Single(AuthChallenge.Parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\""));
        Assert.True(challenge.IsBearer);
        Assert.False(challenge.IsBasic);
        Assert.Equal("https://auth.docker.io/token", challenge.Realm);
        Assert.Equal("registry.docker.io", challenge.Service);
        Assert.Equal("repository:library/alpine:pull", challenge.Scope);
        Assert.Null(challenge.Error);
        Assert.Null(challenge.Token68);
    }

    // Challenges as registries send them: scheme, realm, service, scope.
    [Theory]
    [InlineData("Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\",scope=\"repository:user/image:pull\"", "Bearer", "https://ghcr.io/token", "ghcr.io", "repository:user/image:pull")]
    [InlineData("Bearer realm=\"https://quay.io/v2/auth\",service=\"quay.io\"", "Bearer", "https://quay.io/v2/auth", "quay.io", null)]
    [InlineData("Basic realm=\"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/\",service=\"ecr.amazonaws.com\"", "Basic", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/", "ecr.amazonaws.com", null)]
    [InlineData("Basic realm=\"Registry Realm\"", "Basic", "Registry Realm", null, null)]
    [InlineData("Bearer realm=\"http://127.0.0.1:5001/auth\",service=\"Docker registry\",scope=\"registry:catalog:*\"", "Bearer", "http://127.0.0.1:5001/auth", "Docker registry", "registry:catalog:*")]
    public void Parses_challenges_registries_send(string header, string scheme, string realm, string? service, string? scope)
    {
        var challenge = Assert.Single(AuthChallenge.Parse(header));
        Assert.Equal((scheme, realm, service, scope), (challenge.Scheme, challenge.Realm, challenge.Service, challenge.Scope));
    }

    [Fact]
    public void Parses_several_challenges_in_one_header()
    {
        var challenges = AuthChallenge.Parse(
            "Basic realm=\"Registry Realm\", Bearer realm=\"https://a/t\", service=\"s\",scope=\"repository:a:pull,push repository:b:pull\",error=\"insufficient_scope\"");
        Assert.Equal(2, challenges.Count);
        Assert.True(challenges[0].IsBasic);
        Assert.Equal("Registry Realm", challenges[0].Realm);
        Assert.True(challenges[1].IsBearer);
        Assert.Equal("repository:a:pull,push repository:b:pull", challenges[1].Scope);
        Assert.Equal("insufficient_scope", challenges[1].Error);
        Assert.Equal("s", challenges[1].Service);
    }

    [Fact]
    public void Unescapes_quoted_strings_and_reads_tokens_and_case_insensitive_names()
    {
        var challenge = Assert.Single(AuthChallenge.Parse("bearer REALM=\"a \\\"quoted\\\" \\\\ realm, with comma\" , service=plain.token , error_description=\"x=y\""));
        Assert.True(challenge.IsBearer);
        Assert.Equal("a \"quoted\" \\ realm, with comma", challenge.Realm);
        Assert.Equal("plain.token", challenge.Service);
        Assert.Equal("x=y", challenge.ErrorDescription);
    }

    [Fact]
    public void Reads_token68_and_bare_schemes()
    {
        var challenges = AuthChallenge.Parse("Negotiate abc+/def==, Basic, Bearer realm=\"r\"");
        Assert.Equal(3, challenges.Count);
        Assert.Equal("abc+/def==", challenges[0].Token68);
        Assert.Empty(challenges[1].Parameters);
        Assert.True(challenges[1].IsBasic);
        Assert.Equal("r", challenges[2].Realm);
    }

    [Fact]
    public void Reads_several_header_values()
    {
        var challenges = AuthChallenge.Parse(["Basic realm=\"a\"", "Bearer realm=\"b\""]);
        Assert.Equal(["a", "b"], challenges.Select(c => c.Realm));
    }

    [Fact]
    public void Empty_header_has_no_challenges()
    {
        Assert.Empty(AuthChallenge.Parse(""));
        Assert.Empty(AuthChallenge.Parse(" , "));
    }

    [Theory]
    [InlineData("Bearer realm=\"unterminated")]
    [InlineData("Bearer a=b, realm=")]
    [InlineData("Bearer realm=\"a\" service=\"b\"")]
    [InlineData("Bearer realm=\"a\",realm=\"b\"")]
    [InlineData("=\"a\"")]
    [InlineData("Bearer realm=\"a\";x")]
    public void Rejects_malformed_headers(string header)
    {
        Assert.False(AuthChallenge.TryParse(header, out _));
        var error = Assert.Throws<OciFormatException>(() => AuthChallenge.Parse(header));
        Assert.Equal("WWW-Authenticate header", error.Subject);
    }

    [Fact]
    public void ToString_round_trips()
    {
        var header = "Bearer realm=\"https://a/t\",scope=\"repository:x:pull\",service=\"quote \\\" here\"";
        var challenge = Assert.Single(AuthChallenge.Parse(header));
        Assert.Equal(header, challenge.ToString());
        Assert.Equal(challenge, Assert.Single(AuthChallenge.Parse(challenge.ToString())));
        Assert.Equal(challenge.GetHashCode(), Assert.Single(AuthChallenge.Parse("bearer SERVICE=\"quote \\\" here\", realm=\"https://a/t\", scope=\"repository:x:pull\"")).GetHashCode());
        Assert.Equal(challenge, Assert.Single(AuthChallenge.Parse("bearer SERVICE=\"quote \\\" here\", realm=\"https://a/t\", scope=\"repository:x:pull\"")));
        Assert.NotEqual(challenge, Assert.Single(AuthChallenge.Parse("Bearer realm=\"https://a/t\"")));
    }
}
