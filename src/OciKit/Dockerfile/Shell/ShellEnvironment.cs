using System.Collections.Frozen;

namespace OciKit.Dockerfile.Shell;

/// <summary>Builds the variable dictionaries <see cref="ShellLexer"/> expands from.</summary>
public static class ShellEnvironment
{
    /// <summary>
    /// The variables of a list of <c>NAME=value</c> assignments, as BuildKit's <c>EnvsFromSlice</c> reads them: the value
    /// is everything after the first <c>=</c>, an entry without <c>=</c> defines the variable with an empty value, and
    /// when a name appears more than once the last value wins.
    /// </summary>
    /// <param name="assignments">The assignments, for example an image config's <c>Env</c>.</param>
    /// <param name="ignoreCase">Compare names regardless of case, as BuildKit does on Windows.</param>
    /// <returns>The variables.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="assignments"/> or one of its items is null.</exception>
    public static IReadOnlyDictionary<string, string> FromAssignments(IEnumerable<string> assignments, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(assignments);
        var comparer = ignoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
        var variables = new Dictionary<string, string>(comparer);
        foreach (var assignment in assignments)
        {
            ArgumentNullException.ThrowIfNull(assignment, nameof(assignments));
            var equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                variables[assignment] = string.Empty;
            }
            else
            {
                variables[assignment[..equals]] = assignment[(equals + 1)..];
            }
        }

        return variables.ToFrozenDictionary(comparer);
    }
}
