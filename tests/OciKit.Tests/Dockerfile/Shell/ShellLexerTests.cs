using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Dockerfile.Shell;
using OciKit.Testing;

namespace OciKit.Tests.Dockerfile.Shell;

public class ShellLexerTests
{
    private static readonly Dictionary<string, string> NoVariables = new(StringComparer.Ordinal);

    // Characters with no meaning to the lexer (no $, quotes, escapes, braces), including blanks and non-ASCII.
    private static readonly char[] PlainChars = "abcXYZ019_-./:=,@+*?#%^~ \té한".ToCharArray();
    private static readonly char[] WordChars = "abcXYZ019_-./:=,@+*?#%^~é한".ToCharArray();

    private static readonly Lazy<JsonElement> HelperTables = new(() =>
    {
        var path = Path.Combine(TestPaths.Conformance, "buildkit-shell", "shell_cases.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("internal_helper_tables").Clone();
    });

    public static TheoryData<string, string> PatternToRegexRows() => Pairs("convertShellPatternToRegex_anchored_greedy");

    public static TheoryData<string, string> ReversePatternRows() => Pairs("reversePattern");

    public static TheoryData<string> InvalidPatternRows()
    {
        var rows = new TheoryData<string>();
        foreach (var pattern in HelperTables.Value.GetProperty("convertShellPatternToRegex_invalid_patterns").EnumerateArray())
        {
            rows.Add(pattern.GetString()!);
        }

        return rows;
    }

    [Theory]
    [MemberData(nameof(PatternToRegexRows))]
    public void Shell_patterns_translate_to_BuildKits_regular_expressions(string pattern, string expected) =>
        Assert.Equal(expected, ShellPattern.ToRegex(pattern, greedy: true, anchored: true));

    [Theory]
    [MemberData(nameof(InvalidPatternRows))]
    public void Invalid_shell_patterns_are_rejected(string pattern) =>
        Assert.Throws<ShellSyntaxError>(() => ShellPattern.ToRegex(pattern, greedy: true, anchored: true));

    [Theory]
    [MemberData(nameof(ReversePatternRows))]
    public void Patterns_reverse_with_their_escapes_kept_in_front(string pattern, string expected) =>
        Assert.Equal(expected, ShellPattern.ReversePattern(pattern));

    [Fact]
    public void A_required_variable_fails_with_its_message_and_the_word()
    {
        var error = Assert.Throws<ShellExpansionException>(() => ShellLexer.Default.ProcessWord("${TAG:?set TAG}", NoVariables));
        Assert.Equal("TAG: set TAG", error.Reason);
        Assert.Equal("${TAG:?set TAG}", error.Word);
        Assert.Equal("failed to process \"${TAG:?set TAG}\": TAG: set TAG", error.Message);
        Assert.IsAssignableFrom<OciException>(error);
    }

    [Theory]
    [InlineData("\"abc", "double-quote")]
    [InlineData("'abc", "single-quote")]
    [InlineData("${}", "bad substitution")]
    [InlineData("${abc", "missing '}'")]
    [InlineData("${abc:=x}", "unsupported modifier (:=)")]
    [InlineData("${abc/x}", "missing '/'")]
    [InlineData("${abc#\\x}", "invalid pattern")]
    public void Malformed_words_say_what_is_wrong(string word, string reason)
    {
        var error = Assert.Throws<ShellExpansionException>(() => ShellLexer.Default.ProcessWord(word, NoVariables));
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_backtick_escape_directive_makes_backslashes_literal()
    {
        var lexer = new ShellLexer('`');
        var env = new Dictionary<string, string> { ["DIR"] = "app" };
        Assert.Equal(@"C:\app\$DIR", lexer.ProcessWord(@"C:\$DIR\`$DIR", env));
        Assert.Equal(["a b", "c"], lexer.ProcessWords("a` b c", env));
        Assert.Equal("say \"hi\"", lexer.ProcessWord("\"say `\"hi`\"\"", env));
    }

    [Theory]
    [InlineData("${V//*/x}", "abc", "x")]
    [InlineData("${V//b*/-}", "abc", "a-")]
    [InlineData("${V//?/$R}", "ab", "<a><b>")]
    [InlineData("${V//a/$D}", "aXa", "$X$")]
    [InlineData("${V/a/$R}", "aXa", "<$0>Xa")]
    [InlineData("${V//a/$$}", "aXa", "X")]
    [InlineData("${V##*/}", "/usr/local/bin", "bin")]
    [InlineData("${V%/*}", "/usr/local/bin", "/usr/local")]
    [InlineData("${V%%/*}", "usr/local/bin", "usr")]
    [InlineData("${V#\"a\\*\"}", "a\\*b", "*b")]
    [InlineData("${V#?}", "\U0001F600x", "x")]
    [InlineData("${V%?}", "x\U0001F600", "x")]
    [InlineData("${V//?/.}", "\U0001F600x", "..")]
    [InlineData("${V#*?}", "\U0001F600\U0001F600", "\U0001F600")]
    [InlineData("${V%%?*}", "\U0001F600\U0001F600", "")]
    public void Replacement_and_trimming_follow_BuildKit_and_Go_regexp_rules(string word, string value, string expected)
    {
        // ${V//…/…} uses Go's ReplaceAllString: $0 in the (expanded) replacement is the match and $$ a dollar; the
        // first-match form is literal. Inside a pattern, a double-quoted escape that escapes nothing is doubled.
        var env = new Dictionary<string, string> { ["V"] = value, ["R"] = "<$0>", ["D"] = "$$" };
        Assert.Equal(expected, ShellLexer.Default.ProcessWord(word, env));
    }

    [Fact]
    public void Raw_escapes_keep_escape_characters_as_BuildKit_does()
    {
        var lexer = new ShellLexer { RawEscapes = true };
        Assert.Equal("a\\ b", lexer.ProcessWord("a\\ b", NoVariables));
        Assert.Equal("x\\", lexer.ProcessWord("x\\", NoVariables));
        Assert.Equal("\\\"q\\\\t", lexer.ProcessWord("\"\\\"q\\t\"", NoVariables));
    }

    [Fact]
    public void Environments_read_assignments_as_BuildKit_does()
    {
        var env = ShellEnvironment.FromAssignments(["A=1", "B", "C=x=y", "A=2", "EMPTY="]);
        Assert.Equal("2||x=y|", ShellLexer.Default.ProcessWord("$A|$B|$C|$EMPTY", env));
        var result = ShellLexer.Default.ProcessWordWithMatches("$B ${MISSING:-d}", env);
        Assert.Equal(["B"], result.Matched);
        Assert.Equal(["MISSING"], result.Unmatched);
        Assert.Equal(["d"], result.Words);
        Assert.Equal("2", ShellLexer.Default.ProcessWord("$a", ShellEnvironment.FromAssignments(["A=2"], ignoreCase: true)));
    }

    [Fact]
    public void Only_backslash_and_backtick_are_escape_tokens() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShellLexer('^'));

    [Fact]
    public void Options_keep_quotes_escapes_and_unset_references()
    {
        var env = new Dictionary<string, string> { ["A"] = "1" };
        Assert.Equal("\"x 1\"'y'", new ShellLexer { RawQuotes = true }.ProcessWord("\"x $A\"'y'", env));
        Assert.Equal("a\\ b", new ShellLexer { RawEscapes = true }.ProcessWord("a\\ b", env));
        Assert.Equal("1 $B ${C} ${D:-x}", new ShellLexer { SkipUnsetEnv = true }.ProcessWord("$A $B ${C} ${D:-x}", env));
        Assert.Equal("'1'", new ShellLexer { SkipProcessQuotes = true }.ProcessWord("'$A'", env));
    }

    [Fact]
    public void Variable_names_follow_the_dictionarys_comparer()
    {
        var insensitive = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["PWD"] = "/home" };
        Assert.Equal("/home", ShellLexer.Default.ProcessWord("$pwd", insensitive));
        Assert.Equal(string.Empty, ShellLexer.Default.ProcessWord("$pwd", new Dictionary<string, string> { ["PWD"] = "/home" }));
    }

