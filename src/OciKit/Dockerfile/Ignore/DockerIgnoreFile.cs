using System.Collections.Immutable;

namespace OciKit.Dockerfile.Ignore;

/// <summary>
/// Reading <c>.dockerignore</c> text and choosing which ignore file applies to a build; no I/O happens here.
/// </summary>
public static class DockerIgnoreFile
{
    /// <summary>The ignore file at the root of the build context.</summary>
    public const string DefaultFileName = ".dockerignore";

    /// <summary>
    /// The patterns of a <c>.dockerignore</c> file, in order, as Docker's <c>ignorefile.ReadAll</c> reads them: a UTF-8
    /// byte order mark is dropped; lines whose first character is <c>#</c> are comments; lines are trimmed and blank ones
    /// dropped; each pattern (after an optional <c>!</c> and the blanks following it) is cleaned like Go's
    /// <c>filepath.Clean</c> and loses a leading <c>/</c>, so <c>/docs/</c>, <c>./docs</c> and <c>docs</c> are the same.
    /// </summary>
    /// <param name="text">The file's text; null means no file.</param>
    /// <returns>The patterns, exceptions prefixed with <c>!</c>. A lone <c>!</c> is kept (building a matcher rejects it).</returns>
    public static IReadOnlyList<string> ReadPatterns(string? text)
    {
        if (text is null)
        {
            return [];
        }

        var patterns = ImmutableArray.CreateBuilder<string>();
        var first = true;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.EndsWith('\r') ? rawLine[..^1] : rawLine;
            if (first)
            {
                line = line.StartsWith('\uFEFF') ? line[1..] : line;
                first = false;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            var pattern = line.Trim();
            if (pattern.Length == 0)
            {
                continue;
            }

            var invert = pattern[0] == '!';
            if (invert)
            {
                pattern = pattern[1..].Trim();
            }

            if (pattern.Length > 0)
            {
                pattern = GoPath.Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/')
                {
                    pattern = pattern[1..];
                }
            }

            patterns.Add(invert ? "!" + pattern : pattern);
        }

        return patterns.ToImmutable();
    }

    /// <summary>
    /// The ignore files that may apply to a build, most specific first: <c>&lt;Dockerfile name&gt;.dockerignore</c> next to
    /// the Dockerfile, then <c>.dockerignore</c> at the context root. The first that exists is used; the other is ignored.
    /// </summary>
    /// <param name="contextDirectory">The build context directory.</param>
    /// <param name="dockerfilePath">The Dockerfile's path (for example <c>ctx/Dockerfile</c> or <c>build/app.Dockerfile</c>).</param>
    /// <returns>The candidate paths in order of precedence.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="dockerfilePath"/> names no file.</exception>
    public static IReadOnlyList<string> CandidatePaths(string contextDirectory, string dockerfilePath)
    {
        ArgumentNullException.ThrowIfNull(contextDirectory);
        ArgumentNullException.ThrowIfNull(dockerfilePath);
        var name = Path.GetFileName(dockerfilePath);
        if (name.Length == 0)
        {
            throw new ArgumentException("The Dockerfile path names no file.", nameof(dockerfilePath));
        }

        var directory = Path.GetDirectoryName(dockerfilePath) ?? string.Empty;
        return [Path.Combine(directory, name + DefaultFileName), Path.Combine(contextDirectory, DefaultFileName)];
    }

    /// <summary>Which ignore file applies: the first of <see cref="CandidatePaths"/> that exists.</summary>
    /// <param name="contextDirectory">The build context directory.</param>
    /// <param name="dockerfilePath">The Dockerfile's path.</param>
    /// <param name="exists">Says whether a file exists (for example <c>File.Exists</c>, or a lookup in an in-memory context).</param>
    /// <returns>The path of the ignore file to read, or null when there is none (nothing is excluded).</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="dockerfilePath"/> names no file.</exception>
    public static string? Select(string contextDirectory, string dockerfilePath, Func<string, bool> exists)
    {
        ArgumentNullException.ThrowIfNull(exists);
        foreach (var candidate in CandidatePaths(contextDirectory, dockerfilePath))
        {
            if (exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
