using OciKit.Auth;

namespace OciKit.Tests.Auth;

/// <summary>
/// Tests that run fake credential helpers. They live in one class so that xunit runs them one after another: a
/// script being written while another thread forks could otherwise fail to start ("text file busy").
/// </summary>
public sealed class CredentialHelperTests : IDisposable
{
    private const string Secret = "S3cret-Helper-Value";
    private readonly TempHome _home = new();

    public CredentialHelperTests()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        _home.InstallFakeHelper("fake");
        _home.InstallFakeHelper("other");
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task CredsStore_is_asked_with_the_server_url_docker_uses()
    {
        _home.Write(".docker/config.json", """{"credsStore":"fake","auths":{"https://index.docker.io/v1/":{}}}""");
        _home.SeedHelper("https://index.docker.io/v1/", "hubuser", Secret);
        _home.SeedHelper("ghcr.io", "ghuser", Secret);

        var hub = await _home.Resolver().ResolveAsync("docker.io");
        Assert.Equal((RegistryCredential.FromUsernamePassword("hubuser", Secret), CredentialSource.CredentialHelper, "docker-credential-fake"), (hub!.Credential, hub.Source, hub.Origin));
        Assert.Equal("ghuser", (await _home.Resolver().ResolveAsync("https://ghcr.io"))!.Credential.Username);
    }

    [Fact]
    public async Task Not_found_means_no_credential_and_the_file_entry_is_not_used()
    {
        _home.Write(".docker/config.json", $$"""{"credsStore":"fake","auths":{"quay.io":{"auth":"{{TempHome.Auth("inline", "p")}}" } } }""");
        Assert.Null(await _home.Resolver().ResolveAsync("quay.io"));
        Assert.Equal(["get"], _home.HelperLog());
    }

    [Fact]
    public async Task CredHelpers_win_over_credsStore_and_token_usernames_are_identity_tokens()
    {
        _home.Write(".docker/config.json", """{"credsStore":"missing","credHelpers":{"https://gcr.io":"other","ghcr.io":"fake"}}""");
        _home.SeedHelper("gcr.io", "<token>", Secret);
        var resolved = await _home.Resolver().ResolveAsync("gcr.io");
        Assert.Equal((RegistryCredential.FromIdentityToken(Secret), "docker-credential-other"), (resolved!.Credential, resolved.Origin));

        // credsStore names a helper that is not installed: a typed error, not a silent anonymous pull.
        var error = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("quay.io"));
        Assert.Equal(("docker-credential-missing", "get", null), (error.Helper, error.Operation, error.ExitCode));
        Assert.Contains("not found on the helper search path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Containers_auth_files_may_name_helpers()
    {
        _home.Write(".config/containers/auth.json", """{"credHelpers":{"registry.example":"fake","docker.io":"fake"}}""");
        _home.SeedHelper("registry.example", "podmanuser", Secret);
        _home.SeedHelper("docker.io", "podmanhub", Secret);
        Assert.Equal("podmanuser", (await _home.Resolver().ResolveAsync("registry.example"))!.Credential.Username);
        Assert.Equal("podmanhub", (await _home.Resolver().ResolveAsync("index.docker.io"))!.Credential.Username);
    }

    [Fact]
    public async Task Failing_helpers_raise_typed_errors_without_secrets()
    {
        _home.InstallScript("broken", """
            #!/bin/bash
            cat > /dev/null
            echo "error: gpg: decryption failed: No secret key"
            exit 3
            """);
        _home.InstallScript("leaky", """
            #!/bin/bash
            cat > /dev/null
            echo '{"ServerURL":"x","Username":"u","Secret":"S3cret-Helper-Value"}'
            exit 1
            """);
        _home.InstallScript("garbled", """
            #!/bin/bash
            cat > /dev/null
            echo '{"Username":"u","Secret":"S3cret-Helper-Value"'
            """);
        _home.Write(".docker/config.json", """{"credHelpers":{"a.example":"broken","b.example":"leaky","c.example":"garbled"}}""");

        var broken = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("a.example"));
        Assert.Equal(3, broken.ExitCode);
        Assert.Contains("decryption failed", broken.Message, StringComparison.Ordinal);

        var leaky = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("b.example"));
        Assert.DoesNotContain("S3cret", leaky.ToString(), StringComparison.Ordinal);

