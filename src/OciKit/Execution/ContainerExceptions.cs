using OciKit.Primitives;

namespace OciKit.Execution;

/// <summary>No container runtime is usable here: none installed, or the one asked for cannot run as this user.</summary>
public sealed class ContainerRuntimeNotFoundException : OciException
{
    /// <inheritdoc/>
    public override FailureKind Kind => FailureKind.NotSupported;

    /// <summary>Creates the exception.</summary>
    /// <param name="requested">The runtime asked for (a name or a path), or <see langword="null"/> for automatic selection.</param>
    /// <param name="message">What was looked for and what to install.</param>
    public ContainerRuntimeNotFoundException(string? requested, string message)
        : base(message)
    {
        Requested = requested;
    }

    /// <summary>The runtime asked for, or <see langword="null"/> for automatic selection.</summary>
    public string? Requested { get; }
}

/// <summary>
/// A container process could not be started: its user is unknown in the image, or the runtime refused the
/// container (its message is included). A process that ran and failed is an exit code, not this exception.
/// </summary>
public sealed class ContainerRunException : OciException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runtime">The runtime's name (<c>runc</c>, <c>crun</c>, <c>bwrap</c>).</param>
    /// <param name="message">What failed.</param>
    /// <param name="kind"><see cref="FailureKind.Caller"/> when the input is wrong (an unknown user), <see cref="FailureKind.IO"/> when the runtime failed.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public ContainerRunException(string runtime, string message, FailureKind kind = FailureKind.IO, Exception? innerException = null)
        : base(message, innerException)
    {
        Runtime = runtime;
        Kind = kind;
    }

    /// <inheritdoc/>
    public override FailureKind Kind { get; }

    /// <summary>The runtime's name.</summary>
    public string Runtime { get; }
}
