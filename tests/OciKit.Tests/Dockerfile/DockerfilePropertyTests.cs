using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Dockerfile;

namespace OciKit.Tests.Dockerfile;

public class DockerfilePropertyTests
{
    private const string WordChars = "abcdefghijklmnopqrstuvwxyzABCDXYZ0123456789./:_-${}@%+,=!?*&|;()";
    private const string FreeChars = "ab yz09 \t\\\"'`[]{},:=<>-#$é漢😀\n";

    private static readonly Gen<string> Word =
        Gen.Elements(WordChars.Where(c => c != '=').ToArray()).NonEmptyListOf().Select(cs => new string([.. cs]));

    private static readonly Gen<string> WordWithEquals =
        Gen.Elements(WordChars.ToArray()).NonEmptyListOf().Select(cs => new string([.. cs]));

    private static readonly Gen<string> FreeText =
        Gen.Elements(FreeChars.ToArray()).ListOf().Select(cs => new string([.. cs]));

    // Text kept verbatim: words separated by runs of spaces, never starting with "[" (that would be tried as JSON).
    private static readonly Gen<string> Verbatim =
        from words in WordWithEquals.NonEmptyListOf()
        from gaps in Gen.Elements(" ", "  ", " \t ").ListOf(words.Count)
        select string.Concat(words.Select((w, i) => (i == 0 ? "" : gaps[i]) + w));

    private static readonly Gen<ImmutableArray<string>> Flags =
        from names in Gen.Elements("from", "chown", "link", "mount", "platform", "x-y").ListOf()
        from values in FreeText.Select(t => t.Replace("\n", "", StringComparison.Ordinal)).ListOf(names.Count)
        select names.Select((n, i) => values[i].Length % 3 == 0 ? "--" + n : $"--{n}={values[i]}").ToImmutableArray();

    private static Gen<DockerfileNode> NodeGen(bool allowOnbuild) =>
        from keyword in Gen.Elements(
            allowOnbuild
                ? ["run", "cmd", "entrypoint", "shell", "copy", "add", "volume", "from", "expose", "user", "workdir", "maintainer", "stopsignal", "env", "label", "arg", "healthcheck", "onbuild"]
                : new[] { "run", "copy", "env", "label", "arg", "healthcheck", "cmd", "expose" })
        from flags in Flags
        from json in Gen.Elements(true, false)
        from jsonArgs in FreeText.ListOf()
        from words in Word.NonEmptyListOf()
        from verbatim in Verbatim
        from legacy in Gen.Elements(true, false)
        from values in Gen.OneOf(Word, Gen.Constant(""), Verbatim.Select(v => "\"" + v + "\"")).ListOf(words.Count)
        from heredoc in Gen.Elements(false, false, true)
        from body in Word.ListOf().Select(lines => string.Concat(lines.Select(l => l.ToLowerInvariant() + "\n")))
        from trigger in allowOnbuild ? NodeGen(false) : Gen.Constant<DockerfileNode>(null!)
        select Build(keyword, flags, json, [.. jsonArgs], [.. words], verbatim, legacy, [.. values], heredoc, body, trigger);

    private static DockerfileNode Build(
        string keyword, ImmutableArray<string> flags, bool json, ImmutableArray<string> jsonArgs, ImmutableArray<string> words,
        string verbatim, bool legacy, ImmutableArray<string> values, bool heredoc, string body, DockerfileNode trigger)
    {
        var node = new DockerfileNode(keyword, flags, []);
        switch (keyword)
        {
            case "run" or "cmd" or "entrypoint" or "shell":
                if (keyword == "run" && heredoc && !json)
                {
                    return node with { Args = ["<<EOF " + verbatim], Heredocs = [new DockerfileHeredoc("EOF", body, true)] };
                }

                return json ? node with { Args = jsonArgs, IsJson = true } : node with { Args = [verbatim] };
            case "copy" or "add" or "volume":
                if (keyword == "copy" && heredoc && !json)
                {
                    return node with { Args = ["<<EOF", .. words], Heredocs = [new DockerfileHeredoc("EOF", body, true)] };
                }

                return json ? node with { Args = jsonArgs, IsJson = true } : node with { Args = words };
            case "from" or "expose":
                return node with { Args = words };
            case "env" or "label":
                return legacy
                    ? node with { Args = [words[0], verbatim], IsLegacyForm = true }
                    : node with { Args = [.. words.SelectMany((w, i) => new[] { w, values[i] })] };
            case "arg":
                return node with { Args = words };
            case "healthcheck":
                return json && !heredoc
                    ? node with { Args = ["CMD", .. jsonArgs], IsJson = true }
                    : node with { Args = heredoc ? ["NONE"] : ["CMD", verbatim] };
            case "onbuild":
                // A trigger's heredocs belong to the ONBUILD node, as in BuildKit.
                return node with { Next = trigger with { Heredocs = [] }, Heredocs = trigger.Heredocs };
            default:
                return node with { Args = [verbatim] };
        }
    }