        var garbled = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("c.example"));
        Assert.Contains("not valid JSON", garbled.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", garbled.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_and_erase_go_through_the_configured_helper()
    {
        _home.Write(".docker/config.json", """{"credsStore":"fake","currentContext":"x"}""");
        var store = new DockerCredentialStore(_home.Options());

        var location = await store.StoreAsync("docker.io", RegistryCredential.FromUsernamePassword("me", Secret));
        Assert.Equal(new CredentialLocation(CredentialSource.CredentialHelper, "docker-credential-fake"), location);
        var file = File.ReadAllText(_home.DockerConfig);
        Assert.DoesNotContain(Secret, file, StringComparison.Ordinal);
        Assert.Contains("\"https://index.docker.io/v1/\": {}", file, StringComparison.Ordinal);
        Assert.Contains("\"currentContext\": \"x\"", file, StringComparison.Ordinal);
        Assert.Equal(RegistryCredential.FromUsernamePassword("me", Secret), (await _home.Resolver().ResolveAsync("index.docker.io"))!.Credential);

        await store.StoreAsync("ghcr.io", RegistryCredential.FromIdentityToken(Secret));
        Assert.Equal(RegistryCredential.FromIdentityToken(Secret), (await _home.Resolver().ResolveAsync("ghcr.io"))!.Credential);
        await Assert.ThrowsAsync<NotSupportedException>(() => store.StoreAsync("ghcr.io", RegistryCredential.FromRegistryToken(Secret)));

        Assert.True(await store.EraseAsync("docker.io"));
        Assert.Null(await _home.Resolver().ResolveAsync("docker.io"));
        Assert.DoesNotContain("index.docker.io", File.ReadAllText(_home.DockerConfig), StringComparison.Ordinal);
        Assert.False(await store.EraseAsync("quay.io"));
        Assert.Equal(["store", "get", "store", "get", "erase", "get", "erase"], _home.HelperLog());
    }

    [Fact]
    public async Task A_failing_store_does_not_echo_the_secret()
    {
        _home.InstallScript("echoing", """
            #!/bin/bash
            echo "cannot store: $(cat)"
            exit 1
            """);
        _home.Write(".docker/config.json", """{"credsStore":"echoing"}""");
        var error = await Assert.ThrowsAsync<CredentialHelperException>(
            () => new DockerCredentialStore(_home.Options()).StoreAsync("ghcr.io", RegistryCredential.FromUsernamePassword("me", Secret)));
        Assert.Equal("store", error.Operation);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Helper_names_cannot_escape_the_search_path()
    {
        _home.Write(".docker/config.json", """{"credsStore":"../bin/docker-credential-fake"}""");
        var error = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("ghcr.io"));
        Assert.Contains("not a plain name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Relative_search_path_entries_are_ignored()
    {
        _home.Write(".docker/config.json", """{"credsStore":"fake"}""");
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, _home.Bin);
        var options = _home.Options() with { HelperSearchPath = relative };
        var error = await Assert.ThrowsAsync<CredentialHelperException>(() => new CredentialResolver(options).ResolveAsync("ghcr.io"));
        Assert.Contains("not found on the helper search path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_helper_that_cannot_start_is_a_typed_error()
    {
        _home.InstallScript("noshebang", "this is not a program");
        _home.Write(".docker/config.json", """{"credsStore":"noshebang"}""");
        var error = await Assert.ThrowsAsync<CredentialHelperException>(() => _home.Resolver().ResolveAsync("ghcr.io"));
        Assert.Contains("could not be started", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Helpers_are_found_through_PATH_when_no_search_path_is_given()
    {
        // The helper runs with the options' environment, so its PATH must still reach the tools the script uses.
        _home.Write(".docker/config.json", """{"credsStore":"fake"}""");
        _home.SeedHelper("ghcr.io", "viapath", Secret);
        var options = _home.Options() with
        {
            HelperSearchPath = null,
            Environment = new Dictionary<string, string>(_home.Environment) { ["PATH"] = "/nonexistent" + Path.PathSeparator + _home.Bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH") },
        };
        Assert.Equal("viapath", (await new CredentialResolver(options).ResolveAsync("ghcr.io"))!.Credential.Username);
    }
}
