using OciKit.Dockerfile;

namespace OciKit.Tests.Dockerfile;

public class ParsedDockerfileTests
{
    private static Instruction Only(string line) => ParsedDockerfile.Parse("FROM a\n" + line + "\n").Stages.Single().Instructions.Single();

    private static string ProblemOf(string text) =>
        Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Parse(text)).Problem;

    [Fact]
    public void Global_args_and_stages()
    {
        var parsed = ParsedDockerfile.Parse("ARG V=1\nFROM --platform=linux/arm64 img:${V} AS Build\nRUN x\nFROM build\nCOPY --from=build /a /b\n");
        var arg = Assert.Single(parsed.GlobalArgs);
        Assert.Equal([new ArgDeclaration("V", "1")], arg.Args.ToArray());
        Assert.Equal(2, parsed.Stages.Length);
        Assert.Equal(new FromInstruction("img:${V}", "linux/arm64", "build") { StartLine = 2, EndLine = 2, Original = "FROM --platform=linux/arm64 img:${V} AS Build" }, parsed.Stages[0].From);
        Assert.Equal(("build", 0), (parsed.Stages[0].Name, parsed.Stages[0].Index));
        Assert.Equal((null, 1), (parsed.Stages[1].Name, parsed.Stages[1].Index));
        Assert.Same(parsed.Stages[0], parsed.FindStage("BUILD"));
        Assert.IsType<CopyInstruction>(parsed.Stages[1].Instructions.Single());
    }

    [Fact]
    public void Copy_flags_and_heredoc_sources()
    {
        var copy = Assert.IsType<CopyInstruction>(ParsedDockerfile.Parse(
            "FROM a\nCOPY --from=b --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x <<EOF s1 /d/\nhi\nEOF\n")
            .Stages[0].Instructions[0]);
        Assert.Equal(["s1"], copy.Sources.ToArray());
        Assert.Equal([new HeredocSource("EOF", "hi\n", true)], copy.HeredocSources.ToArray());
        Assert.Equal("/d/", copy.Destination);
        Assert.Equal(("b", "1:2", "755", true, true), (copy.From, copy.Chown, copy.Chmod, copy.Link, copy.Parents));
        Assert.Equal(["*.md", "x"], copy.Exclude.ToArray());
    }

    [Fact]
    public void Add_flags()
    {
        var add = Assert.IsType<AddInstruction>(Only("ADD --checksum=sha256:abc --keep-git-dir --unpack=false --link=false --chown=u --chmod=600 --exclude=e https://x/y.tgz /z"));
        Assert.Equal(("sha256:abc", true, false, false, "u", "600"), (add.Checksum, add.KeepGitDir, add.Unpack, add.Link, add.Chown, add.Chmod));
        Assert.Equal(["e"], add.Exclude.ToArray());
        Assert.Equal(["https://x/y.tgz"], add.Sources.ToArray());
        Assert.Equal("unknown flag: --from", ProblemOf("FROM a\nADD --from=b x y\n"));
    }

    [Fact]
    public void Env_label_and_arg_keep_values_unexpanded()
    {
        Assert.Equal([new NameValue("A", "$B"), new NameValue("C", "\"d e\"")], ((EnvInstruction)Only("ENV A=$B C=\"d e\"")).Variables.ToArray());
        Assert.Equal([new NameValue("k", "v w")], ((LabelInstruction)Only("LABEL k v w")).Labels.ToArray());
        Assert.Equal([new ArgDeclaration("x", null), new ArgDeclaration("y", "")], ((ArgInstruction)Only("ARG x y=")).Args.ToArray());
    }

    [Fact]
    public void Simple_instructions()
    {
        Assert.Equal("/app", ((WorkdirInstruction)Only("WORKDIR /app")).Path);
        Assert.Equal("u:g", ((UserInstruction)Only("USER u:g")).User);
        Assert.Equal("SIGINT", ((StopSignalInstruction)Only("STOPSIGNAL SIGINT")).Signal);
        Assert.Equal("me", ((MaintainerInstruction)Only("MAINTAINER me")).Maintainer);
        Assert.Equal(["53/udp", "80"], ((ExposeInstruction)Only("EXPOSE 80 53/udp")).Ports.ToArray());
        Assert.Equal(["/v", "/w"], ((VolumeInstruction)Only("VOLUME [\"/v\", \"/w\"]")).Paths.ToArray());
        Assert.Equal(["bash", "-c"], ((ShellInstruction)Only("SHELL [\"bash\", \"-c\"]")).Shell.ToArray());
    }

    [Fact]
    public void Commands_remember_their_form()
    {
        var cmd = (CmdInstruction)Only("CMD echo hi");
        Assert.Equal(["echo hi"], cmd.Command.ToArray());
        Assert.True(cmd.PrependShell);
        var entrypoint = (EntrypointInstruction)Only("ENTRYPOINT [\"/bin/app\"]");
        Assert.Equal(["/bin/app"], entrypoint.Command.ToArray());
        Assert.False(entrypoint.PrependShell);
    }

    [Fact]
    public void Run_mounts_network_and_security()
    {
        var run = (RunInstruction)Only("RUN --mount=type=cache,target=/c,sharing=locked --mount=target=/src,ro --network=none --security=sandbox make");
        Assert.Equal(["cache", "bind"], run.Mounts.Select(m => m.Type).ToArray());
        Assert.Equal("/c", run.Mounts[0].Get("target"));
        Assert.Equal("locked", run.Mounts[0].Get("sharing"));
        Assert.Null(run.Mounts[1].Get("ro"));
        Assert.Contains(run.Mounts[1].Options, o => o.Key == "ro");
        Assert.Equal(("none", "sandbox"), (run.Network, run.Security));
        Assert.Equal(["make"], run.Command.ToArray());
    }

    [Theory]
    [InlineData("RUN --mount=type=nfs,target=/x a", "unsupported mount type \"nfs\"")]
    [InlineData("RUN --mount=type=bind,colour=red a", "unexpected key 'colour' in 'colour=red'")]
    [InlineData("RUN --network=bridge a", "unsupported network mode \"bridge\"")]
    [InlineData("RUN --security=root a", "unsupported security mode \"root\"")]
    [InlineData("RUN --mount a", "missing a value on flag: --mount")]
    [InlineData("RUN --mount=type=cache,target a", "invalid field 'target' must be a key=value pair")]
    [InlineData("RUN --mount=from=$STAGE,target=/x a", "'from' doesn't support variable expansion, define alias stage instead")]
    public void Run_flag_errors(string line, string problem) => Assert.Equal(problem, ProblemOf("FROM a\n" + line + "\n"));

    [Fact]
    public void Healthcheck_variants()
    {
        Assert.True(((HealthcheckInstruction)Only("HEALTHCHECK NONE")).IsNone);
        var shell = (HealthcheckInstruction)Only("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0 --start-interval=1.5s --retries=3 CMD curl x");
        Assert.Equal(["CMD-SHELL", "curl x"], shell.Test.ToArray());
        Assert.Equal(
            (TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500), TimeSpan.Zero, TimeSpan.FromSeconds(1.5), 3),
            (shell.Interval!.Value, shell.Timeout!.Value, shell.StartPeriod!.Value, shell.StartInterval!.Value, shell.Retries!.Value));
        Assert.Equal(["CMD", "a", "b"], ((HealthcheckInstruction)Only("HEALTHCHECK CMD [\"a\", \"b\"]")).Test.ToArray());
    }

    [Theory]
    [InlineData("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments")]
    [InlineData("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD")]
    [InlineData("HEALTHCHECK", "HEALTHCHECK requires at least one argument")]
    [InlineData("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)")]
    [InlineData("HEALTHCHECK --timeout=1us CMD x", "Interval \"timeout\" cannot be less than 1ms")]
    [InlineData("HEALTHCHECK --timeout=-1s CMD x", "Interval \"timeout\" cannot be less than 1ms")]
    [InlineData("HEALTHCHECK --timeout=1 CMD x", "invalid duration \"1\" for --timeout")]
    public void Healthcheck_errors(string line, string problem) => Assert.Equal(problem, ProblemOf("FROM a\n" + line + "\n"));

    [Fact]
    public void Onbuild_keeps_its_expression_and_trigger()
    {
        var onbuild = (OnBuildInstruction)Only("ONBUILD COPY a b");
        Assert.Equal("COPY a b", onbuild.Expression);
        Assert.Equal(["a"], Assert.IsType<CopyInstruction>(onbuild.Trigger).Sources.ToArray());
    }

    [Theory]
    [InlineData("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    [InlineData("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed as an ONBUILD trigger")]
    [InlineData("ONBUILD", "ONBUILD requires at least one argument")]
    [InlineData("ONBUILD BOGUS x", "unknown instruction: BOGUS")]
    public void Onbuild_errors(string line, string problem) => Assert.Equal(problem, ProblemOf("FROM a\n" + line + "\n"));

    [Theory]
    [InlineData("FROM", "FROM requires either one or three arguments")]
    [InlineData("FROM a b c", "FROM requires either one or three arguments")]
    [InlineData("FROM a AS b!", "invalid name for build stage: \"b!\", name can't start with a number or contain symbols")]
    [InlineData("FROM --platform a", "missing a value on flag: --platform")]
    [InlineData("FROM a\nCOPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined")]
    [InlineData("FROM a\nCOPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination")]
    [InlineData("FROM a\nENV", "ENV requires at least one argument")]
    [InlineData("FROM a\nENV =x", "ENV names can not be blank")]
    [InlineData("FROM a\nLABEL", "LABEL requires at least one argument")]
    [InlineData("FROM a\nARG", "ARG requires at least one argument")]
    [InlineData("FROM a\nARG =1", "ARG names can not be blank")]
    [InlineData("FROM a\nARG X=\"1", "unterminated double quote in \"1")]
    [InlineData("FROM a\nLABEL a='b", "unterminated single quote in 'b")]
    [InlineData("FROM a\nUSER", "USER requires exactly one argument")]
    [InlineData("FROM a\nEXPOSE", "EXPOSE requires at least one argument")]
    [InlineData("FROM a\nVOLUME [\"\"]", "VOLUME specified can not be an empty string")]
    [InlineData("FROM a\nSHELL sh -c", "SHELL requires the arguments to be in JSON form")]
    [InlineData("FROM a\nSHELL []", "SHELL requires at least one argument")]
    [InlineData("FROM a\nWORKDIR --x=1 /a", "unknown flag: --x")]
    [InlineData("FROM a\nCOPY --link --link a b", "duplicate flag specified: link")]
    [InlineData("FROM a\nCOPY --link=yes a b", "expecting boolean value for flag link, not: yes")]
    [InlineData("FROM a\nCOPY --chmod a b", "missing a value on flag: --chmod")]
    [InlineData("FROM a\nCOPY --link= a b", "missing a value on flag: --link")]
    [InlineData("FROM a\nCOPY --frm=x a b", "unknown flag: --frm (did you mean --from?)")]
    [InlineData("FROM a\nCOPPY a b", "unknown instruction: COPPY (did you mean COPY?)")]
    [InlineData("FROM a\nexpos 80", "unknown instruction: expos (did you mean expose?)")]
    [InlineData("RUN x", "no build stage in current context")]
    public void Instruction_errors(string text, string problem) => Assert.Equal(problem, ProblemOf(text + "\n"));

    [Fact]
    public void Errors_point_at_the_instruction_or_the_flag()
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Parse("FROM a\nCOPY --link \\\n  --bad=1 a b\n", "df"));
        Assert.Equal("df:3:3: unknown flag: --bad", error.Message);
        error = Assert.Throws<DockerfileSyntaxException>(() => ParsedDockerfile.Parse("FROM a\n\n   USER\n", "df"));
        Assert.Equal("df:3:4: USER requires exactly one argument", error.Message);
    }

    [Fact]
    public void Details_that_follow_buildkit()
    {
        Assert.Equal(["443", "80", "8080/udp"], ((ExposeInstruction)Only("EXPOSE 80 8080/udp 443")).Ports.ToArray());
        Assert.True(((HealthcheckInstruction)Only("HEALTHCHECK --whatever=1 NONE")).IsNone);
        Assert.Equal("9", ((StopSignalInstruction)Only("STOPSIGNAL --x 9")).Signal);
        Assert.Equal(["/a"], ((VolumeInstruction)Only("VOLUME [\" /a \"]")).Paths.ToArray());
        var onbuild = (OnBuildInstruction)ParsedDockerfile.Parse("FROM a\nONBUILD RUN <<EOF\necho\nEOF\n").Stages[0].Instructions[0];
        Assert.Equal("RUN <<EOF\necho\nEOF", onbuild.Expression);
        Assert.Equal(
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
            ProblemOf("FROM a\nCOPY --bad=1 a\n"));
        Assert.Equal("USER requires exactly one argument", ProblemOf("FROM a\nUSER --bad\n"));
    }

    [Theory]
    [InlineData("FRM a", "unknown instruction: FRM (did you mean FROM?)")]
    [InlineData("Frm a", "unknown instruction: Frm (did you mean from?)")]
    [InlineData("XYZW a", "unknown instruction: XYZW")]
    [InlineData("FROM a\nENTRYPIONT x", "unknown instruction: ENTRYPIONT (did you mean ENTRYPOINT?)")]
    public void Suggestions_are_at_most_two_edits_away_in_the_case_written(string text, string problem) =>
        Assert.Equal(problem, ProblemOf(text + "\n"));

    [Fact]
    public void Instructions_carry_their_lines()
    {
        var run = ParsedDockerfile.Parse("FROM a\nRUN a \\\n b\n").Stages[0].Instructions[0];
        Assert.Equal((2, 3, "RUN a  b"), (run.StartLine, run.EndLine, run.Original));
    }

    [Fact]
    public void TryParse_reports_instead_of_throwing()
    {
        Assert.False(ParsedDockerfile.TryParse("FROM a\nBOGUS\n", out var parsed, out var error));
        Assert.Null(parsed);
        Assert.Equal("unknown instruction: BOGUS", error!.Problem);
        Assert.True(ParsedDockerfile.TryParse("FROM a\n", out parsed, out error));
        Assert.Null(error);
        Assert.Single(parsed!.Stages);
    }
}
