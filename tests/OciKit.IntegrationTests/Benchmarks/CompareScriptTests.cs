using OciKit.IntegrationTests.Harness;
using OciKit.Testing;

namespace OciKit.IntegrationTests.Benchmarks;

/// <summary>
/// benchmarks/compare.sh's table formatting, through its <c>--selftest</c> (fixed medians, no build and no measuring):
/// a container step MSBuild skipped as up to date is reported as skipped, ∞, target met.
/// </summary>
public class CompareScriptTests
{
    [Fact]
    public async Task Selftest_of_the_table_formatting_passes()
    {
        var script = TestPaths.InRepo("benchmarks", "compare.sh");
        var result = await Tool.RunAsync("bash", [script, "--selftest"]);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout: {result.StdOut}\nstderr: {result.StdErr}");
        Assert.Equal("compare.sh selftest: passed\n", result.StdOut);
        Assert.Equal("", result.StdErr);
    }
}
