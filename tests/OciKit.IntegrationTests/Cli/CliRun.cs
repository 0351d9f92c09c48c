using OciKit.Cli;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>What one in-process run of the CLI printed and returned.</summary>
public sealed record CliResult(int ExitCode, string StdOut, string StdErr)
{
    /// <summary>The last line of standard output (where commands print their result, such as a digest).</summary>
    public string LastLine => StdOut.TrimEnd('\n').Split('\n')[^1];

    /// <summary>Fails with everything printed unless the run succeeded.</summary>
    public CliResult Succeeded()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}\nstdout: {StdOut}\nstderr: {StdErr}");
        return this;
    }

    /// <summary>Checks the exit code and that the error is exactly one line, naming the problem.</summary>
    public void FailedWith(int exitCode, string contains)
    {
        Assert.True(ExitCode == exitCode, $"expected exit {exitCode}, got {ExitCode}\nstdout: {StdOut}\nstderr: {StdErr}");
        var lines = StdErr.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("ocikit: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(contains, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", StdErr, StringComparison.Ordinal);
    }
}

/// <summary>Runs the CLI in-process against a private store and credentials file, so runs never touch the user's.</summary>
public sealed class CliRun(TempDir dir)
{
    public string Store => dir.Combine("store");

    public string AuthFile => dir.Combine("auth", "config.json");

    public async Task<CliResult> RunWithInputAsync(string? stdin, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin ?? string.Empty);
        string[] all = ["--store", Store, "--authfile", AuthFile, .. args];
        var code = await CliApp.RunAsync(all, stdout, stderr, input);
        return new CliResult(code, stdout.ToString().Replace("\r\n", "\n", StringComparison.Ordinal), stderr.ToString().Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    public Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync(null, args);
}
