using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.RegularExpressions;
using OciKit.Primitives;

namespace OciKit.Dockerfile.Ignore;

/// <summary>
/// One <c>.dockerignore</c> pattern as Docker and BuildKit use it (moby/patternmatcher): Go <c>filepath.Match</c>
/// syntax (<c>*</c>, <c>?</c>, <c>[…]</c>, <c>\</c> escapes) plus <c>**</c> for any number of directories, optionally
/// negated with a leading <c>!</c> (an exception that re-includes what earlier patterns excluded).
/// </summary>
/// <remarks>
/// <para>
/// Hand-written because no .NET library reproduces Docker's matcher; the behaviour is pinned by Docker's own test data.
/// See https://docs.docker.com/build/concepts/context/#dockerignore-files.
/// </para>
/// <para>
/// Docker validates patterns with <c>filepath.Match</c> but matches them through a Go regular expression it derives
/// from them. The two agree except on oddities this class resolves as <c>filepath.Match</c> (and the documentation)
/// would: an escaped letter or digit (<c>\d</c>) is that literal character, where Docker's regular expression would
/// read a character class; and <c>*</c> or <c>?</c> inside <c>[…]</c> are literal characters of the class.
/// </para>
/// </remarks>
public sealed class DockerIgnorePattern
{
    private const string Subject = ".dockerignore pattern";

    private readonly Regex? _regex;

    private DockerIgnorePattern(string text, bool isException, bool ignoreCase, MatchKind kind, string? regexSource, Regex? regex)
    {
        Text = text;
        IgnoreCase = ignoreCase;
        IsException = isException;
        Kind = kind;
        RegexSource = regexSource;
        _regex = regex;
    }

    /// <summary>How a pattern is matched, as moby/patternmatcher classifies it.</summary>
    internal enum MatchKind
    {
        /// <summary>The path equals the pattern.</summary>
        Exact,

        /// <summary>The pattern ends in <c>**</c> and has no other wildcard: the path starts with the rest.</summary>
        Prefix,

        /// <summary>The pattern starts with <c>**</c> and has no other wildcard: the path ends with the rest.</summary>
        Suffix,

        /// <summary>Anything else: a regular expression.</summary>
        Regex,
    }

    /// <summary>The cleaned pattern without its <c>!</c> (for example <c>docs</c> for the line <c>!/docs/</c>).</summary>
    public string Text { get; }

    /// <summary>Whether the pattern started with <c>!</c>: a matching path is included again rather than excluded.</summary>
    public bool IsException { get; }

    /// <summary>
    /// Whether letters match regardless of case. Docker always matches case-sensitively; this is an opt-in for callers
    /// that want the behaviour of case-insensitive file systems.
    /// </summary>
    public bool IgnoreCase { get; }

    /// <summary>How the pattern is matched (moby/patternmatcher's match type).</summary>
    internal MatchKind Kind { get; }

    /// <summary>The regular expression in Go syntax for <see cref="MatchKind.Regex"/> patterns, otherwise null.</summary>
    internal string? RegexSource { get; }

    /// <summary>
    /// Parses one pattern as Docker's <c>patternmatcher.New</c> does: surrounding whitespace trimmed, the path cleaned
    /// like Go's <c>filepath.Clean</c> (so <c>docs/</c> is <c>docs</c>), a leading <c>!</c> marks an exception.
    /// </summary>
    /// <param name="pattern">The pattern text.</param>
    /// <param name="ignoreCase">Match letters regardless of case (Docker does not; see <see cref="IgnoreCase"/>).</param>
    /// <returns>The pattern.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pattern"/> is null.</exception>
    /// <exception cref="OciFormatException">The pattern is empty, a lone <c>!</c>, or not valid Go <c>filepath.Match</c> syntax.</exception>
    public static DockerIgnorePattern Parse(string pattern, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return TryCreate(pattern, ignoreCase, out var result, out var error) ? result : throw new OciFormatException(Subject, error);
    }

    /// <summary>Parses one case-sensitive pattern like <see cref="Parse"/>, returning false instead of throwing when it is invalid.</summary>
    /// <param name="pattern">The pattern text.</param>
    /// <param name="result">The pattern when valid.</param>
    /// <returns>Whether the pattern is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? pattern, [NotNullWhen(true)] out DockerIgnorePattern? result) =>
        TryParse(pattern, ignoreCase: false, out result);

    /// <summary>Parses one pattern like <see cref="Parse"/>, returning false instead of throwing when it is invalid.</summary>
    /// <param name="pattern">The pattern text.</param>
    /// <param name="ignoreCase">Match letters regardless of case (Docker does not; see <see cref="IgnoreCase"/>).</param>
    /// <param name="result">The pattern when valid.</param>
    /// <returns>Whether the pattern is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? pattern, bool ignoreCase, [NotNullWhen(true)] out DockerIgnorePattern? result)
    {
        if (pattern is null)
        {
            result = null;
            return false;
        }

        return TryCreate(pattern, ignoreCase, out result, out _);
    }