    private static readonly Gen<DockerfileSyntaxTree> TreeGen =
        from escape in Gen.Elements('\\', '`')
        from syntax in Gen.OneOf(Gen.Constant<string?>(null), Word.Select(w => (string?)w))
        from nodes in NodeGen(true).NonEmptyListOf()
        select new DockerfileSyntaxTree(new DockerfileDirectives(escape, syntax), [.. nodes]);

    [Property(MaxTest = 300)]
    public Property Printing_and_parsing_back_is_identity() =>
        Prop.ForAll(TreeGen.ToArbitrary(), tree =>
        {
            var text = tree.Format();
            var parsed = DockerfileSyntaxTree.Parse(text);
            return (TreeShape.Of(parsed) == TreeShape.Of(tree)).Label(text);
        });

    private static readonly string[] Tokens =
    [
        "FROM ", "RUN ", "COPY ", "ADD ", "ENV ", "LABEL ", "ARG ", "ONBUILD ", "HEALTHCHECK ", "CMD ", "SHELL ", "bogus ",
        "--", "--mount=", "type=cache,target=/x", "--from=a ", "=", "\"", "'", "\\", "`", "\n", "\r\n", "\r", " ", "\t", "[",
        "]", "\"a\"", ",", "1", "null", "{", "}", "<<", "<<-", "EOF", "\tEOF", "#", "# escape=`\n", "# escape=\\\n",
        "# syntax=x\n", "a", "AS ", "$x", "é", "\uFEFF", "\u00a0", "\u2028", "\0", "\ud800", "NONE", "cmd ",
    ];

    [Property(MaxTest = 1000)]
    public Property Parsing_token_soup_only_throws_syntax_errors() =>
        Prop.ForAll(Gen.Elements(Tokens).ListOf().Select(string.Concat).ToArbitrary(), OnlySyntaxErrors);

    [Property(MaxTest = 300)]
    public Property Parsing_random_text_only_throws_syntax_errors() =>
        Prop.ForAll(ArbMap.Default.ArbFor<NonNull<string>>(), text => OnlySyntaxErrors(text.Get));

    /// <summary>
    /// Either the text parses into instructions (stages, or global ARGs alone) that sit on lines the text has, or it is refused with a syntax
    /// error that names the file and a line the text has (0 only for a problem of the whole file) and says what is wrong.
    /// Any other exception escapes and fails the property.
    /// </summary>
    private static Property OnlySyntaxErrors(string text)
    {
        var lines = text.Split('\n').Length;
        try
        {
            var parsed = ParsedDockerfile.Parse(text);
            var instructions = parsed.Stages.SelectMany(s => s.Instructions.Prepend(s.From)).Concat(parsed.GlobalArgs).ToList();
            return (instructions.Count > 0
                    && instructions.All(i => i.StartLine >= 1 && i.StartLine <= i.EndLine && i.EndLine <= lines))
                .Label($"parsed: {parsed.Stages.Length} stage(s), lines {string.Join(",", instructions.Select(i => $"{i.StartLine}-{i.EndLine}"))} of {lines}");
        }
        catch (DockerfileSyntaxException ex)
        {
            return (ex.File == DockerfileSyntaxTree.DefaultFileName
                    && ex.Line >= 0 && ex.Line <= lines + 1
                    && ex.Column >= 0
                    && ex.Problem.Trim().Length > 0
                    && ex.Message.Contains(ex.Problem, StringComparison.Ordinal))
                .Label($"refused at {ex.Line}:{ex.Column} of {lines} lines: {ex.Message}");
        }
    }
}
