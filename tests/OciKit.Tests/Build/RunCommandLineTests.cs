using OciKit.Build;
using OciKit.Dockerfile;

namespace OciKit.Tests.Build;

/// <summary>RUN's argv and history text, as BuildKit's Dockerfile frontend forms them.</summary>
public sealed class RunCommandLineTests
{
    private static readonly string[] Sh = ["/bin/sh", "-c"];

    private static RunInstruction Run(string dockerfile) =>
        (RunInstruction)ParsedDockerfile.Parse("FROM scratch\n" + dockerfile, "Dockerfile").Stages[0].Instructions[0];

    [Fact]
    public void Shell_form_runs_through_the_shell_as_one_argument()
    {
        var args = RunCommandLine.Args(Run("RUN echo  hi && ls"), Sh, out var script);
        Assert.Equal(["/bin/sh", "-c", "echo  hi && ls"], args);
        Assert.Null(script);
    }

    [Fact]
    public void Shell_form_uses_the_stage_shell()
    {
        var args = RunCommandLine.Args(Run("RUN echo hi"), ["/bin/bash", "-eu", "-c"], out _);
        Assert.Equal(["/bin/bash", "-eu", "-c", "echo hi"], args);
    }

    [Fact]
    public void Exec_form_runs_without_a_shell()
    {
        var args = RunCommandLine.Args(Run("""RUN ["/bin/echo", "a b", "$HOME"]"""), Sh, out _);
        Assert.Equal(["/bin/echo", "a b", "$HOME"], args);
    }

    [Fact]
    public void A_lone_heredoc_runs_its_body_with_the_shell()
    {
        var args = RunCommandLine.Args(Run("RUN <<EOF\necho one\necho two\nEOF"), Sh, out var script);
        Assert.Equal(["/bin/sh", "-c", "echo one\necho two\n"], args);
        Assert.Null(script);
    }

    [Fact]
    public void A_lone_heredoc_with_a_shebang_runs_as_a_file()
    {
        var args = RunCommandLine.Args(Run("RUN <<'SCRIPT'\n#!/bin/sh -e\necho $0\nSCRIPT"), Sh, out var script);
        Assert.Equal(["/bin/sh", "-c", "/dev/pipes/SCRIPT"], args);
        Assert.Equal(("SCRIPT", "#!/bin/sh -e\necho $0\n"), script);
    }

    [Fact]
    public void A_command_with_heredocs_gets_their_bodies_for_the_shell_to_read()
    {
        var args = RunCommandLine.Args(Run("RUN cat <<A >/a && cat <<-B >/b\nalpha\nA\n\tbeta\n\tB"), Sh, out var script);
        Assert.Equal(["/bin/sh", "-c", "cat <<A >/a && cat <<-B >/b\nalpha\nA\nbeta\nB\n"], args);
        Assert.Null(script);
    }

    [Fact]
    public void History_shows_the_command_as_BuildKit_does()
    {
        Assert.Equal("RUN /bin/sh -c echo hi", RunCommandLine.CreatedBy(["/bin/sh", "-c", "echo hi"], []));
        Assert.Equal("RUN /bin/echo a b", RunCommandLine.CreatedBy(["/bin/echo", "a", "b"], []));
    }

    [Fact]
    public void History_lists_the_build_arguments_in_scope_with_their_values()
    {
        var text = RunCommandLine.CreatedBy(["/bin/sh", "-c", "make"], [new("VERSION", "1.2"), new("EMPTY", "")]);
        Assert.Equal("RUN |2 VERSION=1.2 EMPTY= /bin/sh -c make", text);
    }
}
