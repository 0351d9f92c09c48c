using System.Collections.Immutable;

namespace OciKit.Dockerfile;

/// <summary>
/// A Dockerfile's syntax tree together with the problems a build would reject it for (an unknown instruction or
/// flag, wrong arguments, an instruction before the first FROM, no FROM at all), as
/// <see cref="ParsedDockerfile.Analyze(string, string)"/> reports them.
/// </summary>
/// <remarks>
/// This follows BuildKit's split: its parser accepts any keyword line, and only building typed instructions from the
/// tree rejects what is not a valid instruction. A syntax error (what the parser itself rejects) is thrown as a
/// <see cref="DockerfileSyntaxException"/> instead, because there is no tree to return.
/// </remarks>
public sealed class DockerfileAnalysis
{
    internal DockerfileAnalysis(DockerfileSyntaxTree syntax, ParsedDockerfile? dockerfile, ImmutableArray<DockerfileDiagnostic> diagnostics)
    {
        Syntax = syntax;
        Dockerfile = dockerfile;
        Diagnostics = diagnostics;
    }

    /// <summary>The syntax tree.</summary>
    public DockerfileSyntaxTree Syntax { get; }

    /// <summary>
    /// The typed instructions and stages, or <see langword="null"/> when an instruction could not be built or one
    /// comes before the first FROM (the cases <see cref="ParsedDockerfile.FromSyntaxTree"/> throws for).
    /// </summary>
    public ParsedDockerfile? Dockerfile { get; }

    /// <summary>
    /// The problems in source order of discovery: at most one per instruction (the one building it would throw
    /// first), then, for a file whose instructions are all ARG, that it has no FROM. Empty when a build would accept
    /// the file as far as can be told without expanding anything.
    /// </summary>
    public ImmutableArray<DockerfileDiagnostic> Diagnostics { get; }
}

/// <summary>
/// A problem in an instruction that the parser accepted but a build rejects, with where it is.
/// </summary>
/// <param name="File">The Dockerfile's name as the caller gave it.</param>
/// <param name="Line">The 1-based line of the problem.</param>
/// <param name="Column">The 1-based column of the problem.</param>
/// <param name="Problem">What is wrong, without the location.</param>
public sealed record DockerfileDiagnostic(string File, int Line, int Column, string Problem)
{
    /// <summary>The diagnostic as <c>FILE:LINE:COLUMN: problem</c>, the form of <see cref="DockerfileSyntaxException"/> messages.</summary>
    public string Message => $"{File}:{Line}:{Column}: {Problem}";

    /// <summary>The exception a build throws for this problem.</summary>
    /// <returns>The exception, not thrown.</returns>
    public DockerfileSyntaxException ToException() => new(File, Line, Column, Problem);

    /// <inheritdoc/>
    public override string ToString() => Message;

    internal static DockerfileDiagnostic From(DockerfileSyntaxException e) => new(e.File, e.Line, e.Column, e.Problem);
}
