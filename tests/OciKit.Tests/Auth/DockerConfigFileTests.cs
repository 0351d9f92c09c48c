using OciKit.Auth;
using OciKit.Registry;

namespace OciKit.Tests.Auth;

public sealed class DockerConfigFileTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task A_named_config_file_replaces_the_standard_one_for_reading_and_writing()
    {
        var file = Path.Combine(_home.Root, "elsewhere", "auth.json");
        var options = _home.Options() with { DockerConfigFile = file };
        var location = await new DockerCredentialStore(options).StoreAsync("localhost:5000", RegistryCredential.FromUsernamePassword("u", "p"));

        Assert.Equal(file, location.Origin);
        Assert.False(File.Exists(_home.DockerConfig));
        var resolved = await new CredentialResolver(options).ResolveAsync("localhost:5000");
        Assert.Equal(file, resolved!.Origin);
        Assert.Null(await _home.Resolver().ResolveAsync("localhost:5000"));
        Assert.True(await new DockerCredentialStore(options).EraseAsync("localhost:5000"));
        Assert.Throws<ArgumentException>(() => _home.Options() with { DockerConfigFile = "" });
    }

    [Fact]
    public async Task Registry_clients_use_the_standard_resolver_unless_told_otherwise()
    {
        Assert.Same(RegistryClientOptions.StandardCredentials, new RegistryClientOptions().Credentials);
        _home.Write(".docker/config.json", $$"""{ "auths": { "reg.example:5000": { "auth": "{{TempHome.Auth("me", "pw")}}" } } }""");
        var provider = RegistryClientOptions.CredentialsFrom(_home.Resolver());
        Assert.Equal(RegistryCredential.FromUsernamePassword("me", "pw"), await provider("reg.example:5000", CancellationToken.None));
        Assert.Null(await provider("other.example", CancellationToken.None));
        Assert.Throws<ArgumentNullException>(() => RegistryClientOptions.CredentialsFrom(null!));
    }
}
