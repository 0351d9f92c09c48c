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
    private const string NoBuildStage = "no build stage in current context";

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
        return Build(tree, fileName, diagnostics: null)!;
    }

    /// <summary>
    /// Parses Dockerfile text into a syntax tree and reports, instead of throwing, every problem that building typed
    /// instructions from it (and so a build) would reject: an unknown instruction or flag, wrong arguments, an
    /// instruction other than ARG before the first FROM, or no FROM at all.
    /// </summary>
    /// <remarks>
    /// Like BuildKit's parser, the syntax step accepts any keyword line, so a fragment without FROM, a bare
    /// HEALTHCHECK or an unknown flag still gives a tree. The first diagnostic is the error
    /// <see cref="FromSyntaxTree"/> would throw, if it throws.
    /// </remarks>
    /// <param name="text">The Dockerfile's content.</param>
    /// <param name="fileName">The name used in messages.</param>
    /// <returns>The tree, the typed instructions when there is no problem, and the problems.</returns>
    /// <exception cref="DockerfileSyntaxException">The text is not syntactically a Dockerfile (what BuildKit's parser rejects).</exception>
    public static DockerfileAnalysis Analyze(string text, string fileName = DockerfileSyntaxTree.DefaultFileName) =>
        Analyze(DockerfileSyntaxTree.Parse(text, fileName), fileName);

    /// <summary>
    /// Reports, instead of throwing, every problem that building typed instructions from a syntax tree (and so a
    /// build) would reject. See <see cref="Analyze(string, string)"/>.
    /// </summary>
    /// <param name="tree">The syntax tree.</param>
    /// <param name="fileName">The name used in messages.</param>
    /// <returns>The tree, the typed instructions when there is no problem, and the problems.</returns>
    public static DockerfileAnalysis Analyze(DockerfileSyntaxTree tree, string fileName = DockerfileSyntaxTree.DefaultFileName)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(fileName);
        var diagnostics = new List<DockerfileDiagnostic>();
        var dockerfile = Build(tree, fileName, diagnostics);
        if (!tree.Instructions.Any(n => n.Keyword == "from") && !diagnostics.Any(d => d.Problem == NoBuildStage))
        {
            // Only global ARGs (or instructions that could not be built): still no stage to build, as the build says.
            var (line, column) = tree.Instructions.IsEmpty ? (1, 1) : (tree.Instructions[0].StartLine, tree.Instructions[0].Column);
            diagnostics.Add(new DockerfileDiagnostic(fileName, Math.Max(1, line), Math.Max(1, column), "the Dockerfile has no FROM instruction"));
        }

        return new DockerfileAnalysis(tree, dockerfile, [.. diagnostics]);
    }

    /// <summary>
    /// Builds the stages; with <paramref name="diagnostics"/> null the first problem is thrown, otherwise every
    /// problem is added there (at most one per instruction) and the result is null if there was any.
    /// </summary>
    private static ParsedDockerfile? Build(DockerfileSyntaxTree tree, string fileName, List<DockerfileDiagnostic>? diagnostics)
    {
        var builder = new InstructionBuilder(fileName, tree.Directives.Escape);
        var globalArgs = ImmutableArray.CreateBuilder<ArgInstruction>();
        var stages = ImmutableArray.CreateBuilder<Stage>();
        FromInstruction? from = null;
        var sawFrom = false;
        var reportedNoStage = false;
        var body = ImmutableArray.CreateBuilder<Instruction>();
        foreach (var node in tree.Instructions)
        {
            Instruction instruction;
            try
            {
                instruction = builder.Build(node);
            }
            catch (DockerfileSyntaxException e) when (diagnostics is not null)
            {
                diagnostics.Add(DockerfileDiagnostic.From(e));
                // A FROM that could not be built still opens a stage, so what follows is not also "before FROM".
                sawFrom |= node.Keyword == "from";
                continue;
            }

            switch (instruction)
            {
                case FromInstruction f:
                    Flush();
                    from = f;
                    sawFrom = true;
                    break;
                case ArgInstruction a when !sawFrom:
                    globalArgs.Add(a);
                    break;
                case var _ when !sawFrom:
                    var problem = new DockerfileSyntaxException(fileName, node.StartLine, node.Column, NoBuildStage);
                    if (diagnostics is null)
                    {
                        throw problem;
                    }

                    // Said once, at the first such instruction: a fragment without FROM is one problem, not one per line.
                    if (!reportedNoStage)
                    {
                        diagnostics.Add(DockerfileDiagnostic.From(problem));
                        reportedNoStage = true;
                    }

                    break;
                default:
                    body.Add(instruction);
                    break;
            }
        }

        Flush();
        return diagnostics is { Count: > 0 } ? null : new ParsedDockerfile(tree, globalArgs.ToImmutable(), stages.ToImmutable());

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
