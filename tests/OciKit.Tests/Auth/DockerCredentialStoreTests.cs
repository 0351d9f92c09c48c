using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Auth;

namespace OciKit.Tests.Auth;

public sealed class DockerCredentialStoreTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    private DockerCredentialStore Store() => new(_home.Options());

    [Fact]
    public async Task Creates_the_file_with_mode_0600_in_docker_shape()
    {
        var location = await Store().StoreAsync("docker.io", RegistryCredential.FromUsernamePassword("me", "pw"));
        Assert.Equal(new CredentialLocation(CredentialSource.DockerConfig, _home.DockerConfig), location);
        Assert.Equal(_home.DockerConfig, Store().ConfigPath);

        using var document = JsonDocument.Parse(File.ReadAllText(_home.DockerConfig));
        var entry = document.RootElement.GetProperty("auths").GetProperty("https://index.docker.io/v1/");
        Assert.Equal(TempHome.Auth("me", "pw"), entry.GetProperty("auth").GetString());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_home.DockerConfig));
        }

        Assert.Equal(RegistryCredential.FromUsernamePassword("me", "pw"), (await _home.Resolver().ResolveAsync("docker.io"))!.Credential);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(_home.DockerConfig)!));
    }

    [Fact]
    public async Task Preserves_every_other_field_and_replaces_only_its_entry()
    {
        _home.Write(".docker/config.json", $$$"""
            {
              "auths": {
                "quay.io": { "auth": "{{{TempHome.Auth("q", "keep")}}}", "email": "q@example.com" },
                "ghcr.io": { "auth": "{{{TempHome.Auth("old", "old")}}}" }
              },
              "psFormat": "table {{.ID}}",
              "proxies": { "default": { "httpProxy": "http://proxy:3128", "noProxy": "*.local" } },
              "plugins": { "x": { "n": 1.50 } },
              "future": [true, null, 12345678901234567890]
            }
            """);
        await Store().StoreAsync("https://ghcr.io/", RegistryCredential.FromUsernamePassword("new", "p+/="));
        var text = File.ReadAllText(_home.DockerConfig);
        Assert.Contains("\"psFormat\": \"table {{.ID}}\"", text, StringComparison.Ordinal);
        Assert.Contains("12345678901234567890", text, StringComparison.Ordinal);
        Assert.Contains("1.50", text, StringComparison.Ordinal);
        Assert.Contains("\t\"auths\"", text, StringComparison.Ordinal);

        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        Assert.Equal("http://proxy:3128", root.GetProperty("proxies").GetProperty("default").GetProperty("httpProxy").GetString());
        Assert.Equal("q@example.com", root.GetProperty("auths").GetProperty("quay.io").GetProperty("email").GetString());
        Assert.Equal(TempHome.Auth("new", "p+/="), root.GetProperty("auths").GetProperty("ghcr.io").GetProperty("auth").GetString());
        Assert.Equal(["quay.io", "ghcr.io"], root.GetProperty("auths").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Writes_identity_and_registry_tokens_as_docker_does()
    {
        await Store().StoreAsync("a.example", RegistryCredential.FromIdentityToken("refresh", "alice"));
        await Store().StoreAsync("b.example", RegistryCredential.FromIdentityToken("refresh2"));
        await Store().StoreAsync("c.example", RegistryCredential.FromRegistryToken("bearer"));
        using var document = JsonDocument.Parse(File.ReadAllText(_home.DockerConfig));
        var auths = document.RootElement.GetProperty("auths");
        Assert.Equal(TempHome.Auth("alice", ""), auths.GetProperty("a.example").GetProperty("auth").GetString());
        Assert.Equal("refresh", auths.GetProperty("a.example").GetProperty("identitytoken").GetString());
        Assert.False(auths.GetProperty("b.example").TryGetProperty("auth", out _));
        Assert.Equal("bearer", auths.GetProperty("c.example").GetProperty("registrytoken").GetString());

        var resolver = _home.Resolver();
        Assert.Equal(RegistryCredential.FromIdentityToken("refresh", "alice"), (await resolver.ResolveAsync("a.example"))!.Credential);
        Assert.Equal(RegistryCredential.FromIdentityToken("refresh2"), (await resolver.ResolveAsync("b.example"))!.Credential);
        Assert.Equal(RegistryCredential.FromRegistryToken("bearer"), (await resolver.ResolveAsync("c.example"))!.Credential);
    }

    [Fact]
    public async Task Erase_removes_every_key_naming_the_registry()
    {
        _home.Write(".docker/config.json", $$"""
            {"auths":{
              "https://index.docker.io/v1/": { "auth": "{{TempHome.Auth("a", "b")}}" },
              "docker.io": { "auth": "{{TempHome.Auth("a", "b")}}" },
              "ghcr.io": { "auth": "{{TempHome.Auth("g", "h")}}" }
            }, "currentContext": "ctx"}
            """);
        Assert.True(await Store().EraseAsync("index.docker.io"));
        Assert.Null(await _home.Resolver().ResolveAsync("docker.io"));
        Assert.NotNull(await _home.Resolver().ResolveAsync("ghcr.io"));
        Assert.Contains("\"currentContext\": \"ctx\"", File.ReadAllText(_home.DockerConfig), StringComparison.Ordinal);
        Assert.False(await Store().EraseAsync("docker.io"));
    }

    [Fact]
    public async Task Erase_without_a_file_changes_nothing()
    {
        Assert.False(await Store().EraseAsync("ghcr.io"));
        Assert.False(File.Exists(_home.DockerConfig));
    }

    [Fact]
    public async Task A_symbolic_link_is_followed_and_its_target_replaced()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var target = _home.Write("dotfiles/docker.json", """{"currentContext":"linked"}""");
        Directory.CreateDirectory(Path.GetDirectoryName(_home.DockerConfig)!);
        File.CreateSymbolicLink(_home.DockerConfig, target);
        await Store().StoreAsync("ghcr.io", RegistryCredential.FromUsernamePassword("u", "p"));
        Assert.NotNull(new FileInfo(_home.DockerConfig).LinkTarget);
        Assert.Contains("ghcr.io", File.ReadAllText(target), StringComparison.Ordinal);
        Assert.Contains("linked", File.ReadAllText(target), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_file_is_left_alone()
    {
        var path = _home.Write(".docker/config.json", """{"auths": {"ghcr.io": {"auth": "not base64!"}}, "x": 1}""");
        var error = await Assert.ThrowsAsync<CredentialFileException>(() => Store().StoreAsync("quay.io", RegistryCredential.FromUsernamePassword("u", "p")));
        Assert.Equal(path, error.FilePath);
        Assert.Equal("""{"auths": {"ghcr.io": {"auth": "not base64!"}}, "x": 1}""", File.ReadAllText(path));
        await Assert.ThrowsAsync<CredentialFileException>(() => Store().StoreAsync("quay.io", RegistryCredential.FromUsernamePassword("u", "p")));
        _home.Write(".docker/config.json", """{"auths": {}, "auths": {}}""");
        await Assert.ThrowsAsync<CredentialFileException>(() => Store().StoreAsync("quay.io", RegistryCredential.FromUsernamePassword("u", "p")));
        _home.Write(".docker/config.json", """{"auths": 3}""");
        await Assert.ThrowsAsync<CredentialFileException>(() => Store().EraseAsync("quay.io"));
    }

    [Fact]
    public async Task Arguments_are_checked()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store().StoreAsync("", RegistryCredential.FromRegistryToken("t")));
        await Assert.ThrowsAsync<ArgumentNullException>(() => Store().StoreAsync("ghcr.io", null!));
        await Assert.ThrowsAsync<ArgumentException>(() => Store().EraseAsync(""));
    }

    private static readonly Arbitrary<string> Secrets =
        (from chars in Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_.!%\"\\{}:".ToCharArray()))
         let s = new string(chars)
         where s.Length >= 4
         select "Zq9" + s).ToArbitrary();

    // Every way a file can go wrong around a secret: no exception message or ToString may carry it, in any encoding.
    [Property(MaxTest = 60)]
    public Property Errors_about_malformed_files_never_carry_the_secret()
        => Prop.ForAll(Secrets, secret =>
        {
            using var home = new TempHome();
            var quoted = JsonSerializer.Serialize(secret);
            var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(secret));
            string[] files =
            [
                "{\"auths\":{\"ghcr.io\":{\"auth\":" + quoted + "}}}",
                "{\"auths\":{\"ghcr.io\":{\"auth\":\"" + base64 + "\"}}}",
                "{\"auths\":{\"ghcr.io\":{\"password\":" + quoted + "}}}",
                "{\"auths\":{\"ghcr.io\":{\"auth\":\"" + TempHome.Auth("u", secret) + "\", \"x\": " + secret + " }}}",
                "{\"auths\":{\"ghcr.io\":{\"identitytoken\":" + quoted + ", \"registrytoken\": [" + quoted + "]}}}",
                "{\"auths\":{\"ghcr.io\":{\"auth\":\"" + secret,
            ];
            foreach (var content in files)
            {
                home.Write(".docker/config.json", content);
                try
                {
                    _ = home.Resolver().ResolveAsync("ghcr.io").GetAwaiter().GetResult();
                }
                catch (OciException e)
                {
                    if (Leaks(e.ToString(), secret, base64, quoted))
                    {
                        return false;
                    }
                }
            }

            return true;
        });

    private static bool Leaks(string text, params string[] secrets) => secrets.Any(s => text.Contains(s, StringComparison.Ordinal));
}
