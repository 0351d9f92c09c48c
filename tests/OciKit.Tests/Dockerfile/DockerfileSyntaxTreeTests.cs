using OciKit.Dockerfile;

namespace OciKit.Tests.Dockerfile;

public class DockerfileSyntaxTreeTests
{
    private static DockerfileNode Single(string text) => DockerfileSyntaxTree.Parse(text).Instructions.Single();

    private static DockerfileNode Second(string text) => DockerfileSyntaxTree.Parse(text).Instructions[1];

    [Fact]
    public void Directives_are_read_case_insensitively_before_the_first_instruction()
    {
        var tree = DockerfileSyntaxTree.Parse("# SYNTAX=docker/dockerfile:1\n#Escape=`\n# check=error=true\nFROM a\n");
        Assert.Equal(new DockerfileDirectives('`', "docker/dockerfile:1", "error=true"), tree.Directives);
    }

    [Theory]
    [InlineData("FROM a\n# escape=`\nRUN x\n")]
    [InlineData("# comment\n# escape=`\nFROM a\n")]
    [InlineData("\n# escape=`\nFROM a\n")]
    [InlineData("# unknown=1\n# escape=`\nFROM a\n")]
    [InlineData("# escape\nFROM a\n")]
    public void Misplaced_or_unknown_directives_are_comments(string text)
    {
        Assert.Equal('\\', DockerfileSyntaxTree.Parse(text).Directives.Escape);
    }

