using System.Text.Json.Nodes;
using OciKit.Dockerfile;
using OciKit.Testing;

namespace OciKit.Tests.Dockerfile;

/// <summary>
/// Folders of <c>Dockerfile</c> plus <c>expected.json</c> (the syntax tree) or <c>expected.error</c>
/// (<c>FILE:LINE:COL: message</c>), read in place, as BuildKit's frontend tests its parser.
/// </summary>
public class DockerfileDataTests
{
    private static readonly string DataDirectory = TestPaths.InRepo("tests", "OciKit.Tests", "Dockerfile", "Data");

    public static TheoryData<string> Cases()
    {
        var cases = new TheoryData<string>();
        foreach (var directory in Directory.GetDirectories(DataDirectory).Order(StringComparer.Ordinal))
        {
            cases.Add(Path.GetFileName(directory));
        }

        return cases;
    }

    [Fact]
    public void There_are_at_least_thirty_well_formed_cases()
    {
        var valid = Directory.GetDirectories(DataDirectory).Count(d => File.Exists(Path.Combine(d, "expected.json")));
        Assert.True(valid >= 30, $"only {valid} cases with an expected tree");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parses_as_expected(string name)
    {
        var directory = Path.Combine(DataDirectory, name);
        var text = File.ReadAllText(Path.Combine(directory, "Dockerfile"));
        var expectedError = Path.Combine(directory, "expected.error");
        var expectedJson = Path.Combine(directory, "expected.json");
        if (File.Exists(expectedError))
        {
            var error = Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Parse(text, "Dockerfile"));
            Assert.Equal(File.ReadAllText(expectedError).TrimEnd('\n'), error.Message);
            return;
        }

        var parsed = ParsedDockerfile.Parse(text, "Dockerfile");
        var actual = parsed.Syntax.ToJson();
        if (Environment.GetEnvironmentVariable("OCIKIT_UPDATE_EXPECTED") == "1")
        {
            File.WriteAllText(expectedJson, actual + "\n");
        }

        Assert.True(File.Exists(expectedJson), $"{name} has neither expected.json nor expected.error");
        var expected = JsonNode.Parse(File.ReadAllText(expectedJson));
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(actual)), $"{name}: got\n{actual}");

        // The printer's output parses back to the same tree, line numbers aside.
        var reparsed = DockerfileSyntaxTree.Parse(parsed.Syntax.Format());
        Assert.Equal(TreeShape.Of(parsed.Syntax), TreeShape.Of(reparsed));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Analysis_reports_first_what_the_build_step_throws(string name)
    {
        var directory = Path.Combine(DataDirectory, name);
        var text = File.ReadAllText(Path.Combine(directory, "Dockerfile"));
        var expectedError = Path.Combine(directory, "expected.error");
        if (!File.Exists(expectedError))
        {
            var analysis = ParsedDockerfile.Analyze(text, "Dockerfile");
            Assert.Empty(analysis.Diagnostics.Where(d => d.Problem != "the Dockerfile has no FROM instruction"));
            Assert.NotNull(analysis.Dockerfile);
            return;
        }

        // A syntax error is thrown by the parser; anything else gives a tree, with the same message first.
        var expected = File.ReadAllText(expectedError).TrimEnd('\n');
        if (!DockerfileSyntaxTree.TryParse(text, out var tree, out var syntaxError, "Dockerfile"))
        {
            Assert.Equal(expected, syntaxError!.Message);
            Assert.Equal(expected, Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Analyze(text, "Dockerfile")).Message);
            return;
        }

        var diagnostics = ParsedDockerfile.Analyze(tree, "Dockerfile").Diagnostics;
        Assert.NotEmpty(diagnostics);
        Assert.Equal(expected, diagnostics[0].Message);
    }
}
