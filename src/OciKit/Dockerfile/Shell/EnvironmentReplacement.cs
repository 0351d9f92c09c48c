using System.Collections.Frozen;

namespace OciKit.Dockerfile.Shell;

/// <summary>
/// Which Dockerfile instructions have their arguments expanded with build args and environment variables
/// (the Dockerfile reference, "Environment replacement").
/// </summary>
/// <remarks>
/// <c>RUN</c>, <c>CMD</c>, <c>ENTRYPOINT</c>, <c>SHELL</c> and <c>HEALTHCHECK</c> are not expanded by the builder: their
/// shell text is left to the shell inside the container. <c>ONBUILD</c> itself is not expanded either; its trigger is
/// expanded when it runs in the child build, according to the trigger's own instruction.
/// </remarks>
public static class EnvironmentReplacement
{
    /// <summary>The instructions whose arguments are expanded, in upper case.</summary>
    public static IReadOnlySet<string> Instructions { get; } = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR");

    /// <summary>Whether the builder expands variables in the arguments of <paramref name="instruction"/>.</summary>
    /// <param name="instruction">An instruction keyword, in any case (for example <c>COPY</c> or <c>run</c>).</param>
    /// <returns><see langword="true"/> for ADD, ARG (its default value), COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="instruction"/> is null.</exception>
    public static bool AppliesTo(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return Instructions.Contains(instruction);
    }

    /// <summary>Whether the builder expands an <c>ONBUILD</c> trigger when it runs in a child build.</summary>
    /// <param name="triggerInstruction">The keyword of the instruction the trigger holds (for example <c>COPY</c>).</param>
    /// <returns>The same answer as <see cref="AppliesTo"/> for that keyword.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="triggerInstruction"/> is null.</exception>
    public static bool AppliesToOnBuildTrigger(string triggerInstruction) => AppliesTo(triggerInstruction);
}
