using OciKit.Dockerfile;

namespace OciKit.Tests.Dockerfile;

/// <summary>
/// <see cref="ParsedDockerfile.Analyze(string, string)"/>: any file BuildKit's parser accepts gives a tree, and what
/// building typed instructions rejects comes back as diagnostics instead of an exception.
/// </summary>
public class DockerfileAnalysisTests
{
    private static string[] Messages(DockerfileAnalysis analysis) => [.. analysis.Diagnostics.Select(d => d.Message)];

    [Fact]
    public void A_fragment_without_from_gives_its_tree_and_one_diagnostic()
    {
        var analysis = ParsedDockerfile.Analyze("RUN apt-get update\nCOPY . /app\nENV A=1\n", "frag");
        Assert.Equal(["run", "copy", "env"], analysis.Syntax.Instructions.Select(n => n.Keyword).ToArray());
        Assert.Equal(["frag:1:1: no build stage in current context"], Messages(analysis));
        Assert.Null(analysis.Dockerfile);
        var diagnostic = Assert.Single(analysis.Diagnostics);
        Assert.Equal(new DockerfileDiagnostic("frag", 1, 1, "no build stage in current context"), diagnostic);
        Assert.Equal(diagnostic.Message, diagnostic.ToException().Message);
    }

    [Fact]
    public void A_bare_healthcheck_parses_and_is_reported_at_its_line()
    {
        var analysis = ParsedDockerfile.Analyze("FROM a\n  HEALTHCHECK\nRUN x\n");
        var node = analysis.Syntax.Instructions[1];
        Assert.Equal(("healthcheck", 0, 2), (node.Keyword, node.Args.Length, node.StartLine));
        Assert.Equal(["Dockerfile:2:3: HEALTHCHECK requires at least one argument"], Messages(analysis));
    }

    [Fact]
    public void Instructions_before_from_are_reported_once_and_global_args_are_not()
    {
        var analysis = ParsedDockerfile.Analyze("ARG V=1\nLABEL a=b\nRUN x\nFROM img:${V}\nRUN y\n");
        Assert.Equal(5, analysis.Syntax.Instructions.Length);
        Assert.Equal(["Dockerfile:2:1: no build stage in current context"], Messages(analysis));
    }

    [Fact]
    public void Every_instruction_gets_its_first_problem_with_line_and_column()
    {
        var analysis = ParsedDockerfile.Analyze("FROM a\nCOPY --bogus x y\nFROBNICATE z\nRUN --network=moon x\nEXPOSE\nSHELL sh -c\n");
        Assert.Equal(
            [
                "Dockerfile:2:6: unknown flag: --bogus",
                "Dockerfile:3:1: unknown instruction: FROBNICATE",
                "Dockerfile:4:1: unsupported network mode \"moon\"",
                "Dockerfile:5:1: EXPOSE requires at least one argument",
                "Dockerfile:6:1: SHELL requires the arguments to be in JSON form",
            ],
            Messages(analysis));
        Assert.Equal(6, analysis.Syntax.Instructions.Length);
    }

    [Fact]
    public void A_from_that_cannot_be_built_still_opens_a_stage()
    {
        var analysis = ParsedDockerfile.Analyze("FROM a b\nRUN x\n");
        Assert.Equal(["Dockerfile:1:1: FROM requires either one or three arguments"], Messages(analysis));
    }

    [Fact]
    public void Only_global_args_is_reported_as_no_from()
    {
        var analysis = ParsedDockerfile.Analyze("# a comment\nARG A=1\nARG B\n");
        Assert.Equal(["Dockerfile:2:1: the Dockerfile has no FROM instruction"], Messages(analysis));
        // The typed step itself accepts it (the build is what rejects a file without a stage).
        Assert.Empty(analysis.Dockerfile!.Stages);
        Assert.Equal(2, analysis.Dockerfile.GlobalArgs.Length);
    }

    [Fact]
    public void A_valid_file_has_no_diagnostics_and_the_same_instructions_as_parse()
    {
        const string Text = "ARG V=1\nFROM a AS b\nHEALTHCHECK --interval=5s CMD true\nCOPY --from=b x y\n";
        var analysis = ParsedDockerfile.Analyze(Text);
        Assert.Empty(analysis.Diagnostics);
        var parsed = ParsedDockerfile.Parse(Text);
        var stage = analysis.Dockerfile!.Stages.Single();
        Assert.Equal(("b", "a"), (stage.Name, stage.From.Image));
        Assert.Equal(
            parsed.Stages.Single().Instructions.Select(i => (i.GetType(), i.Original)),
            stage.Instructions.Select(i => (i.GetType(), i.Original)));
        var healthcheck = Assert.IsType<HealthcheckInstruction>(stage.Instructions[0]);
        Assert.Equal(["CMD-SHELL", "true"], healthcheck.Test.ToArray());
        Assert.Equal(TimeSpan.FromSeconds(5), healthcheck.Interval);
        Assert.Equal("V", Assert.Single(analysis.Dockerfile.GlobalArgs).Args.Single().Name);
        Assert.Equal(parsed.Syntax, analysis.Syntax);
    }

    [Fact]
    public void The_build_step_still_throws_what_analysis_reports_first()
    {
        const string Text = "HEALTHCHECK\nRUN x\nFROM a\nCOPY --bogus a b\n";
        var error = Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Parse(Text));
        var analysis = ParsedDockerfile.Analyze(Text);
        Assert.Equal(error.Message, analysis.Diagnostics[0].Message);
        Assert.Equal(
            ["Dockerfile:1:1: HEALTHCHECK requires at least one argument", "Dockerfile:2:1: no build stage in current context", "Dockerfile:4:6: unknown flag: --bogus"],
            Messages(analysis));
    }

    [Theory]
    [InlineData("FROM a\nRUN <<EOF\nx\n", "Dockerfile:2:1: unterminated heredoc EOF")]
    [InlineData("# escape=x\nFROM a\n", "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\")]
    [InlineData("FROM a\nCMD [\"a\", 1]\n", "Dockerfile:2:5: when using JSON array syntax, arrays must be comprised of strings only")]
    [InlineData("ENV A\n", "Dockerfile:1:5: ENV must have two arguments")]
    [InlineData("# only a comment\n", "Dockerfile:1:1: file with no instructions")]
    public void Syntax_errors_are_still_thrown(string text, string message)
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Analyze(text));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => ParsedDockerfile.Analyze((string)null!));
        Assert.Throws<ArgumentNullException>(() => ParsedDockerfile.Analyze((DockerfileSyntaxTree)null!));
        Assert.Throws<ArgumentNullException>(() => ParsedDockerfile.Analyze(DockerfileSyntaxTree.Parse("FROM a\n"), null!));
    }
}
