namespace OciKit.Dockerfile.Shell;

/// <summary>The outcome of <see cref="ShellLexer.ProcessWordWithMatches"/>.</summary>
/// <param name="Result">The expanded text as one string (what <see cref="ShellLexer.ProcessWord"/> returns).</param>
/// <param name="Words">The expanded text split into words (what <see cref="ShellLexer.ProcessWords"/> returns).</param>
/// <param name="Matched">Names of the variables that were looked up and found (set, possibly to an empty value).</param>
/// <param name="Unmatched">Names of the variables that were looked up and not found.</param>
public sealed record ShellExpansionResult(
    string Result,
    IReadOnlyList<string> Words,
    IReadOnlySet<string> Matched,
    IReadOnlySet<string> Unmatched);