    [Theory]
    [InlineData("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive can be used")]
    [InlineData("# check=a\n# CHECK=b\nFROM a\n", 2, "only one check parser directive can be used")]
    [InlineData("# escape=ab\nFROM a\n", 1, "invalid escape token 'ab' does not match ` or \\")]
    public void Invalid_directives_are_errors(string text, int line, string problem)
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(text, "x/Dockerfile"));
        Assert.Equal(("x/Dockerfile", line, 1, problem), (error.File, error.Line, error.Column, error.Problem));
        Assert.Equal($"x/Dockerfile:{line}:1: {problem}", error.Message);
    }

    [Fact]
    public void Continuations_skip_comment_and_empty_lines_and_keep_indentation()
    {
        var node = Single("RUN a \\\n# c\n\n  \t\n   b \\  \n c\n");
        Assert.Equal(["a    b  c"], node.Args.ToArray());
        Assert.Equal((1, 6), (node.StartLine, node.EndLine));
    }

    [Fact]
    public void Trailing_carriage_returns_are_not_content()
    {
        var tree = DockerfileSyntaxTree.Parse("RUN a \\\r\r\n b\r\nCOPY <<EOF /x\r\nline\r\r\nEOF\r\r\n");
        Assert.Equal(["a  b"], tree.Instructions[0].Args.ToArray());
        Assert.Equal("line\r\r\n", tree.Instructions[1].Heredocs.Single().Content);
    }

    [Fact]
    public void The_backtick_escape_continues_lines_and_backslash_does_not()
    {
        var tree = DockerfileSyntaxTree.Parse("# escape=`\nRUN a `\n b\nRUN c:\\\nRUN d\n");
        Assert.Equal(["a  b"], tree.Instructions[0].Args.ToArray());
        Assert.Equal(["c:\\"], tree.Instructions[1].Args.ToArray());
        Assert.Equal(3, tree.Instructions.Length);
    }

    [Fact]
    public void Exec_form_is_a_json_array_of_strings()
    {
        var node = Single("CMD [\"a\", \"b c\", \"\\u00e9\"]");
        Assert.True(node.IsJson);
        Assert.Equal(["a", "b c", "é"], node.Args.ToArray());
    }

    [Theory]
    [InlineData("CMD [a]", "[a]")]
    [InlineData("CMD [\"a\"", "[\"a\"")]
    [InlineData("CMD {\"a\": 1}", "{\"a\": 1}")]
    [InlineData("CMD [\"a\",]", "[\"a\",]")]
    public void Text_that_is_not_json_is_shell_form(string text, string arg)
    {
        var node = Single(text);
        Assert.False(node.IsJson);
        Assert.Equal([arg], node.Args.ToArray());
    }

    [Theory]
    [InlineData("CMD [1]")]
    [InlineData("RUN [\"a\", null]")]
    [InlineData("COPY [\"a\", [\"b\"]]")]
    [InlineData("ENTRYPOINT [{}]")]
    public void A_json_array_with_a_non_string_is_an_error(string text)
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(text));
        Assert.Contains("arrays must be comprised of strings only", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Copy_shell_form_splits_on_whitespace_keeping_quotes()
    {
        Assert.Equal(["\"a", "b\"", "/c"], Single("COPY \"a b\"   /c").Args.ToArray());
    }

    [Fact]
    public void Flags_are_leading_double_dash_words_and_a_bare_double_dash_ends_them()
    {
        var node = Single("COPY --from=x --chown=\"a b\" -- --y /z");
        Assert.Equal(["--from=x", "--chown=a b"], node.Flags.ToArray());
        Assert.Equal(["--y", "/z"], node.Args.ToArray());
        Assert.Empty(Single("RUN -x --y").Flags);
    }

    [Fact]
    public void Env_new_form_keeps_values_verbatim()
    {
        var node = Single("ENV a=1 b=\"x y\" c=z\\ w");
        Assert.False(node.IsLegacyForm);
        Assert.Equal(["a", "1", "b", "\"x y\"", "c", "z\\ w"], node.Args.ToArray());
    }

    [Fact]
    public void Env_legacy_form_is_one_pair()
    {
        var node = Single("ENV KEY  rest  of  line");
        Assert.True(node.IsLegacyForm);
        Assert.Equal(["KEY", "rest  of  line"], node.Args.ToArray());
    }

    [Theory]
    [InlineData("ENV KEY", "ENV must have two arguments")]
    [InlineData("LABEL a=1 b", "Syntax error - can't find = in \"b\". Must be of the form: name=value")]
    public void Env_and_label_errors(string text, string problem)
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(text));
        Assert.Equal(problem, error.Problem);
    }

    [Fact]
    public void Arg_keeps_one_word_per_declaration()
    {
        Assert.Equal(["a", "b=\"1 2\"", "c="], Single("ARG a b=\"1 2\" c=").Args.ToArray());
    }

    [Fact]
    public void Healthcheck_splits_type_then_command()
    {
        Assert.Equal(["NONE"], Single("HEALTHCHECK NONE").Args.ToArray());
        var exec = Single("HEALTHCHECK --retries=2 CMD [\"a\", \"b\"]");
        Assert.True(exec.IsJson);
        Assert.Equal(["CMD", "a", "b"], exec.Args.ToArray());
        Assert.Equal(["CMD", "a && b"], Single("HEALTHCHECK CMD a && b").Args.ToArray());
    }

    [Fact]
    public void Onbuild_parses_its_trigger_as_an_instruction()
    {
        var node = Single("ONBUILD RUN --mount=type=cache,target=/x make");
        Assert.Empty(node.Args);
        Assert.Equal("run", node.Next!.Keyword);
        Assert.Equal(["--mount=type=cache,target=/x"], node.Next.Flags.ToArray());
        Assert.Equal(["make"], node.Next.Args.ToArray());
    }

    [Fact]
    public void Deeply_nested_onbuild_is_an_error_not_a_stack_overflow()
    {
        var text = string.Concat(Enumerable.Repeat("ONBUILD ", 5_000)) + "RUN x";
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(text));
        Assert.Equal("ONBUILD nested too deeply", error.Problem);
        Assert.Equal("run", Single("ONBUILD ONBUILD RUN x").Next!.Next!.Keyword);
    }

    [Fact]
    public void Lines_over_64_KiB_are_an_error_after_what_precedes_them()
    {
        var label = new string('a', 65_536);
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse($"FROM image\nLABEL test={label}\nRUN x\n"));
        Assert.Equal((1, "dockerfile line greater than max allowed size of 65535"), (error.Line, error.Problem));
        Assert.Equal(
            "file with no instructions",
            Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(label)).Problem);
        Assert.Single(DockerfileSyntaxTree.Parse("LABEL a=" + new string('b', 65_535 - 8)).Instructions);
    }

    [Fact]
    public void Onbuild_triggers_read_heredocs_into_the_onbuild_node()
    {
        var node = Single("ONBUILD COPY <<EOF /x\nhi\nEOF\n");
        Assert.Equal([new DockerfileHeredoc("EOF", "hi\n", true)], node.Heredocs.ToArray());
        var onbuild = (OnBuildInstruction)ParsedDockerfile.Parse("FROM a\nONBUILD COPY <<EOF /x\nhi\nEOF\n").Stages[0].Instructions[0];
        Assert.Equal([new HeredocSource("EOF", "hi\n", true)], ((CopyInstruction)onbuild.Trigger).HeredocSources.ToArray());
    }

    [Fact]
    public void An_escaped_escape_at_the_end_does_not_continue_the_line()
    {
        var tree = DockerfileSyntaxTree.Parse("RUN echo \\\\\nRUN x \\\nRUN y\n# escape=`\n");
        Assert.Equal(["echo \\\\", "x RUN y"], tree.Instructions.Select(n => n.Args[0]).ToArray());
    }

    [Fact]
    public void Heredocs_are_read_after_the_line()
    {
        var node = Single("RUN <<EOF <<-'END' cat\na $x\nEOF\n\tb\n\t  c\n\tEND\n");
        Assert.Equal(
            [new DockerfileHeredoc("EOF", "a $x\n", true), new DockerfileHeredoc("END", "b\n  c\n", false, Chomp: true)],
            node.Heredocs.ToArray());
        Assert.Equal((1, 6), (node.StartLine, node.EndLine));
    }

    [Theory]
    [InlineData("RUN <<\"EOF\"\nx\nEOF\n", false)]
    [InlineData("RUN <<E\"O\"F\nx\nEOF\n", false)]
    [InlineData("RUN <<EOF\nx\nEOF\n", true)]
    public void Quoting_the_delimiter_disables_expansion(string text, bool expand)
    {
        Assert.Equal(expand, Single(text).Heredocs.Single().Expand);
    }

    [Fact]
    public void Heredocs_only_belong_to_run_copy_and_add_in_shell_form()
    {
        var tree = DockerfileSyntaxTree.Parse("CMD <<EOF\nRUN [\"<<EOF\"]\n");
        Assert.All(tree.Instructions, n => Assert.Empty(n.Heredocs));
        Assert.Equal(2, tree.Instructions.Length);
    }

    [Fact]
    public void An_unterminated_heredoc_is_an_error_at_its_instruction()
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse("FROM a\n  COPY <<EOF /x\nbody\n"));
        Assert.Equal((2, 3, "unterminated heredoc EOF"), (error.Line, error.Column, error.Problem));
    }

    [Fact]
    public void Keywords_are_lower_cased_and_unknown_ones_keep_their_text()
    {
        var node = Single("FrOm x");
        Assert.Equal("from", node.Keyword);
        Assert.Equal(["x y"], Single("BOGUS x y").Args.ToArray());
    }

    [Fact]
    public void Positions_count_lines_and_columns_from_one()
    {
        var tree = DockerfileSyntaxTree.Parse("\n\n   RUN a\n");
        Assert.Equal((3, 3, 4), (tree.Instructions[0].StartLine, tree.Instructions[0].EndLine, tree.Instructions[0].Column));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only\n\n")]
    [InlineData("\uFEFF")]
    public void A_file_without_instructions_is_an_error(string text)
    {
        var error = Assert.Throws<DockerfileSyntaxException>(() => DockerfileSyntaxTree.Parse(text));
        Assert.Equal("file with no instructions", error.Problem);
    }

    [Fact]
    public void TryParse_reports_instead_of_throwing()
    {
        Assert.False(DockerfileSyntaxTree.TryParse("CMD [1]", out var tree, out var error));
        Assert.Null(tree);
        Assert.NotNull(error);
        Assert.True(DockerfileSyntaxTree.TryParse("CMD [\"1\"]", out tree, out error));
        Assert.NotNull(tree);
        Assert.Null(error);
    }

    [Fact]
    public void Trees_of_the_same_text_are_equal()
    {
        const string text = "# escape=`\nFROM a AS b\nCOPY --link <<EOF /x\nhi\nEOF\nONBUILD RUN [\"a\"]\n";
        var (a, b) = (DockerfileSyntaxTree.Parse(text), DockerfileSyntaxTree.Parse(text));
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, DockerfileSyntaxTree.Parse(text.Replace("hi", "ho", StringComparison.Ordinal)));
    }

    [Fact]
    public void ToJson_has_the_documented_shape()
    {
        var json = DockerfileSyntaxTree.Parse("COPY --from=build a b\n").ToJson(indented: false);
        Assert.Equal(
            "{\"directives\":{\"escape\":\"\\\\\"},\"instructions\":[{\"keyword\":\"copy\",\"flags\":[\"--from=build\"],"
            + "\"args\":[\"a\",\"b\"],\"json\":false,\"legacyForm\":false,\"heredocs\":[],\"startLine\":1,\"endLine\":1,\"next\":null}]}",
            json);
    }
}