    [Theory]
    [InlineData("ADD", true)]
    [InlineData("copy", true)]
    [InlineData("ENV", true)]
    [InlineData("EXPOSE", true)]
    [InlineData("FROM", true)]
    [InlineData("LABEL", true)]
    [InlineData("STOPSIGNAL", true)]
    [InlineData("USER", true)]
    [InlineData("VOLUME", true)]
    [InlineData("WORKDIR", true)]
    [InlineData("ARG", true)]
    [InlineData("RUN", false)]
    [InlineData("CMD", false)]
    [InlineData("ENTRYPOINT", false)]
    [InlineData("SHELL", false)]
    [InlineData("HEALTHCHECK", false)]
    [InlineData("ONBUILD", false)]
    [InlineData("MAINTAINER", false)]
    public void Environment_replacement_applies_to_the_instructions_the_reference_lists(string instruction, bool expected)
    {
        Assert.Equal(expected, EnvironmentReplacement.AppliesTo(instruction));
        Assert.Equal(expected, EnvironmentReplacement.AppliesToOnBuildTrigger(instruction));
    }

    [Property]
    public Property A_word_without_dollars_quotes_or_escapes_expands_to_itself() =>
        Prop.ForAll(
            Gen.Elements(PlainChars).ArrayOf().Select(chars => new string(chars)).ToArbitrary(),
            word => ShellLexer.Default.ProcessWord(word, NoVariables) == word);

