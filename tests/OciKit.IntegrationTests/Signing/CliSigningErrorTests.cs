using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Signing;

/// <summary><c>ocikit key</c>, <c>sign</c> and <c>verify</c> in the help, and failing: one line naming what is wrong, exit 1, never a secret.</summary>
[Collection(RegistryCollection.Name)]
public class CliSigningErrorTests(RegistryFixture fixture)
{
    [Fact]
    public async Task Help_lists_the_signing_verbs()
    {
        using var dir = new TempDir();
        var help = (await new CliRun(dir).RunAsync("--help")).Succeeded().StdOut;
        foreach (var verb in new[] { "key", "sign", "verify" })
        {
            Assert.Matches($"(?m)^  {verb}\\b", help);
        }

        var key = (await new CliRun(dir).RunAsync("key", "generate", "--help")).Succeeded().StdOut;
        Assert.Contains("ed25519", key, StringComparison.Ordinal);
        Assert.Contains("--passphrase-env", key, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unset_passphrase_variable_is_named_and_nothing_is_written()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var variable = "OCIKIT_TEST_UNSET_" + Guid.NewGuid().ToString("N");
        (await cli.RunAsync("key", "generate", "--out", dir.Combine("k"), "--passphrase-env", variable)).FailedWith(1, variable);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task A_wrong_passphrase_fails_signing_without_echoing_either_passphrase()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var right = "OCIKIT_TEST_RIGHT_" + Guid.NewGuid().ToString("N");
        var wrong = "OCIKIT_TEST_WRONG_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(right, "the-right-one");
        Environment.SetEnvironmentVariable(wrong, "the-wrong-one");
        try
        {
            (await cli.RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("k"), "--passphrase-env", right)).Succeeded();
            var result = await cli.RunAsync("sign", "--key", dir.Combine("k.key"), "--passphrase-env", wrong, fixture.BaseImage);
            result.FailedWith(1, "the passphrase is wrong");
            Assert.DoesNotContain("the-right-one", result.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("the-wrong-one", result.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(right, null);
            Environment.SetEnvironmentVariable(wrong, null);
        }
    }

    [Fact]
    public async Task A_corrupt_public_key_and_an_unsigned_image_are_typed_errors()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        await File.WriteAllTextAsync(dir.Combine("bad.pub"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
        (await cli.RunAsync("verify", "--key", dir.Combine("bad.pub"), fixture.BaseImage)).FailedWith(1, $"Unusable key {dir.Combine("bad.pub")}");

        (await cli.RunAsync("key", "generate", "--out", dir.Combine("k"))).Succeeded();
        await BusyboxImage.PushAsync(fixture.Registry, "signing/unsigned", "v1");
        (await cli.RunAsync("verify", "--key", dir.Combine("k.pub"), $"{fixture.Registry.Host}/signing/unsigned:v1")).FailedWith(1, "it has no signatures");
    }
}
