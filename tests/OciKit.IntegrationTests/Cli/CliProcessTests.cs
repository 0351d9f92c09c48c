using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>The CLI as a real process, as the README runs it: exit codes, stdout and the store environment variable.</summary>
[Collection(RegistryCollection.Name)]
public class CliProcessTests(RegistryFixture fixture)
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    [Fact]
    public async Task The_process_pulls_lists_and_fails_with_the_documented_exit_codes()
    {
        using var dir = new TempDir();
        var environment = new Dictionary<string, string?>
        {
            ["OCIKIT_STORE"] = dir.Combine("store"),
            ["DOCKER_CONFIG"] = dir.Combine("docker"),
            ["HOME"] = dir.Path,
        };

        var pull = await Tool.RunCheckedAsync("dotnet", [Cli, "pull", fixture.BaseImage], environment);
        Assert.Equal(fixture.BaseDigest, pull.StdOut.TrimEnd('\n').Split('\n')[^1]);
        Assert.True(File.Exists(dir.Combine("store", "index.json")));

        var images = await Tool.RunCheckedAsync("dotnet", [Cli, "images"], environment);
        Assert.Contains($"{fixture.Registry.Host}/{RegistryFixture.BaseRepository}", images.StdOut, StringComparison.Ordinal);

        var bad = await Tool.RunAsync("dotnet", [Cli, "copy", "only-one-argument"], environment);
        Assert.Equal(1, bad.ExitCode);
        Assert.Single(bad.StdErr.TrimEnd('\n').Split('\n'));

        var unreachable = await Tool.RunAsync("dotnet", [Cli, "pull", "127.0.0.1:9/nothing:1"], environment);
        Assert.Equal(2, unreachable.ExitCode);
    }
}
