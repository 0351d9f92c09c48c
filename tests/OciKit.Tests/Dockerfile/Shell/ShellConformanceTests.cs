using System.Text.Json;
using OciKit.Dockerfile.Shell;
using OciKit.Testing;

namespace OciKit.Tests.Dockerfile.Shell;

/// <summary>
/// BuildKit's own lexer test data (<c>conformance/buildkit-shell</c>), read in place: every case that applies to Unix.
/// Windows-only rows (<c>W</c>, <c>windows</c>) are not yielded.
/// </summary>
public class ShellConformanceTests
{
    private static readonly string Folder = Path.Combine(TestPaths.Conformance, "buildkit-shell");

    // envVarTest assumes this environment (see shell_cases.json semantics_notes and BuildKit's lex_test.go).
    private static readonly Dictionary<string, string> EnvVarTestEnvironment = new(StringComparer.Ordinal)
    {
        ["PWD"] = "/home",
        ["SHELL"] = "bash",
        ["KOREAN"] = "한국어",
        ["NULL"] = string.Empty,
    };

    private static readonly Lazy<Dictionary<string, JsonElement>> JsonCases = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "shell_cases.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("id").GetString()!, c => c.Clone(), StringComparer.Ordinal);
    });

    /// <summary>One row per applicable line of <c>envVarTest</c>: line number, input, expected.</summary>
    public static TheoryData<int, string, string> EnvVarTestRows()
    {
        var rows = new TheoryData<int, string, string>();
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(Path.Combine(Folder, "envVarTest")))
        {
            lineNumber++;
            var line = raw.TrimStart();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var parts = line.Split('|');
            Assert.Equal(3, parts.Length);
            var platform = parts[0].Trim();
            if (platform is "A" or "U")
            {
                rows.Add(lineNumber, parts[1].Trim(), parts[2].Trim());
            }
            else
            {
                Assert.Equal("W", platform);
            }
        }

        return rows;
    }

    /// <summary>One row per case line of <c>wordsTest</c>: line number, input, expected words joined by commas.</summary>
    public static TheoryData<int, string, string> WordsTestRows()
    {
        var rows = new TheoryData<int, string, string>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(Path.Combine(Folder, "wordsTest")))
        {
            lineNumber++;
            if (line.StartsWith('#') || line.StartsWith("ENV ", StringComparison.Ordinal) || line.Length == 0)
            {
                continue;
            }

            var parts = line.Split('|');
            Assert.Equal(2, parts.Length);
            rows.Add(lineNumber, parts[0].Trim(), parts[1].TrimStart(' '));
        }

        return rows;
    }

    /// <summary>One row per non-Windows case of <c>shell_cases.json</c>, by id.</summary>
    public static TheoryData<string> JsonCaseIds()
    {
        var rows = new TheoryData<string>();
        foreach (var (id, c) in JsonCases.Value)
        {
            if (c.GetProperty("platform").GetString() != "windows")
            {
                rows.Add(id);
            }
        }

        return rows;
    }

    [Theory]
    [MemberData(nameof(EnvVarTestRows))]
    public void EnvVarTest(int line, string input, string expected)
    {
        if (expected == "error")
        {
            Assert.Throws<ShellExpansionException>(() => ShellLexer.Default.ProcessWord(input, EnvVarTestEnvironment));
        }
        else
        {
            Assert.True(expected == ShellLexer.Default.ProcessWord(input, EnvVarTestEnvironment), $"envVarTest line {line}");
        }
    }

    [Theory]
    [MemberData(nameof(WordsTestRows))]
    public void WordsTest(int line, string input, string expected)
    {
        // The environment is what the ENV lines above this case defined (value = everything after the first '=').
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var text in File.ReadLines(Path.Combine(Folder, "wordsTest")))
        {
            if (++lineNumber >= line)
            {
                break;
            }

            if (text.StartsWith("ENV ", StringComparison.Ordinal))
            {
                var assignment = text[3..].TrimStart(' ');
                var equals = assignment.IndexOf('=', StringComparison.Ordinal);
                environment[assignment[..equals]] = assignment[(equals + 1)..];
            }
        }

        string[] actual;
        try
        {
            actual = [.. ShellLexer.Default.ProcessWords(input, environment)];
        }
        catch (ShellExpansionException)
        {
            actual = ["error"];
        }

        Assert.Equal(expected.Split(','), actual);
    }

    [Theory]
    [MemberData(nameof(JsonCaseIds))]
    public void ShellCasesJson(string id)
    {
        var c = JsonCases.Value[id];
        var options = c.GetProperty("options");
        var lexer = new ShellLexer(options.GetProperty("escape_token").GetString()![0])
        {
            RawQuotes = options.GetProperty("RawQuotes").GetBoolean(),
            RawEscapes = options.GetProperty("RawEscapes").GetBoolean(),
            SkipUnsetEnv = options.GetProperty("SkipUnsetEnv").GetBoolean(),
            SkipProcessQuotes = options.GetProperty("SkipProcessQuotes").GetBoolean(),
        };
        var environment = c.GetProperty("env").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
        var input = c.GetProperty("input").GetString()!;
        var function = c.GetProperty("function").GetString();

        if (c.GetProperty("expect_error").GetBoolean())
        {
            var error = Assert.Throws<ShellExpansionException>(() => Run(lexer, function, input, environment));
            if (c.TryGetProperty("expected_error_contains", out var contains) && contains.ValueKind == JsonValueKind.String)
            {
                Assert.Contains(contains.GetString()!, error.Message, StringComparison.Ordinal);
            }

            return;
        }

        switch (function)
        {
            case "ProcessWord":
                Assert.Equal(c.GetProperty("expected").GetString(), lexer.ProcessWord(input, environment));
                break;
            case "ProcessWords":
                Assert.Equal(
                    c.GetProperty("expected").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                    lexer.ProcessWords(input, environment));
                break;
            case "ProcessWordWithMatches":
                var result = lexer.ProcessWordWithMatches(input, environment);
                Assert.Equal(c.GetProperty("expected").GetString(), result.Result);
                if (c.TryGetProperty("expected_matched_vars", out var matched) && matched.ValueKind == JsonValueKind.Array)
                {
                    Assert.Equal(Names(matched), result.Matched.Order(StringComparer.Ordinal));
                    Assert.Equal(Names(c.GetProperty("expected_unmatched_vars")), result.Unmatched.Order(StringComparer.Ordinal));
                }

                break;
            default:
                Assert.Fail($"Unknown function {function} in case {id}.");
                break;
        }
    }

    private static object Run(ShellLexer lexer, string? function, string input, Dictionary<string, string> environment) =>
        function switch
        {
            "ProcessWords" => lexer.ProcessWords(input, environment),
            "ProcessWordWithMatches" => lexer.ProcessWordWithMatches(input, environment),
            _ => lexer.ProcessWord(input, environment),
        };

    private static IEnumerable<string> Names(JsonElement array) =>
        array.EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal);
}
