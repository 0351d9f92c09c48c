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
/// One difference remains: <c>?</c> matches one UTF-16 unit, where BuildKit matches one code point.
/// </remarks>
internal static class ShellPattern
{
    private const RegexOptions Options = RegexOptions.CultureInvariant;

    /// <summary>The regular expression for a shell pattern (BuildKit's <c>convertShellPatternToRegex</c>).</summary>
    /// <exception cref="ShellSyntaxError">An escape other than <c>\*</c>, <c>\?</c>, <c>\\</c>, <c>\}</c> or <c>\/</c>.</exception>
    public static string ToRegex(string pattern, bool greedy, bool anchored)
    {
        var output = new StringBuilder(pattern.Length + 4);
        if (anchored)
        {
            output.Append('^');
        }

        var star = greedy ? ".*" : ".*?";
        for (var i = 0; i < pattern.Length; i++)
        {
            var ch = pattern[i];
            switch (ch)
            {
                case '*':
                    output.Append(star);
                    continue;
                case '?':
                    output.Append('.');
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

    /// <summary><c>${VAR/pattern/replacement}</c> and <c>${VAR//pattern/replacement}</c>; the replacement is literal.</summary>
    public static string Replace(string pattern, string value, string replacement, bool all)
    {
        var regex = CheckedRegex(pattern, greedy: true, anchored: false);
        if (all)
        {
            return Regex.Replace(value, regex, _ => replacement, Options);
        }

        var match = Regex.Match(value, regex, Options);
        return match.Success
            ? string.Concat(value.AsSpan(0, match.Index), replacement, value.AsSpan(match.Index + match.Length))
            : value;
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
            return ToRegex(pattern, greedy, anchored);
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
