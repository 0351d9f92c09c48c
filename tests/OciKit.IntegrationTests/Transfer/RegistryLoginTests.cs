using System.Text.Json;
using OciKit.Auth;
using OciKit.IntegrationTests.Harness;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Transfer;

/// <summary><see cref="RegistryLogin"/> against a token-auth registry (the Docker Hub and ghcr.io flow).</summary>
public class RegistryLoginTests
{
    [Fact]
    public async Task Login_checks_the_credential_through_the_token_service_before_storing_it()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        using var dir = new TempDir();
        var credentials = CredentialOptions.Default with { DockerConfigFile = dir.Combine("config.json") };

        var refused = await Assert.ThrowsAsync<RegistryAuthenticationException>(() =>
            RegistryLogin.LoginAsync(registry.Host, RegistryCredential.FromUsernamePassword(RegistryServer.User, "wrong-password-123"), null, credentials));
        Assert.DoesNotContain("wrong-password-123", refused.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(dir.Combine("config.json")));

        var location = await RegistryLogin.LoginAsync(registry.Host, RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password), null, credentials);
        Assert.Equal(new CredentialLocation(CredentialSource.DockerConfig, dir.Combine("config.json")), location);
        Assert.Contains(registry.TokenServer!.Requests, r => r.User == RegistryServer.User && r.Status == 200);

        // A client reading that file pushes; after logout it is anonymous again.
        using (var client = new RegistryClient(new RegistryClientOptions { Credentials = RegistryClientOptions.CredentialsFrom(new CredentialResolver(credentials)) }))
        {
            await client.CheckCredentialsAsync(registry.Host);
        }

        using (var config = JsonDocument.Parse(await File.ReadAllTextAsync(dir.Combine("config.json"))))
        {
            Assert.True(config.RootElement.GetProperty("auths").TryGetProperty(registry.Host, out _));
        }

        Assert.True(await RegistryLogin.LogoutAsync("http://" + registry.Host + "/", credentials));
        Assert.False(await RegistryLogin.LogoutAsync(registry.Host, credentials));
    }
}