    [Property]
    public Property Plain_words_joined_by_single_spaces_split_back_into_the_words() =>
        Prop.ForAll(
            Gen.Elements(WordChars).NonEmptyListOf().Select(chars => new string([.. chars])).NonEmptyListOf()
                .Select(words => words.ToArray()).ToArbitrary(),
            words => ShellLexer.Default.ProcessWords(string.Join(' ', words), NoVariables).SequenceEqual(words));

    [Property]
    public Property Single_quotes_keep_any_text_without_a_single_quote_literally() =>
        Prop.ForAll(
            Gen.Elements("ab $x${y}\"\\`{}:-?#%/ é".ToCharArray()).ArrayOf().Select(chars => new string(chars)).ToArbitrary(),
            text => ShellLexer.Default.ProcessWord("'" + text + "'", NoVariables) == text);

    [Property]
    public Property Escaping_every_character_gives_the_text_back() =>
        Prop.ForAll(
            Gen.Elements("ab $'\"\\`{}:-?#%/ é\t".ToCharArray()).ArrayOf().Select(chars => new string(chars)).ToArbitrary(),
            text => ShellLexer.Default.ProcessWord(string.Concat(text.Select(c => "\\" + c)), NoVariables) == text
                && new ShellLexer('`').ProcessWord(string.Concat(text.Select(c => "`" + c)), NoVariables) == text);

    [Property]
    public Property Double_quotes_with_escaped_quote_dollar_and_escape_give_the_text_back() =>
        Prop.ForAll(
            Gen.Elements("ab $'\"\\`{}:-?#%/ é\t".ToCharArray()).ArrayOf().Select(chars => new string(chars)).ToArbitrary(),
            text =>
            {
                var quoted = "\"" + string.Concat(text.Select(c => c is '"' or '$' or '\\' ? "\\" + c : c.ToString())) + "\"";
                return ShellLexer.Default.ProcessWord(quoted, NoVariables) == text
                    && ShellLexer.Default.ProcessWords(quoted, NoVariables).SequenceEqual(text.Length == 0 ? [] : [text]);
            });

    [Property]
    public Property A_set_variable_expands_to_its_value_in_every_form() =>
        Prop.ForAll(
            Gen.Elements("ab $'\"\\ é{}".ToCharArray()).ArrayOf().Select(chars => new string(chars)).ToArbitrary(),
            value =>
            {
                var env = new Dictionary<string, string> { ["V"] = value };
                return ShellLexer.Default.ProcessWord("$V", env) == value
                    && ShellLexer.Default.ProcessWord("${V}", env) == value
                    && ShellLexer.Default.ProcessWord("\"${V}\"", env) == value
                    && ShellLexer.Default.ProcessWord("${V-other}", env) == value
                    && ShellLexer.Default.ProcessWord("${V+other}", env) == "other";
            });

    private static TheoryData<string, string> Pairs(string table)
    {
        var rows = new TheoryData<string, string>();
        foreach (var pair in HelperTables.Value.GetProperty(table).EnumerateObject())
        {
            rows.Add(pair.Name, pair.Value.GetString()!);
        }

        return rows;
    }
}
