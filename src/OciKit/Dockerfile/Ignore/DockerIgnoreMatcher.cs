using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using OciKit.Primitives;

namespace OciKit.Dockerfile.Ignore;

/// <summary>
/// An ordered list of <c>.dockerignore</c> patterns deciding which paths of a build context are left out, with
/// Docker's semantics (moby/patternmatcher <c>MatchesOrParentMatches</c>): a pattern matches a path when it matches the
/// path itself or one of its parent directories, and the last matching pattern wins — an exclusion excludes, an
/// exception (<c>!pattern</c>) includes again.
/// </summary>
/// <remarks>
/// <para>
/// A context walker asks <see cref="IsExcluded"/> for every file and directory. When a directory is excluded it may
/// still have to descend into it: <see cref="ExceptionsMayMatchInside"/> says whether an exception could re-include
/// something below it (<see cref="ShouldDescendInto"/> combines both). As with BuildKit, the Dockerfile and the
/// <c>.dockerignore</c> file themselves are subject to the patterns like any other file.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class DockerIgnoreMatcher
{
    private DockerIgnoreMatcher(ImmutableArray<DockerIgnorePattern> patterns)
    {
        Patterns = patterns;
        foreach (var pattern in patterns)
        {
            HasExceptions |= pattern.IsException;
        }
    }

    /// <summary>A matcher without patterns: nothing is excluded.</summary>
    public static DockerIgnoreMatcher Empty { get; } = new([]);

    /// <summary>The patterns in the order they apply (empty lines dropped).</summary>
    public IReadOnlyList<DockerIgnorePattern> Patterns { get; }

    /// <summary>Whether at least one pattern is an exception (<c>!pattern</c>).</summary>
    public bool HasExceptions { get; }

    /// <summary>
    /// Builds a matcher from patterns as Docker's <c>patternmatcher.New</c> does: each is trimmed and cleaned,
    /// empty ones are dropped, and every one must be valid.
    /// </summary>
    /// <param name="patterns">The patterns in order, for example from <see cref="DockerIgnoreFile.ReadPatterns"/>.</param>
    /// <param name="ignoreCase">Match letters regardless of case (Docker does not; see <see cref="DockerIgnorePattern.IgnoreCase"/>).</param>
    /// <returns>The matcher.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="patterns"/> or one of its items is null.</exception>
    /// <exception cref="OciFormatException">A pattern is a lone <c>!</c> or has invalid syntax.</exception>
    public static DockerIgnoreMatcher Create(IEnumerable<string> patterns, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var builder = ImmutableArray.CreateBuilder<DockerIgnorePattern>();
        foreach (var pattern in patterns)
        {
            ArgumentNullException.ThrowIfNull(pattern, nameof(patterns));
            if (pattern.Trim().Length != 0)
            {
                builder.Add(DockerIgnorePattern.Parse(pattern, ignoreCase));
            }
        }

        return new DockerIgnoreMatcher(builder.ToImmutable());
    }

    /// <summary>
    /// Reads the text of a <c>.dockerignore</c> file (see <see cref="DockerIgnoreFile.ReadPatterns"/>) and builds its matcher.
    /// </summary>
    /// <param name="dockerignoreText">The file's text; null (no file) gives an empty matcher.</param>
    /// <param name="ignoreCase">Match letters regardless of case (Docker does not; see <see cref="DockerIgnorePattern.IgnoreCase"/>).</param>
    /// <returns>The matcher.</returns>
    /// <exception cref="OciFormatException">A pattern is a lone <c>!</c> or has invalid syntax.</exception>
    public static DockerIgnoreMatcher Parse(string? dockerignoreText, bool ignoreCase = false) =>
        Create(DockerIgnoreFile.ReadPatterns(dockerignoreText), ignoreCase);

    /// <summary>Like <see cref="Parse"/> (case-sensitive, as Docker), returning false instead of throwing when a pattern is invalid.</summary>
    /// <param name="dockerignoreText">The file's text; null (no file) gives an empty matcher.</param>
    /// <param name="matcher">The matcher when every pattern is valid.</param>
    /// <returns>Whether every pattern is valid.</returns>
    public static bool TryParse(string? dockerignoreText, [NotNullWhen(true)] out DockerIgnoreMatcher? matcher) =>
        TryParse(dockerignoreText, ignoreCase: false, out matcher);

    /// <summary>Like <see cref="Parse"/>, returning false instead of throwing when a pattern is invalid.</summary>
    /// <param name="dockerignoreText">The file's text; null (no file) gives an empty matcher.</param>
    /// <param name="ignoreCase">Match letters regardless of case (Docker does not; see <see cref="DockerIgnorePattern.IgnoreCase"/>).</param>
    /// <param name="matcher">The matcher when every pattern is valid.</param>
    /// <returns>Whether every pattern is valid.</returns>
    public static bool TryParse(string? dockerignoreText, bool ignoreCase, [NotNullWhen(true)] out DockerIgnoreMatcher? matcher)
    {
        var builder = ImmutableArray.CreateBuilder<DockerIgnorePattern>();
        foreach (var line in DockerIgnoreFile.ReadPatterns(dockerignoreText))
        {
            if (!DockerIgnorePattern.TryCreate(line, ignoreCase, out var pattern, out _))
            {
                matcher = null;
                return false;
            }

            builder.Add(pattern);
        }

        matcher = new DockerIgnoreMatcher(builder.ToImmutable());
        return true;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is left out of the build context: the last pattern matching the path or one of
    /// its parent directories decides, and it excludes unless it is an exception.
    /// </summary>
    /// <param name="path">
    /// A <c>/</c>-separated path relative to the context root, as a context walker produces it (no leading <c>./</c>).
    /// The empty path names nothing in the context and is reported as excluded.
    /// </param>
    /// <returns>Whether the path is excluded.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public bool IsExcluded(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            return true;
        }

        var parent = GoPath.Dir(path);
        List<string>? parents = null;
        var matched = false;
        foreach (var pattern in Patterns)
        {
            // Only a pattern that could change the outcome is evaluated: exclusions until excluded, then exceptions.
            if (pattern.IsException != matched)
            {
                continue;
            }

            var match = pattern.Matches(path);
            if (!match && parent != ".")
            {
                parents ??= Ancestors(parent);
                for (var i = 0; i < parents.Count && !match; i++)
                {
                    match = pattern.Matches(parents[i]);
                }
            }

            if (match)
            {
                matched = !pattern.IsException;
            }
        }

        return matched;
    }

    /// <summary>
    /// Whether an exception pattern could match <paramref name="directory"/> or something inside it, so that a
    /// context walker must descend into the directory even when it is excluded. The answer errs towards true
    /// (descending needlessly costs time; skipping wrongly would lose files).
    /// </summary>
    /// <param name="directory">A <c>/</c>-separated directory path relative to the context root.</param>
    /// <returns>False only when no exception can re-include anything below the directory.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    public bool ExceptionsMayMatchInside(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!HasExceptions)
        {
            return false;
        }

        var dirSegments = directory.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var pattern in Patterns)
        {
            if (pattern.IsException && MayMatchInside(pattern, dirSegments))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a context walker has to enter <paramref name="directory"/>: it is not excluded, or an exception may
    /// re-include something inside it.
    /// </summary>
    /// <param name="directory">A <c>/</c>-separated directory path relative to the context root.</param>
    /// <returns>Whether to walk the directory's entries.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    public bool ShouldDescendInto(string directory) => !IsExcluded(directory) || ExceptionsMayMatchInside(directory);

    // The parent directory and its own parents, outermost first: "a/b/c" gives "a", "a/b", "a/b/c" ("/" gives "", "/").
    private static List<string> Ancestors(string parent)
    {
        var ancestors = new List<string>();
        for (var slash = parent.IndexOf('/', StringComparison.Ordinal); slash >= 0; slash = parent.IndexOf('/', slash + 1))
        {
            ancestors.Add(parent[..slash]);
        }

        ancestors.Add(parent);
        return ancestors;
    }

    // Compares the pattern segment by segment with the directory: a "**" may reach anything, a pattern longer than the
    // directory may match inside it, a pattern matching the directory or a parent re-includes it all.
    private static bool MayMatchInside(DockerIgnorePattern exception, string[] dirSegments)
    {
        var pattern = exception.Text;
        // Escapes and classes can match '/' in Docker's regular expressions: do not try to be clever.
        if (pattern.Contains('\\', StringComparison.Ordinal) || pattern.Contains('[', StringComparison.Ordinal))
        {
            return true;
        }

        var patternSegments = pattern.Split('/');
        for (var i = 0; i < patternSegments.Length; i++)
        {
            var segment = patternSegments[i];
            if (segment.Contains("**", StringComparison.Ordinal) || i >= dirSegments.Length)
            {
                return true;
            }

            if (segment.StartsWith('!'))
            {
                return true;
            }

            if (!DockerIgnorePattern.TryCreate(segment, exception.IgnoreCase, out var segmentPattern, out _) || !segmentPattern.Matches(dirSegments[i]))
            {
                return false;
            }
        }

        return true;
    }
}
