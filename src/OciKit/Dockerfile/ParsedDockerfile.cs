using System.Collections.Immutable;

namespace OciKit.Dockerfile;

/// <summary>
/// A Dockerfile as typed instructions: the global ARGs before the first FROM and the build stages.
/// </summary>
/// <param name="Syntax">The syntax tree the instructions were built from.</param>
/// <param name="GlobalArgs">The ARG instructions before the first FROM.</param>
/// <param name="Stages">The build stages in order.</param>
public sealed record ParsedDockerfile(DockerfileSyntaxTree Syntax, ImmutableArray<ArgInstruction> GlobalArgs, ImmutableArray<Stage> Stages)
{
    /// <summary>Parses Dockerfile text into typed instructions and stages.</summary>
    /// <param name="text">The Dockerfile's content.</param>
    /// <param name="fileName">The name used in error messages.</param>
    /// <returns>The parsed Dockerfile.</returns>
    /// <exception cref="DockerfileSyntaxException">The text is not a valid Dockerfile.</exception>
    public static ParsedDockerfile Parse(string text, string fileName = DockerfileSyntaxTree.DefaultFileName) =>
        FromSyntaxTree(DockerfileSyntaxTree.Parse(text, fileName), fileName);

    /// <summary>Parses Dockerfile text into typed instructions, reporting an error instead of throwing it.</summary>
    /// <param name="text">The Dockerfile's content.</param>
    /// <param name="dockerfile">The parsed Dockerfile, or <see langword="null"/> on error.</param>
    /// <param name="error">The error, or <see langword="null"/> on success.</param>
    /// <param name="fileName">The name used in error messages.</param>
    /// <returns>Whether the text parsed.</returns>
    public static bool TryParse(
        string text,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ParsedDockerfile? dockerfile,
        out DockerfileSyntaxException? error,
        string fileName = DockerfileSyntaxTree.DefaultFileName)
    {
        try
        {
            dockerfile = Parse(text, fileName);
            error = null;
            return true;
        }
        catch (DockerfileSyntaxException e)
        {
            dockerfile = null;
            error = e;
            return false;
        }
    }

    /// <summary>Builds typed instructions and stages from a syntax tree.</summary>
    /// <param name="tree">The syntax tree.</param>
    /// <param name="fileName">The name used in error messages.</param>
    /// <returns>The parsed Dockerfile.</returns>
    /// <exception cref="DockerfileSyntaxException">
    /// An instruction is unknown, has an unknown or invalid flag, or has the wrong arguments; or an instruction other
    /// than ARG comes before the first FROM.
    /// </exception>
    public static ParsedDockerfile FromSyntaxTree(DockerfileSyntaxTree tree, string fileName = DockerfileSyntaxTree.DefaultFileName)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(fileName);
        var builder = new InstructionBuilder(fileName, tree.Directives.Escape);
        var globalArgs = ImmutableArray.CreateBuilder<ArgInstruction>();
        var stages = ImmutableArray.CreateBuilder<Stage>();
        FromInstruction? from = null;
        var body = ImmutableArray.CreateBuilder<Instruction>();
        foreach (var node in tree.Instructions)
        {
            var instruction = builder.Build(node);
            switch (instruction)
            {
                case FromInstruction f:
                    Flush();
                    from = f;
                    break;
                case ArgInstruction a when from is null:
                    globalArgs.Add(a);
                    break;
                case var _ when from is null:
                    throw new DockerfileSyntaxException(fileName, node.StartLine, node.Column, "no build stage in current context");
                default:
                    body.Add(instruction);
                    break;
            }
        }

        Flush();
        return new ParsedDockerfile(tree, globalArgs.ToImmutable(), stages.ToImmutable());

        void Flush()
        {
            if (from is not null)
            {
                stages.Add(new Stage(from.StageName, stages.Count, from, body.ToImmutable()));
                body.Clear();
            }
        }
    }

    /// <summary>The stage with the given name (case-insensitive), or <see langword="null"/>.</summary>
    /// <param name="name">The stage name.</param>
    /// <returns>The stage.</returns>
    public Stage? FindStage(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var stage in Stages)
        {
            if (string.Equals(stage.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return stage;
            }
        }

        return null;
    }
}
