using System.Text;
using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary><c>login</c>/<c>logout</c> against a Basic-auth TLS registry; the stored file is Docker's shape, which skopeo reads.</summary>
public class CliLoginTests
{
    [Fact]
    public async Task Login_stores_a_docker_config_that_push_and_skopeo_use_and_logout_erases_it()
    {
        await using var registry = await RegistryServer.StartBasicTlsAsync();
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var insecure = new[] { "--insecure-registry", registry.Host };
        var layout = dir.Combine("busybox");
        var digest = BusyboxImage.WriteOciLayout(layout);
        string[] push = [.. insecure, "copy", "-q", $"oci:{layout}:latest", $"{registry.Host}/login/busybox:1"];

        // Without credentials the registry refuses: exit 2, one line.
        (await cli.RunAsync(push)).FailedWith(2, registry.Host);

        // A wrong password is refused, stores nothing and is never printed.
        var wrong = await cli.RunWithInputAsync("wrong-password-123\n", [.. insecure, "login", registry.Host, "-u", RegistryServer.User, "--password-stdin"]);
        wrong.FailedWith(2, registry.Host);
        Assert.DoesNotContain("wrong-password-123", wrong.StdErr + wrong.StdOut, StringComparison.Ordinal);
        Assert.False(File.Exists(cli.AuthFile));

        var login = (await cli.RunWithInputAsync(RegistryServer.Password + "\n", [.. insecure, "login", registry.Host, "-u", RegistryServer.User, "--password-stdin"])).Succeeded();
        Assert.Equal("Login Succeeded", login.LastLine);
        Assert.DoesNotContain(RegistryServer.Password, login.StdOut + login.StdErr, StringComparison.Ordinal);

        // The standard shape: {"auths":{"host:port":{"auth":"base64(user:password)"}}}.
        using (var config = JsonDocument.Parse(await File.ReadAllTextAsync(cli.AuthFile)))
        {
            var entry = config.RootElement.GetProperty("auths").GetProperty(registry.Host);
            Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}")), entry.GetProperty("auth").GetString());
        }

        Assert.Equal(digest + "\n", (await cli.RunAsync(push)).Succeeded().StdOut);
        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", "--authfile", cli.AuthFile, $"docker://{registry.Host}/login/busybox:1"]);
        Assert.Equal(digest, JsonDocument.Parse(inspect.StdOut).RootElement.GetProperty("Digest").GetString());

        (await cli.RunAsync("logout", registry.Host)).Succeeded();
        using (var config = JsonDocument.Parse(await File.ReadAllTextAsync(cli.AuthFile)))
        {
            Assert.False(config.RootElement.GetProperty("auths").TryGetProperty(registry.Host, out _));
        }

        (await cli.RunAsync([.. insecure, "digest", "--remote", $"{registry.Host}/login/busybox:1"])).FailedWith(2, registry.Host);
    }
}

/// <summary>The CLI on a registry with Docker Hub-style token auth: no password or issued token ever reaches its output.</summary>
public class CliTokenSecretsTests
{
    [Fact]
    public async Task Token_auth_refusals_print_neither_the_password_nor_any_issued_token_even_verbose()
    {
        // The user may pull and push only under ok/; anything else is refused with a token for less than asked.
        await using var registry = await RegistryServer.StartTokenAsync((user, access) =>
            user == RegistryServer.User && access.Name.StartsWith("ok/", StringComparison.Ordinal) ? ["pull", "push"] : ["pull"]);
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var layout = dir.Combine("busybox");
        BusyboxImage.WriteOciLayout(layout);
        (await cli.RunWithInputAsync(RegistryServer.Password + "\n", "login", registry.Host, "-u", RegistryServer.User, "--password-stdin")).Succeeded();

        var pushed = (await cli.RunAsync("copy", "-q", $"oci:{layout}:latest", $"{registry.Host}/ok/busybox:1")).Succeeded();
        var refused = await cli.RunAsync("copy", "-q", $"oci:{layout}:latest", $"{registry.Host}/denied/busybox:1");
        refused.FailedWith(2, registry.Host);
        var verbose = await cli.RunAsync("--verbose", "copy", "-q", $"oci:{layout}:latest", $"{registry.Host}/denied/busybox:1");
        Assert.Equal(2, verbose.ExitCode);

        var issued = registry.TokenServer!.IssuedSecrets;
        Assert.NotEmpty(issued);
        foreach (var output in new[] { pushed, refused, verbose })
        {
            var text = output.StdOut + output.StdErr;
            Assert.DoesNotContain(RegistryServer.Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}")), text, StringComparison.Ordinal);
            foreach (var secret in issued)
            {
                Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            }

            Assert.DoesNotMatch(@"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]{16,}", text);
        }
    }
}
