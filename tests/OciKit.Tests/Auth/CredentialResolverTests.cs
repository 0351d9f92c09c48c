using OciKit.Auth;
using OciKit.References;

namespace OciKit.Tests.Auth;

public sealed class CredentialResolverTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    private async Task<ResolvedCredential?> ResolveAsync(string registry, CredentialOptions? options = null)
        => await new CredentialResolver(options ?? _home.Options()).ResolveAsync(registry);

    [Fact]
    public async Task Nothing_configured_means_anonymous()
    {
        Assert.Null(await ResolveAsync("ghcr.io"));
        var home = new CredentialOptions { HomeDirectory = _home.Root, Environment = new Dictionary<string, string>() };
        Assert.Null(await new CredentialResolver(home).ResolveAsync("ghcr.io"));
        Assert.Equal(Path.Combine(_home.Root, ".docker", "config.json"), new CredentialResolver(home).DockerConfigPath);
    }

    [Theory]
    [InlineData("https://index.docker.io/v1/", "docker.io")]
    [InlineData("https://index.docker.io/v1/", "index.docker.io")]
    [InlineData("https://index.docker.io/v1/", "registry-1.docker.io")]
    [InlineData("docker.io", "docker.io")]
    [InlineData("index.docker.io", "https://index.docker.io/v1/")]
    [InlineData("ghcr.io", "ghcr.io")]
    [InlineData("https://ghcr.io", "ghcr.io")]
    [InlineData("https://ghcr.io/v1/", "ghcr.io")]
    [InlineData("http://localhost:5000", "localhost:5000")]
    [InlineData("localhost:5000", "http://localhost:5000/v2/")]
    public async Task Reads_docker_config_auths_under_every_key_form(string key, string registry)
    {
        _home.Write(".docker/config.json", $$$"""{"auths":{"{{{key}}}":{"auth":"{{{TempHome.Auth("bob", "pa:ss")}}}" } } }""");
        var resolved = await ResolveAsync(registry);
        Assert.NotNull(resolved);
        Assert.Equal(RegistryCredential.FromUsernamePassword("bob", "pa:ss"), resolved.Credential);
        Assert.Equal(CredentialSource.DockerConfig, resolved.Source);
        Assert.Equal(_home.DockerConfig, resolved.Origin);
    }

    [Fact]
    public async Task Exact_docker_hub_key_wins_and_other_registries_do_not_match()
    {
        _home.Write(".docker/config.json", $$$"""
            {
              "auths": {
                "docker.io": { "auth": "{{{TempHome.Auth("old", "x")}}}" },
                "https://index.docker.io/v1/": { "auth": "{{{TempHome.Auth("new", "y")}}}" },
                "ghcr.io": { "username": "g", "password": "p" }
              },
              "psFormat": "table {{.ID}}",
              "proxies": { "default": { "httpProxy": "http://p" } },
              "currentContext": "default"
            }
            """);
        Assert.Equal("new", (await ResolveAsync("docker.io"))!.Credential.Username);
        Assert.Equal(RegistryCredential.FromUsernamePassword("g", "p"), (await ResolveAsync("ghcr.io"))!.Credential);
        Assert.Null(await ResolveAsync("quay.io"));
        Assert.Null(await ResolveAsync("ghcr.io.evil.example"));
    }

    [Fact]
    public async Task Reads_identity_and_registry_tokens()
    {
        _home.Write(".docker/config.json", $$$"""
            {"auths":{
              "a.example": { "auth": "{{{TempHome.Auth("alice", "")}}}", "identitytoken": "refresh-1" },
              "b.example": { "registrytoken": "bearer-2" },
              "c.example": {},
              "d.example": { "auth": "" }
            }}
            """);
        var a = (await ResolveAsync("a.example"))!.Credential;
        Assert.Equal((RegistryCredentialKind.IdentityToken, "alice", "refresh-1"), (a.Kind, a.Username, a.IdentityToken));
        Assert.Equal(RegistryCredential.FromRegistryToken("bearer-2"), (await ResolveAsync("b.example"))!.Credential);
        Assert.Null(await ResolveAsync("c.example"));
        Assert.Null(await ResolveAsync("d.example"));
    }

    [Fact]
    public async Task DOCKER_CONFIG_moves_the_docker_config()
    {
        var dir = Path.Combine(_home.Root, "elsewhere");
        _home.Write("elsewhere/config.json", $$$"""{"auths":{"ghcr.io":{"auth":"{{{TempHome.Auth("u", "p")}}}" } } }""");
        _home.Write(".docker/config.json", $$$"""{"auths":{"ghcr.io":{"auth":"{{{TempHome.Auth("wrong", "p")}}}" } } }""");
        var options = _home.Options() with { Environment = new Dictionary<string, string>(_home.Environment) { ["DOCKER_CONFIG"] = dir } };
        var resolved = await ResolveAsync("ghcr.io", options);
        Assert.Equal("u", resolved!.Credential.Username);
        Assert.Equal(Path.Combine(dir, "config.json"), resolved.Origin);
    }

    [Fact]
    public async Task Sources_are_tried_in_the_documented_order()
    {
        _home.Write(".config/containers/auth.json", $$$"""{"auths":{"ghcr.io":{"auth":"{{{TempHome.Auth("podman", "p")}}}" } } }""");
        Assert.Equal(CredentialSource.ContainersAuthFile, (await ResolveAsync("ghcr.io"))!.Source);

        _home.Write(".docker/config.json", $$$"""{"auths":{"ghcr.io":{"auth":"{{{TempHome.Auth("docker", "p")}}}" } } }""");
        Assert.Equal("docker", (await ResolveAsync("ghcr.io"))!.Credential.Username);

        _home.Environment["OCIKIT_REGISTRY_USERNAME"] = "generic";
        _home.Environment["OCIKIT_REGISTRY_PASSWORD"] = "p";
        Assert.Equal("generic", (await ResolveAsync("ghcr.io"))!.Credential.Username);

        _home.Environment["OCIKIT_REGISTRY_GHCR_IO_USERNAME"] = "specific";
        _home.Environment["OCIKIT_REGISTRY_GHCR_IO_PASSWORD"] = "p";
        var fromEnvironment = (await ResolveAsync("ghcr.io"))!;
        Assert.Equal(("specific", CredentialSource.Environment, "OCIKIT_REGISTRY_GHCR_IO_USERNAME"), (fromEnvironment.Credential.Username, fromEnvironment.Source, fromEnvironment.Origin));

        var explicitCredential = RegistryCredential.FromUsernamePassword("explicit", "p");
        var resolved = await ResolveAsync("ghcr.io", _home.Options(new Dictionary<string, RegistryCredential> { ["https://ghcr.io"] = explicitCredential }));
        Assert.Equal((explicitCredential, CredentialSource.Explicit), (resolved!.Credential, resolved.Source));

        var onlyFiles = _home.Options() with { UseEnvironmentVariables = false, UseDockerConfig = false };
        Assert.Equal("podman", (await ResolveAsync("ghcr.io", onlyFiles))!.Credential.Username);
    }

    [Fact]
    public async Task Environment_variables_follow_their_documented_names()
    {
        Assert.Equal("LOCALHOST_5000", CredentialEnvironmentVariables.HostPart("localhost:5000"));
        Assert.Equal("DOCKER_IO", CredentialEnvironmentVariables.HostPart("https://index.docker.io/v1/"));
        Assert.Equal(("OCIKIT_REGISTRY_GHCR_IO_USERNAME", "OCIKIT_REGISTRY_GHCR_IO_PASSWORD"), CredentialEnvironmentVariables.ForRegistry("ghcr.io"));
        _home.Environment["OCIKIT_REGISTRY_LOCALHOST_5000_USERNAME"] = "local";
        _home.Environment["OCIKIT_REGISTRY_LOCALHOST_5000_PASSWORD"] = "";
        _home.Environment["OCIKIT_REGISTRY_DOCKER_IO_USERNAME"] = "hub";
        Assert.Equal(RegistryCredential.FromUsernamePassword("local", ""), (await ResolveAsync("localhost:5000"))!.Credential);
        Assert.Null(await ResolveAsync("docker.io"));

        _home.Environment["OCIKIT_REGISTRY_USERNAME"] = "scoped";
        _home.Environment["OCIKIT_REGISTRY_PASSWORD"] = "p";
        _home.Environment["OCIKIT_REGISTRY_HOST"] = "https://quay.io";
        Assert.Equal("scoped", (await ResolveAsync("quay.io"))!.Credential.Username);
        Assert.Null(await ResolveAsync("ghcr.io"));
    }

    [Fact]
    public async Task Containers_auth_files_prefer_the_most_specific_key_and_follow_their_environment()
    {
        _home.Write(".config/containers/auth.json", $$$"""
            {"auths":{
              "quay.io": { "auth": "{{{TempHome.Auth("registry-wide", "p")}}}" },
              "quay.io/team": { "auth": "{{{TempHome.Auth("team", "p")}}}" },
              "quay.io/team/app": { "auth": "{{{TempHome.Auth("app", "p")}}}" },
              "docker.io/library": { "auth": "{{{TempHome.Auth("official", "p")}}}" }
            }}
            """);
        var resolver = _home.Resolver();
        Assert.Equal("app", (await resolver.ResolveAsync(ImageReference.Parse("quay.io/team/app:1")))!.Credential.Username);
        Assert.Equal("team", (await resolver.ResolveAsync(ImageReference.Parse("quay.io/team/other")))!.Credential.Username);
        Assert.Equal("registry-wide", (await resolver.ResolveAsync(ImageReference.Parse("quay.io/teamx/app")))!.Credential.Username);
        Assert.Equal("registry-wide", (await resolver.ResolveAsync("quay.io"))!.Credential.Username);
        Assert.Equal("official", (await resolver.ResolveAsync(ImageReference.Parse("alpine")))!.Credential.Username);

        var runtime = Path.Combine(_home.Root, "run");
        _home.Write("run/containers/auth.json", $$$"""{"auths":{"quay.io":{"auth":"{{{TempHome.Auth("runtime", "p")}}}" } } }""");
        _home.Environment["XDG_RUNTIME_DIR"] = runtime;
        Assert.Equal("runtime", (await ResolveAsync("quay.io"))!.Credential.Username);

        var explicitFile = _home.Write("mine.json", $$$"""{"auths":{"quay.io":{"auth":"{{{TempHome.Auth("auth-file", "p")}}}" } } }""");
        _home.Environment["REGISTRY_AUTH_FILE"] = explicitFile;
        var resolved = (await ResolveAsync("quay.io"))!;
        Assert.Equal(("auth-file", explicitFile), (resolved.Credential.Username, resolved.Origin));
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("[]", "top level is not a JSON object")]
    [InlineData("""{"auths": {"ghcr.io": {"auth": "x", "auth": "S3cretValue"}}}""", "repeats a key")]
    [InlineData("""{"auths": []}""", "'auths' is not an object")]
    [InlineData("""{"auths": {"ghcr.io": "x"}}""", "auths entry for 'ghcr.io' is not an object")]
    [InlineData("""{"auths": {"ghcr.io": {"auth": 5}}}""", "'auth' in the auths entry for 'ghcr.io' is not a string")]
    [InlineData("""{"auths": {"ghcr.io": {"auth": "%%%S3cretValue%%%" } } }""", "not valid base64")]
    [InlineData("""{"auths": {"ghcr.io": {"auth": "UzNjcmV0VmFsdWVXaXRob3V0Q29sb24=" } } }""", "not of the form username:password")]
    [InlineData("""{"credHelpers": {"ghcr.io": 1}}""", "credHelpers entry for 'ghcr.io' is not a string")]
    [InlineData("""{"credsStore": {}}""", "'credsStore' is not a string")]
    [InlineData("""{"auths": {"ghcr.io": {"password": "S3cretValue" } } }""", "has no valid user name")]
    public async Task Malformed_files_raise_a_typed_error_naming_the_file_but_not_the_secret(string content, string reason)
    {
        var path = _home.Write(".docker/config.json", content);
        var error = await Assert.ThrowsAsync<CredentialFileException>(() => ResolveAsync("ghcr.io"));
        Assert.Equal(path, error.FilePath);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", error.ToString(), StringComparison.Ordinal);
        Assert.Null(error.InnerException);
    }

    [Fact]
    public async Task Invalid_json_reports_its_position_without_quoting_it()
    {
        _home.Write(".docker/config.json", "{\n  \"auths\": {\"ghcr.io\": {\"auth\": S3cretUnquoted}}\n}");
        var error = await Assert.ThrowsAsync<CredentialFileException>(() => ResolveAsync("ghcr.io"));
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_files_and_unknown_fields_are_tolerated()
    {
        _home.Write(".docker/config.json", "  \n");
        _home.Write(".config/containers/auth.json", $$$"""
            // comments and trailing commas as some tools write them
            {"future": [1, 2], "auths": {"ghcr.io": {"auth": "{{{TempHome.Auth("u", "p")}}}", "email": "x@y", "extra": {"a": 1}},},}
            """);
        Assert.Equal("u", (await ResolveAsync("ghcr.io"))!.Credential.Username);
    }

    [Fact]
    public async Task ResolvedCredential_ToString_hides_the_secret()
    {
        _home.Write(".docker/config.json", $$$"""{"auths":{"ghcr.io":{"auth":"{{{TempHome.Auth("bob", "S3cretPassword")}}}" } } }""");
        var resolved = await ResolveAsync("ghcr.io");
        Assert.DoesNotContain("S3cret", resolved!.ToString(), StringComparison.Ordinal);
        Assert.Contains("bob", resolved.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Arguments_are_checked()
    {
        var resolver = _home.Resolver();
        await Assert.ThrowsAsync<ArgumentException>(() => resolver.ResolveAsync(""));
        await Assert.ThrowsAsync<ArgumentNullException>(() => resolver.ResolveAsync((ImageReference)null!));
        Assert.Throws<ArgumentException>(() => new CredentialOptions { HomeDirectory = "relative/home" });
        Assert.Equal(_home.Root, new CredentialOptions { HomeDirectory = _home.Root }.HomeDirectory);
    }
}
