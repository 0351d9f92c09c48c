using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>
/// A Dockerfile that cannot be built as written: a missing or forbidden source, an unknown or cyclic stage, a RUN
/// command that failed (<see cref="ExitCode"/>), an unsafe archive. The message names the file and line.
/// </summary>
public sealed class BuildException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.Caller;

    /// <summary>Creates the exception.</summary>
    /// <param name="file">The Dockerfile's name as the caller gave it.</param>
    /// <param name="line">The 1-based line of the failing instruction (0 when the failure belongs to no line).</param>
    /// <param name="problem">What is wrong, without the location.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public BuildException(string file, int line, string problem, Exception? innerException = null)
        : base(line > 0 ? $"{file}:{line}: {problem}" : $"{file}: {problem}", innerException)
    {
        File = file;
        Line = line;
        Problem = problem;
    }

    /// <summary>The Dockerfile's name.</summary>
    public string File { get; }

    /// <summary>The 1-based line of the failing instruction, or 0.</summary>
    public int Line { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }

    /// <summary>For a RUN whose command failed: its exit code (128 + the signal's number when a signal killed it); else null.</summary>
    public int? ExitCode { get; init; }

    /// <summary>For a RUN whose command failed: the last lines it wrote (secrets masked), also shown in the message; else empty.</summary>
    public IReadOnlyList<string> OutputTail { get; init; } = [];
}
