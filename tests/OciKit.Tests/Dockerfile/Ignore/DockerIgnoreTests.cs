using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Dockerfile.Ignore;

namespace OciKit.Tests.Dockerfile.Ignore;

public class DockerIgnoreTests
{
    private static readonly Gen<string> PathGen =
        Gen.Choose(1, 4).SelectMany(n => Gen.Elements("a", "b", "c", "ab", ".d").ArrayOf(n)).Select(s => string.Join('/', s));

    private static readonly Gen<string> PatternGen =
        Gen.Choose(1, 3).SelectMany(n => Gen.Elements("a", "b", "c", "ab", "*", "**", "?", "a*", "[ab]", ".*").ArrayOf(n))
            .Select(s => string.Join('/', s));

    private static readonly Gen<string[]> ExclusionsGen = PatternGen.ArrayOf();

    private static readonly Gen<string[]> MixedPatternsGen =
        PatternGen.SelectMany(p => Gen.Elements(string.Empty, "!").Select(bang => bang + p)).ArrayOf();

    [Fact]
    public void Reading_drops_comments_blanks_a_bom_and_leading_slashes_and_cleans_paths()
    {
        var text = "\uFEFF# comment\r\n/docs/\r\n./src//a/../b\n\n   \n #not a comment\n!  /keep/me/\n*.md\n!\n";
        Assert.Equal(["docs", "src/b", "#not a comment", "!keep/me", "*.md", "!"], DockerIgnoreFile.ReadPatterns(text));
        Assert.Empty(DockerIgnoreFile.ReadPatterns(null));
    }

    [Fact]
    public void A_lone_exclamation_mark_is_an_error()
    {
        var error = Assert.Throws<OciFormatException>(() => DockerIgnoreMatcher.Parse("docs\n!\n"));
        Assert.Contains("illegal exclusion pattern", error.Message, StringComparison.Ordinal);
        Assert.False(DockerIgnoreMatcher.TryParse("docs\n!\n", ignoreCase: false, out _));
        Assert.True(DockerIgnoreMatcher.TryParse("docs\n!docs/x\n", ignoreCase: false, out var matcher));
        Assert.True(matcher.HasExceptions);
    }

    [Theory]
    [InlineData("[")]
    [InlineData("a[")]
    [InlineData("[]a]")]
    [InlineData("[x-]")]
    [InlineData("a\\")]
    [InlineData("[z-a]")]
    public void Malformed_patterns_are_rejected(string pattern)
    {
        Assert.Throws<OciFormatException>(() => DockerIgnorePattern.Parse(pattern));
        Assert.False(DockerIgnorePattern.TryParse(pattern, ignoreCase: false, out _));
    }

    [Fact]
    public void Patterns_keep_their_exception_flag_and_cleaned_text()
    {
        var pattern = DockerIgnorePattern.Parse("  !docs//api/ ");
        Assert.True(pattern.IsException);
        Assert.Equal("docs/api", pattern.Text);
        Assert.Equal("!docs/api", pattern.ToString());
        Assert.True(pattern.Matches("docs/api"));
        Assert.False(pattern.Matches("docs/api/x"));
    }

    [Fact]
    public void An_excluded_directory_is_entered_only_when_an_exception_reaches_inside()
    {
        var matcher = DockerIgnoreMatcher.Parse("docs\nbuild\n!docs/README.md\n!**/keep\n");
        Assert.True(matcher.IsExcluded("docs"));
        Assert.True(matcher.ShouldDescendInto("docs"));
        Assert.False(matcher.IsExcluded("docs/README.md"));
        Assert.True(matcher.IsExcluded("docs/other.md"));

        // "**/keep" may match anywhere, so every directory may hold something re-included.
        Assert.True(matcher.ExceptionsMayMatchInside("build"));

        var narrow = DockerIgnoreMatcher.Parse("docs\nbuild\n!docs/README.md\n");
        Assert.False(narrow.ExceptionsMayMatchInside("build"));
        Assert.False(narrow.ShouldDescendInto("build"));
        Assert.True(narrow.ShouldDescendInto("src"));
        Assert.False(narrow.ExceptionsMayMatchInside("docs/sub"));
        Assert.False(DockerIgnoreMatcher.Parse("build").ExceptionsMayMatchInside("build"));
    }

    [Fact]
    public void The_Dockerfile_specific_ignore_file_takes_precedence()
    {
        Assert.Equal(
            [Path.Combine("build", "app.Dockerfile.dockerignore"), Path.Combine("ctx", ".dockerignore")],
            DockerIgnoreFile.CandidatePaths("ctx", Path.Combine("build", "app.Dockerfile")));

        var both = new HashSet<string> { Path.Combine("ctx", "Dockerfile.dockerignore"), Path.Combine("ctx", ".dockerignore") };
        Assert.Equal(Path.Combine("ctx", "Dockerfile.dockerignore"), DockerIgnoreFile.Select("ctx", Path.Combine("ctx", "Dockerfile"), both.Contains));

        var rootOnly = new HashSet<string> { Path.Combine("ctx", ".dockerignore") };
        Assert.Equal(Path.Combine("ctx", ".dockerignore"), DockerIgnoreFile.Select("ctx", Path.Combine("ctx", "Dockerfile"), rootOnly.Contains));
        Assert.Null(DockerIgnoreFile.Select("ctx", Path.Combine("ctx", "Dockerfile"), _ => false));
        Assert.Throws<ArgumentException>(() => DockerIgnoreFile.CandidatePaths("ctx", "ctx/"));
    }

