using OciKit.IntegrationTests.Harness;
using OciKit.Testing;

namespace OciKit.IntegrationTests.Build;

/// <summary>The README's first command as a real process: <c>ocikit build samples/hello -t hello:latest</c>.</summary>
public class BuildCommandTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    [Fact]
    public async Task Building_the_sample_prints_the_digest_last_and_a_rebuild_gives_the_same_one()
    {
        using var dir = new TempDir();
        var environment = new Dictionary<string, string?> { ["OCIKIT_STORE"] = dir.Combine("store"), ["HOME"] = dir.Path };
        var sample = TestPaths.InRepo("samples", "hello");

        var first = await Tool.RunCheckedAsync("dotnet", [Cli, "build", sample, "-t", "hello:latest"], environment);
        var digest = first.StdOut.TrimEnd('\n').Split('\n')[^1];
        Assert.Matches("^sha256:[0-9a-f]{64}$", digest);
        Assert.Contains("hello:latest", await File.ReadAllTextAsync(dir.Combine("store", "index.json")), StringComparison.Ordinal);

        var second = await Tool.RunCheckedAsync("dotnet", [Cli, "build", sample, "-t", "hello:latest"], environment);
        Assert.Equal(digest, second.StdOut.TrimEnd('\n').Split('\n')[^1]);
        Assert.Contains("(cached)", second.StdErr, StringComparison.Ordinal);

        // RUN without --skip-run: exit code 1 and one line naming the Dockerfile line.
        var context = dir.Combine("ctx");
        Directory.CreateDirectory(context);
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM scratch\nRUN make\n");
        var failed = await Tool.RunAsync("dotnet", [Cli, "build", context], environment);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("Dockerfile:2:", failed.StdErr, StringComparison.Ordinal);
    }
}
