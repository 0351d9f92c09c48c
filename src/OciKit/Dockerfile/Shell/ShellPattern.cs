using System.Text;
using System.Text.RegularExpressions;

namespace OciKit.Dockerfile.Shell;

/// <summary>A malformed word found while expanding; the lexer turns it into a <see cref="ShellExpansionException"/>.</summary>
internal sealed class ShellSyntaxError(string reason) : Exception(reason);

/// <summary>
/// The shell patterns of <c>${VAR#pattern}</c>, <c>${VAR%pattern}</c> and <c>${VAR/pattern/replacement}</c>:
/// <c>*</c> any text, <c>?</c> one character, <c>\</c> escapes <c>*</c>, <c>?</c> and <c>\</c>, everything else literal.
/// </summary>
/// <remarks>
/// Translated to a regular expression as BuildKit does (its RE2 syntax and .NET's agree on everything emitted here).
/// </remarks>
internal static class ShellPattern
{
    private const RegexOptions Options = RegexOptions.CultureInvariant;

    // One code point (Go's "." without flags): a surrogate pair, never split, or any other character but a newline.
    private const string AnyCodePoint = @"(?>[\uD800-\uDBFF][\uDC00-\uDFFF]|.)";

    /// <summary>
    /// The regular expression for a shell pattern (BuildKit's <c>convertShellPatternToRegex</c>), in Go syntax or,
    /// with <paramref name="forDotNet"/>, with <c>?</c> and <c>*</c> never splitting a surrogate pair (Go matches code points).
    /// </summary>
    /// <exception cref="ShellSyntaxError">An escape other than <c>\*</c>, <c>\?</c>, <c>\\</c>, <c>\}</c> or <c>\/</c>.</exception>
    public static string ToRegex(string pattern, bool greedy, bool anchored, bool forDotNet = false)
    {
        var output = new StringBuilder(pattern.Length + 4);
        if (anchored)
        {
            output.Append('^');
        }

        var star = forDotNet ? AnyCodePoint + (greedy ? "*" : "*?") : greedy ? ".*" : ".*?";
        for (var i = 0; i < pattern.Length; i++)
        {
            var ch = pattern[i];
            switch (ch)
            {
                case '*':
                    output.Append(star);
                    continue;
                case '?':
                    output.Append(forDotNet ? AnyCodePoint : ".");
                    continue;
                case '\\':
                    // An escaped } or / only protected the ${...} syntax; the escape is not part of the pattern.
                    var next = i + 1 < pattern.Length ? pattern[i + 1] : -1;
                    if (next is '}' or '/')
                    {
                        continue;
                    }

                    if (next is not ('*' or '?' or '\\'))
                    {
                        throw new ShellSyntaxError(next == -1
                            ? "invalid escape at end of pattern"
                            : $"invalid escape '\\{(char)next}'");
                    }

                    output.Append('\\').Append((char)next);
                    i++;
                    continue;
                case '[' or ']' or '{' or '}' or '.' or '+' or '(' or ')' or '|' or '^' or '$':
                    output.Append('\\').Append(ch);
                    continue;
                default:
                    output.Append(ch);
                    continue;
            }
        }

        return output.ToString();
    }

    /// <summary><c>${VAR#pattern}</c> and <c>${VAR##pattern}</c>: removes the shortest (or longest) matching prefix.</summary>
    public static string TrimPrefix(string pattern, string value, bool greedy)
    {
        var match = Regex.Match(value, CheckedRegex(pattern, greedy, anchored: true), Options);
        return match.Success ? value[(match.Index + match.Length)..] : value;
    }

    /// <summary><c>${VAR%pattern}</c> and <c>${VAR%%pattern}</c>: removes the shortest (or longest) matching suffix.</summary>
    /// <remarks>A regular expression finds the leftmost match, so both the value and the pattern are reversed.</remarks>
    public static string TrimSuffix(string pattern, string value, bool greedy) =>
        ReverseString(TrimPrefix(ReversePattern(pattern), ReverseString(value), greedy));

