using System.Text.Json;
using OciKit.Dockerfile.Ignore;
using OciKit.Testing;

namespace OciKit.Tests.Dockerfile.Ignore;

/// <summary>
/// Docker's own <c>.dockerignore</c> test data (<c>conformance/dockerignore/cases.json</c>: moby/patternmatcher, BuildKit and
/// the @balena/dockerignore corpus checked against real <c>docker build</c>), read in place, one test per case.
/// Windows-only rows are not yielded; rows with a <c>divergence_note</c> are checked against modern Docker as the note says.
/// </summary>
public class DockerIgnoreConformanceTests
{
    private static readonly Lazy<JsonElement[]> Cases = new(() =>
    {
        var path = Path.Combine(TestPaths.Conformance, "dockerignore", "cases.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    });

    /// <summary>One row per non-Windows case: its index in <c>cases</c> and its kind.</summary>
    public static TheoryData<int, string> CaseRows()
    {
        var rows = new TheoryData<int, string>();
        for (var i = 0; i < Cases.Value.Length; i++)
        {
            var c = Cases.Value[i];
            if (c.GetProperty("platform").GetString() != "windows")
            {
                rows.Add(i, c.GetProperty("kind").GetString()!);
            }
        }

        return rows;
    }

    [Theory]
    [MemberData(nameof(CaseRows))]
    public void Case(int index, string kind)
    {
        var c = Cases.Value[index];
        switch (kind)
        {
            case "match":
                Match(c);
                break;
            case "new_patterns":
                NewPatterns(c);
                break;
            case "compile":
                Compile(c);
                break;
            case "ignorefile":
                Assert.Equal(Strings(c.GetProperty("expected_patterns")), DockerIgnoreFile.ReadPatterns(c.GetProperty("content").GetString()));
                break;
            case "context":
                Context(c);
                break;
            case "match_vs_docker":
                MatchVsDocker(c);
                break;
            default:
                Assert.Fail($"Unknown kind {kind} at case {index}.");
                break;
        }
    }

    private static void Match(JsonElement c)
    {
        var patterns = Strings(c.GetProperty("patterns"));
        var path = c.GetProperty("path").GetString()!;

        // The deprecated package function Matches(file, patterns) cleans the path first and never matches ".".
        var deprecatedMatches = c.GetProperty("function").GetString()!.StartsWith("Matches(", StringComparison.Ordinal);
        bool Evaluate()
        {
            var matcher = DockerIgnoreMatcher.Create(patterns);
            if (deprecatedMatches)
            {
                var cleaned = GoPath.Clean(path);
                return cleaned != "." && matcher.IsExcluded(cleaned);
            }

            return matcher.IsExcluded(path);
        }

        if (c.GetProperty("expect_error").GetBoolean())
        {
            Assert.Throws<OciFormatException>(() => Evaluate());
        }
        else
        {
            Assert.Equal(c.GetProperty("expected").GetBoolean(), Evaluate());
        }
    }

    private static void NewPatterns(JsonElement c)
    {
        var patterns = Strings(c.GetProperty("patterns"));
        var expected = c.GetProperty("expected");
        if (c.GetProperty("expect_error").GetBoolean())
        {
            var error = Assert.Throws<OciFormatException>(() => DockerIgnoreMatcher.Create(patterns));
            Assert.Contains(expected.GetProperty("error").GetString()!, error.Message, StringComparison.Ordinal);
            return;
        }

        var matcher = DockerIgnoreMatcher.Create(patterns);
        if (expected.TryGetProperty("pattern_count", out var count))
        {
            Assert.Equal(count.GetInt32(), matcher.Patterns.Count);
        }

        if (expected.TryGetProperty("has_exclusions", out var exclusions))
        {
            Assert.Equal(exclusions.GetBoolean(), matcher.HasExceptions);
        }
    }

    private static void Compile(JsonElement c)
    {
        var pattern = DockerIgnorePattern.Parse(c.GetProperty("pattern").GetString()!);
        var expectedKind = c.GetProperty("expected_match_type").GetString() switch
        {
            "exactMatch" => DockerIgnorePattern.MatchKind.Exact,
            "prefixMatch" => DockerIgnorePattern.MatchKind.Prefix,
            "suffixMatch" => DockerIgnorePattern.MatchKind.Suffix,
            _ => DockerIgnorePattern.MatchKind.Regex,
        };
        Assert.Equal(expectedKind, pattern.Kind);
        Assert.Equal(c.GetProperty("expected_regexp").GetString(), pattern.RegexSource);
    }

    private static void Context(JsonElement c)
    {
        if (c.GetProperty("expect_error").GetBoolean())
        {
            Assert.Throws<OciFormatException>(() => DockerIgnoreMatcher.Parse(c.GetProperty("dockerignore").GetString()));
            return;
        }

        if (c.TryGetProperty("expected_by_dockerfile", out var byDockerfile))
        {
            // Each Dockerfile gets its own <name>.dockerignore, which takes precedence over .dockerignore.
            var files = Strings(c.GetProperty("context_files")).ToHashSet(StringComparer.Ordinal);
            var contents = c.GetProperty("extra_files").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
            foreach (var entry in byDockerfile.EnumerateObject())
            {
                var ignoreFile = DockerIgnoreFile.Select(string.Empty, entry.Name, files.Contains);
                Assert.Equal(entry.Name + ".dockerignore", ignoreFile);
                var matcher = DockerIgnoreMatcher.Parse(contents[ignoreFile!]);
                AssertContext(matcher, Strings(entry.Value.GetProperty("present")), Strings(entry.Value.GetProperty("absent")));
            }

            return;
        }

        AssertContext(
            DockerIgnoreMatcher.Parse(c.GetProperty("dockerignore").GetString()),
            Strings(c.GetProperty("expected_present")),
            Strings(c.GetProperty("expected_absent")));
    }

    private static void AssertContext(DockerIgnoreMatcher matcher, string[] present, string[] absent)
    {
        Assert.All(present, file => Assert.False(matcher.IsExcluded(file), file));
        Assert.All(absent, file => Assert.True(matcher.IsExcluded(file), file));
    }

    private static void MatchVsDocker(JsonElement c)
    {
        var text = c.GetProperty("dockerignore").GetString();
        if (c.TryGetProperty("divergence_note", out _))
        {
            // Old Docker let these patterns never match; modern Docker rejects them, so the build fails.
            Assert.Throws<OciFormatException>(() => DockerIgnoreMatcher.Parse(text));
            return;
        }

        // [CASE-INSENSITIVE] rows describe the corpus library's default, not Docker (the corpus never ran them against
        // docker build; its [CASE-SENSITIVE] rows are Docker's behaviour): they are checked with the opt-in ignoreCase.
        var ignoreCase = c.GetProperty("annotations").EnumerateArray().Any(a => a.GetString() == "[CASE-INSENSITIVE]");
        var matcher = DockerIgnoreMatcher.Parse(text, ignoreCase);
        Assert.Equal(c.GetProperty("expected").GetBoolean(), matcher.IsExcluded(c.GetProperty("path").GetString()!));
    }

    private static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();
}
