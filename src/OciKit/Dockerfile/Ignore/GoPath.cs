using System.Text;

namespace OciKit.Dockerfile.Ignore;

/// <summary>
/// Go's <c>path/filepath</c> string functions on Unix (<c>/</c> separators), which Docker applies to
/// <c>.dockerignore</c> patterns and paths; written by hand to reproduce Go's exact results.
/// </summary>
internal static class GoPath
{
    /// <summary>Go's <c>filepath.Clean</c>: the shortest equivalent path (see https://pkg.go.dev/path/filepath#Clean).</summary>
    public static string Clean(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }

        var rooted = path[0] == '/';
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (segments.Count > 0 && segments[^1] != "..")
                {
                    segments.RemoveAt(segments.Count - 1);
                }
                else if (!rooted)
                {
                    segments.Add(segment);
                }

                // ".." at the root of a rooted path is the root itself.
                continue;
            }

            segments.Add(segment);
        }

        var joined = string.Join('/', segments);
        return rooted ? "/" + joined : joined.Length == 0 ? "." : joined;
    }

    /// <summary>Go's <c>filepath.Dir</c>: everything up to the last separator, cleaned.</summary>
    public static string Dir(string path)
    {
        var last = path.LastIndexOf('/');
        return Clean(last < 0 ? string.Empty : path[..(last + 1)]);
    }

    /// <summary>
    /// Whether <paramref name="pattern"/> is well-formed for Go's <c>filepath.Match</c> on Unix: escapes complete,
    /// character classes closed, non-empty, and their ranges complete. Docker rejects other patterns.
    /// </summary>
    public static bool IsValidGlob(string pattern, out string? error)
    {
        error = null;
        var i = 0;
        while (i < pattern.Length)
        {
            var ch = pattern[i];
            if (ch == '\\')
            {
                if (i + 1 >= pattern.Length)
                {
                    error = "a trailing '\\' escapes nothing";
                    return false;
                }

                i += 2;
                continue;
            }

            if (ch != '[')
            {
                i++;
                continue;
            }

            i++;
            if (i < pattern.Length && pattern[i] == '^')
            {
                i++;
            }

            var ranges = 0;
            while (true)
            {
                if (i < pattern.Length && pattern[i] == ']' && ranges > 0)
                {
                    i++;
                    break;
                }

                if (!TryClassChar(pattern, ref i))
                {
                    error = "malformed character class";
                    return false;
                }

                if (pattern[i] == '-')
                {
                    i++;
                    if (!TryClassChar(pattern, ref i))
                    {
                        error = "malformed character class range";
                        return false;
                    }
                }

                ranges++;
            }
        }

        return true;
    }

    // Go's getEsc: one (possibly escaped) class character, which must be followed by more pattern.
    private static bool TryClassChar(string pattern, ref int i)
    {
        if (i >= pattern.Length || pattern[i] is '-' or ']')
        {
            return false;
        }

        if (pattern[i] == '\\')
        {
            i++;
            if (i >= pattern.Length)
            {
                return false;
            }
        }

        i += char.IsHighSurrogate(pattern[i]) && i + 1 < pattern.Length && char.IsLowSurrogate(pattern[i + 1]) ? 2 : 1;
        return i < pattern.Length;
    }

    /// <summary>Appends <paramref name="ch"/> to a regular expression as a literal character.</summary>
    public static StringBuilder AppendLiteral(this StringBuilder builder, char ch) =>
        char.IsAsciiLetterOrDigit(ch) || ch == '_' || ch == '/' || ch > 127 ? builder.Append(ch) : builder.Append('\\').Append(ch);
}
