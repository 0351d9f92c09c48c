using OciKit.Primitives;

namespace OciKit.Dockerfile;

/// <summary>
/// A Dockerfile that cannot be read: a syntax error (unterminated quote or heredoc, bad JSON form, invalid directive)
/// or an instruction that is not valid (unknown instruction or flag, missing or extra arguments).
/// </summary>
/// <remarks>The message has the form <c>FILE:LINE:COLUMN: problem</c>; the parts are also available separately.</remarks>
public sealed class DockerfileSyntaxException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="file">The Dockerfile's name as the caller knows it, for example <c>Dockerfile</c>.</param>
    /// <param name="line">The 1-based line of the problem.</param>
    /// <param name="column">The 1-based column of the problem.</param>
    /// <param name="problem">What is wrong, without the location.</param>
    public DockerfileSyntaxException(string file, int line, int column, string problem)
        : base($"{file}:{line}:{column}: {problem}")
    {
        File = file;
        Line = line;
        Column = column;
        Problem = problem;
    }

    /// <summary>The Dockerfile's name as the caller gave it.</summary>
    public string File { get; }

    /// <summary>The 1-based line of the problem.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the problem.</summary>
    public int Column { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }
}