    /// <summary>
    /// <c>${VAR/pattern/replacement}</c> (first match, replacement literal) and <c>${VAR//pattern/replacement}</c>
    /// (every match, with Go's <c>Regexp.ReplaceAllString</c> rules: <c>$0</c> is the match, <c>$$</c> a dollar, and an
    /// empty match right after a match is not replaced).
    /// </summary>
    public static string Replace(string pattern, string value, string replacement, bool all)
    {
        var regex = new Regex(CheckedRegex(pattern, greedy: true, anchored: false), Options);
        if (!all)
        {
            var first = regex.Match(value);
            return first.Success
                ? string.Concat(value.AsSpan(0, first.Index), replacement, value.AsSpan(first.Index + first.Length))
                : value;
        }

        var output = new StringBuilder(value.Length);
        var lastMatchEnd = 0;
        var searchPos = 0;
        while (searchPos <= value.Length)
        {
            var match = regex.Match(value, searchPos);
            if (!match.Success)
            {
                break;
            }

            var end = match.Index + match.Length;
            output.Append(value, lastMatchEnd, match.Index - lastMatchEnd);
            if (end > lastMatchEnd || match.Index == 0)
            {
                AppendExpanded(output, replacement, match.Value);
            }

            lastMatchEnd = end;

            // Always advance by at least one code point.
            var width = searchPos >= value.Length ? 0 : char.IsSurrogatePair(value, searchPos) ? 2 : 1;
            searchPos = searchPos + width > end ? searchPos + width : searchPos + 1 > end ? searchPos + 1 : end;
        }

        output.Append(value, lastMatchEnd, value.Length - lastMatchEnd);
        return output.ToString();
    }

    // Go's Regexp.Expand for a pattern without groups: $0 / ${0} is the match, $$ a dollar, any other reference
    // ($1, $name, ${name}) is empty, and a '$' that starts no reference is kept.
    private static void AppendExpanded(StringBuilder output, string template, string match)
    {
        for (var i = 0; i < template.Length; i++)
        {
            var ch = template[i];
            if (ch != '$')
            {
                output.Append(ch);
                continue;
            }

            if (i + 1 < template.Length && template[i + 1] == '$')
            {
                output.Append('$');
                i++;
                continue;
            }

            var braced = i + 1 < template.Length && template[i + 1] == '{';
            var start = i + (braced ? 2 : 1);
            var end = start;
            while (end < template.Length && (char.IsLetterOrDigit(template[end]) || template[end] == '_'))
            {
                end++;
            }

            if (end == start || (braced && (end >= template.Length || template[end] != '}')))
            {
                output.Append('$');
                continue;
            }

            // Group 0 is the only group ("00" is a name in Go, not a number, as leading zeros are not allowed).
            if (end - start == 1 && template[start] == '0')
            {
                output.Append(match);
            }

            i = braced ? end : end - 1;
        }
    }

    /// <summary>Reverses a pattern code point by code point, keeping each escape in front of the character it escapes.</summary>
    public static string ReversePattern(string pattern)
    {
        var runes = pattern.EnumerateRunes().ToArray();
        var output = new Rune[runes.Length];
        var last = runes.Length - 1;
        for (var i = 0; i <= last;)
        {
            var rune = runes[i];
            var target = last - i;
            if (rune.Value == '\\' && i != last)
            {
                output[target - 1] = rune;
                output[target] = runes[i + 1];
                i += 2;
            }
            else
            {
                output[target] = rune;
                i++;
            }
        }

        return Concat(output);
    }

    /// <summary>Reverses a string code point by code point (surrogate pairs stay intact).</summary>
    public static string ReverseString(string value)
    {
        var runes = value.EnumerateRunes().ToArray();
        Array.Reverse(runes);
        return Concat(runes);
    }

    private static string CheckedRegex(string pattern, bool greedy, bool anchored)
    {
        try
        {
            return ToRegex(pattern, greedy, anchored, forDotNet: true);
        }
        catch (ShellSyntaxError e)
        {
            throw new ShellSyntaxError($"invalid pattern ({pattern}) in substitution: {e.Message}");
        }
    }

    private static string Concat(Rune[] runes)
    {
        var builder = new StringBuilder(runes.Length);
        foreach (var rune in runes)
        {
            builder.Append(rune);
        }

        return builder.ToString();
    }
}