    [Fact]
    public void Matching_is_case_sensitive_unless_asked_otherwise()
    {
        Assert.False(DockerIgnoreMatcher.Parse("Docs\n*.MD").IsExcluded("docs/a.md"));
        Assert.True(DockerIgnoreMatcher.Parse("Docs", ignoreCase: true).IsExcluded("docs/a.md"));
        Assert.True(DockerIgnoreMatcher.Parse("*.MD", ignoreCase: true).IsExcluded("a.md"));
        Assert.False(DockerIgnoreMatcher.Parse("*.md").IsExcluded("docs/a.md"));
    }

    [Fact]
    public void A_question_mark_matches_one_code_point_as_in_Go()
    {
        Assert.True(DockerIgnoreMatcher.Parse("?.txt").IsExcluded("\U0001F600.txt"));
        Assert.False(DockerIgnoreMatcher.Parse("??.txt").IsExcluded("\U0001F600.txt"));
        Assert.False(DockerIgnoreMatcher.Parse("*??.txt").IsExcluded("\U0001F600.txt"));
        Assert.True(DockerIgnoreMatcher.Parse("*?.txt").IsExcluded("\U0001F600\U0001F600.txt"));
        Assert.True(DockerIgnoreMatcher.Parse("a?b").IsExcluded("a☺b"));
        Assert.False(DockerIgnoreMatcher.Parse("a?b").IsExcluded("a/b"));
    }

    [Property]
    public Property Without_exceptions_an_excluded_path_stays_excluded_whatever_is_appended() =>
        Prop.ForAll(
            ExclusionsGen.SelectMany(first => ExclusionsGen.SelectMany(more => PathGen.Select(path => (first, more, path))))
                .ToArbitrary(),
            t => !DockerIgnoreMatcher.Create(t.first).IsExcluded(t.path)
                || DockerIgnoreMatcher.Create([.. t.first, .. t.more]).IsExcluded(t.path));

    [Property]
    public Property Without_exceptions_everything_inside_an_excluded_directory_is_excluded() =>
        Prop.ForAll(
            ExclusionsGen.SelectMany(patterns => PathGen.SelectMany(dir => PathGen.Select(rest => (patterns, dir, rest))))
                .ToArbitrary(),
            t =>
            {
                var matcher = DockerIgnoreMatcher.Create(t.patterns);
                return !matcher.IsExcluded(t.dir) || matcher.IsExcluded(t.dir + "/" + t.rest);
            });

    [Property(MaxTest = 1000)]
    public Property A_walker_that_skips_directories_it_need_not_enter_loses_no_included_file() =>
        Prop.ForAll(
            MixedPatternsGen.SelectMany(patterns => PathGen.Select(path => (patterns, path))).ToArbitrary(),
            t =>
            {
                var matcher = DockerIgnoreMatcher.Create(t.patterns);
                if (matcher.IsExcluded(t.path))
                {
                    return true;
                }

                var segments = t.path.Split('/');
                for (var i = 1; i < segments.Length; i++)
                {
                    if (!matcher.ShouldDescendInto(string.Join('/', segments, 0, i)))
                    {
                        return false;
                    }
                }

                return true;
            });

    [Property(MaxTest = 500)]
    public Property The_last_pattern_matching_the_path_or_a_parent_decides() =>
        Prop.ForAll(
            MixedPatternsGen.SelectMany(patterns => PathGen.Select(path => (patterns, path))).ToArbitrary(),
            t =>
            {
                var matcher = DockerIgnoreMatcher.Create(t.patterns);
                var segments = t.path.Split('/');
                var candidates = Enumerable.Range(1, segments.Length).Select(n => string.Join('/', segments, 0, n)).ToArray();
                var last = matcher.Patterns.LastOrDefault(p => candidates.Any(p.Matches));
                return matcher.IsExcluded(t.path) == (last is { IsException: false });
            });

    [Property]
    public Property Leading_slash_dot_slash_and_trailing_slash_do_not_change_a_pattern() =>
        Prop.ForAll(
            PatternGen.ToArbitrary(),
            pattern =>
            {
                var plain = DockerIgnoreFile.ReadPatterns(pattern);
                return plain.SequenceEqual(DockerIgnoreFile.ReadPatterns("/" + pattern))
                    && plain.SequenceEqual(DockerIgnoreFile.ReadPatterns("./" + pattern))
                    && plain.SequenceEqual(DockerIgnoreFile.ReadPatterns(pattern + "/"));
            });
}