    /// <summary>
    /// Whether this pattern matches <paramref name="path"/> itself (not its parent directories; that is
    /// <see cref="DockerIgnoreMatcher.IsExcluded"/>'s job). The exception flag is not considered.
    /// </summary>
    /// <param name="path">A <c>/</c>-separated path relative to the context root.</param>
    /// <returns>Whether the pattern matches.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public bool Matches(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var comparison = IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        switch (Kind)
        {
            case MatchKind.Exact:
                return string.Equals(path, Text, comparison);
            case MatchKind.Prefix:
                return path.AsSpan().StartsWith(Text.AsSpan(0, Text.Length - 2), comparison);
            case MatchKind.Suffix:
                var suffix = Text.AsSpan(2);
                return path.AsSpan().EndsWith(suffix, comparison)
                    || (suffix.Length > 0 && suffix[0] == '/' && path.AsSpan().Equals(suffix[1..], comparison));
            default:
                return _regex!.IsMatch(path);
        }
    }

    /// <summary>The pattern as it would be written in a <c>.dockerignore</c> file, with its <c>!</c>.</summary>
    /// <returns>The pattern text.</returns>
    public override string ToString() => IsException ? "!" + Text : Text;

    internal static bool TryCreate(
        string pattern,
        bool ignoreCase,
        [NotNullWhen(true)] out DockerIgnorePattern? result,
        [NotNullWhen(false)] out string? error)
    {
        result = null;
        var text = GoPath.Clean(pattern.Trim());
        if (pattern.Trim().Length == 0)
        {
            error = "an empty pattern matches nothing";
            return false;
        }

        var isException = text[0] == '!';
        if (isException)
        {
            if (text.Length == 1)
            {
                error = "illegal exclusion pattern: \"!\"";
                return false;
            }

            text = text[1..];
        }

        if (!GoPath.IsValidGlob(text, out var globError))
        {
            error = $"syntax error in pattern \"{pattern.Trim()}\": {globError}";
            return false;
        }

        var (kind, source, dotNetSource) = Compile(text);
        Regex? regex = null;
        if (kind == MatchKind.Regex)
        {
            try
            {
                regex = new Regex(
                    dotNetSource,
                    ignoreCase ? RegexOptions.CultureInvariant | RegexOptions.IgnoreCase : RegexOptions.CultureInvariant);
            }
            catch (ArgumentException e)
            {
                // For example a reversed class range such as [z-a], which Go's regexp rejects too.
                error = $"syntax error in pattern \"{pattern.Trim()}\": {e.Message}";
                return false;
            }
        }

        result = new DockerIgnorePattern(text, isException, ignoreCase, kind, kind == MatchKind.Regex ? source : null, regex);
        error = null;
        return true;
    }

    // moby/patternmatcher's classification and translation to a regular expression, in Go syntax (ending in "$") and
    // for .NET (where "?" and "*" must not split a surrogate pair, as Go matches code points, and "$" is "\z").
    private static (MatchKind Kind, string Source, string DotNetSource) Compile(string pattern)
    {
        var regex = new StringBuilder("^", pattern.Length * 2);
        var dotNet = new StringBuilder("^", pattern.Length * 2);
        var kind = MatchKind.Exact;
        var pos = 0;
        for (var token = 0; pos < pattern.Length; token++)
        {
            var before = regex.Length;
            var singleStar = false;
            var ch = pattern[pos++];
            switch (ch)
            {
                case '*' when pos < pattern.Length && pattern[pos] == '*':
                    pos++;

                    // "**/" is "**": the slash is part of "any number of directories".
                    if (pos < pattern.Length && pattern[pos] == '/')
                    {
                        pos++;
                    }

                    if (pos >= pattern.Length)
                    {
                        if (kind == MatchKind.Exact)
                        {
                            kind = MatchKind.Prefix;
                        }
                        else
                        {
                            regex.Append(".*");
                            kind = MatchKind.Regex;
                        }
                    }
                    else
                    {
                        regex.Append("(.*/)?");
                        kind = MatchKind.Regex;
                    }

                    if (token == 0)
                    {
                        kind = MatchKind.Suffix;
                    }

                    break;
                case '*':
                    singleStar = true;
                    regex.Append("[^/]*");
                    kind = MatchKind.Regex;
                    break;
                case '?':
                    regex.Append("[^/]");
                    kind = MatchKind.Regex;
                    break;
                case '\\':
                    // Validation guarantees something follows; an escaped character is literal, as in filepath.Match.
                    regex.AppendLiteral(pattern[pos++]);
                    kind = MatchKind.Regex;
                    break;
                case '[':
                    pos = AppendClass(pattern, pos, regex);
                    kind = MatchKind.Regex;
                    break;
                case ']':
                    regex.Append("\\]");
                    kind = MatchKind.Regex;
                    break;
                default:
                    regex.AppendLiteral(ch);
                    break;
            }

            if (ch == '?' || singleStar)
            {
                // One code point other than '/' (a surrogate pair is never split), once or any number of times.
                dotNet.Append(@"(?>[\uD800-\uDBFF][\uDC00-\uDFFF]|[^/])").Append(ch == '*' ? "*" : string.Empty);
            }
            else
            {
                dotNet.Append(regex, before, regex.Length - before);
            }
        }

        return (kind, regex.Append('$').ToString(), dotNet.Append(@"\z").ToString());
    }

    // A well-formed (validated) character class starting after its '['; returns the position after its ']'.
    private static int AppendClass(string pattern, int pos, StringBuilder regex)
    {
        regex.Append('[');
        if (pattern[pos] == '^')
        {
            regex.Append('^');
            pos++;
        }

        var items = 0;
        while (!(pattern[pos] == ']' && items > 0))
        {
            pos = AppendClassChar(pattern, pos, regex);
            if (pattern[pos] == '-')
            {
                regex.Append('-');
                pos = AppendClassChar(pattern, pos + 1, regex);
            }

            items++;
        }

        regex.Append(']');
        return pos + 1;
    }

    private static int AppendClassChar(string pattern, int pos, StringBuilder regex)
    {
        if (pattern[pos] == '\\')
        {
            pos++;
        }

        regex.AppendLiteral(pattern[pos]);
        return pos + 1;
    }
}
