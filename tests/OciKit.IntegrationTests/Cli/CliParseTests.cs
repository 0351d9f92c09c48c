using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>
/// <c>ocikit parse</c>: any file the parser accepts prints its tree; what a build would reject is a warning with its
/// location on standard error (exit 0), an error with <c>--check</c> (exit 1); a syntax error is always an error.
/// </summary>
public class CliParseTests
{
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static async Task<CliResult> ParseFileAsync(TempDir dir, string text, params string[] options)
    {
        var path = dir.Combine("Dockerfile");
        await File.WriteAllTextAsync(path, text);
        return await new CliRun(dir).RunAsync(["parse", "-f", path, .. options]);
    }

    [Fact]
    public async Task A_fragment_without_from_prints_its_tree_and_warns()
    {
        using var dir = new TempDir();
        var path = dir.Combine("Dockerfile");
        var result = (await ParseFileAsync(dir, "RUN apt-get update\nCOPY . /app\n")).Succeeded();
        Assert.Equal(["escape \\", "1       RUN [apt-get update]", "2       COPY [.] [/app]"], Lines(result.StdOut));
        Assert.Equal([$"{path}:1:1: warning: no build stage in current context"], Lines(result.StdErr));
    }

    [Fact]
    public async Task A_bare_healthcheck_prints_its_tree_and_warns()
    {
        using var dir = new TempDir();
        var path = dir.Combine("Dockerfile");
        var result = (await ParseFileAsync(dir, "FROM a\nHEALTHCHECK\n")).Succeeded();
        Assert.Equal(["escape \\", "1       FROM [a]", "2       HEALTHCHECK"], Lines(result.StdOut));
        Assert.Equal([$"{path}:2:1: warning: HEALTHCHECK requires at least one argument"], Lines(result.StdErr));
    }

    [Fact]
    public async Task Instructions_before_from_and_unknown_flags_warn_with_line_and_column()
    {
        using var dir = new TempDir();
        var result = (await new CliRun(dir).RunWithInputAsync("ARG V\nWORKDIR /w\nFROM a\nCOPY --bogus x y\n", "parse", "-f", "-")).Succeeded();
        Assert.Equal(
            ["escape \\", "1       ARG [V]", "2       WORKDIR [/w]", "3       FROM [a]", "4       COPY --bogus [x] [y]"],
            Lines(result.StdOut));
        Assert.Equal(
            ["<stdin>:2:1: warning: no build stage in current context", "<stdin>:4:6: warning: unknown flag: --bogus"],
            Lines(result.StdErr));
    }

    [Fact]
    public async Task Check_makes_the_warnings_errors()
    {
        using var dir = new TempDir();
        var path = dir.Combine("Dockerfile");
        var result = await ParseFileAsync(dir, "RUN x\nFROM a\nHEALTHCHECK\n", "--check");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.StdOut);
        Assert.Equal(
            [$"{path}:1:1: no build stage in current context", $"{path}:3:1: HEALTHCHECK requires at least one argument"],
            Lines(result.StdErr));

        // A file a build accepts passes the check silently.
        var clean = (await ParseFileAsync(dir, "FROM a\nHEALTHCHECK CMD true\n", "--check")).Succeeded();
        Assert.Equal("", clean.StdErr);
        Assert.Equal(3, Lines(clean.StdOut).Length);
    }

    [Fact]
    public async Task Json_output_holds_only_the_tree_and_warnings_stay_on_stderr()
    {
        using var dir = new TempDir();
        var result = (await new CliRun(dir).RunWithInputAsync("HEALTHCHECK\n", "parse", "--json", "-f", "-")).Succeeded();
        using var json = JsonDocument.Parse(result.StdOut);
        var node = Assert.Single(json.RootElement.GetProperty("instructions").EnumerateArray());
        Assert.Equal("healthcheck", node.GetProperty("keyword").GetString());
        Assert.Equal(
            ["<stdin>:1:1: warning: HEALTHCHECK requires at least one argument", "<stdin>:1:1: warning: the Dockerfile has no FROM instruction"],
            Lines(result.StdErr));
    }

    [Theory]
    [InlineData("FROM a\nRUN <<EOF\necho\n", ":2:1: unterminated heredoc EOF")]
    [InlineData("# escape=x\nFROM a\n", ":1:1: invalid escape token 'x' does not match ` or \\")]
    [InlineData("FROM a\nCMD [1]\n", ":2:5: when using JSON array syntax, arrays must be comprised of strings only")]
    public async Task Syntax_errors_fail_without_check(string text, string error)
    {
        using var dir = new TempDir();
        var path = dir.Combine("Dockerfile");
        var result = await ParseFileAsync(dir, text);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.StdOut);
        Assert.Equal([path + error], Lines(result.StdErr));
    }
}
