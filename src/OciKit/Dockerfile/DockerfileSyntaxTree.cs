using System.Collections.Immutable;

namespace OciKit.Dockerfile;

/// <summary>
/// The syntax tree of a Dockerfile, as BuildKit's parser produces it: parser directives and one node per instruction,
/// with arguments split per keyword but nothing expanded or validated beyond syntax.
/// </summary>
/// <remarks>
/// Build typed instructions and stages from the tree with <see cref="ParsedDockerfile.FromSyntaxTree"/>.
/// See the <see href="https://docs.docker.com/reference/dockerfile/">Dockerfile reference</see>.
/// </remarks>
/// <param name="Directives">The parser directives at the top of the file.</param>
/// <param name="Instructions">The instructions in source order.</param>
public sealed record DockerfileSyntaxTree(DockerfileDirectives Directives, ImmutableArray<DockerfileNode> Instructions)
{
    /// <summary>The file name used in error messages when the caller gives none.</summary>
    public const string DefaultFileName = "Dockerfile";

    /// <summary>Parses Dockerfile text into a syntax tree.</summary>
    /// <param name="text">The Dockerfile's content.</param>
    /// <param name="fileName">The name used in error messages.</param>
    /// <returns>The syntax tree.</returns>
    /// <exception cref="DockerfileSyntaxException">The text is not a syntactically valid Dockerfile.</exception>
    public static DockerfileSyntaxTree Parse(string text, string fileName = DefaultFileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        return new DockerfileParser(fileName).Parse(text);
    }

    /// <summary>Parses Dockerfile text into a syntax tree, reporting a syntax error instead of throwing it.</summary>
    /// <param name="text">The Dockerfile's content.</param>
    /// <param name="tree">The syntax tree, or <see langword="null"/> on error.</param>
    /// <param name="error">The syntax error, or <see langword="null"/> on success.</param>
    /// <param name="fileName">The name used in error messages.</param>
    /// <returns>Whether the text parsed.</returns>
    public static bool TryParse(
        string text,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DockerfileSyntaxTree? tree,
        out DockerfileSyntaxException? error,
        string fileName = DefaultFileName)
    {
        try
        {
            tree = Parse(text, fileName);
            error = null;
            return true;
        }
        catch (DockerfileSyntaxException e)
        {
            tree = null;
            error = e;
            return false;
        }
    }

    /// <summary>
    /// The tree as JSON: <c>{"directives": {...}, "instructions": [{"keyword", "flags", "args", "json", "legacyForm",
    /// "heredocs", "startLine", "endLine", "next"}]}</c>.
    /// </summary>
    /// <param name="indented">Whether to indent the output.</param>
    /// <returns>The JSON text.</returns>
    public string ToJson(bool indented = true) => DockerfileJson.Write(this, indented);

    /// <summary>Prints the tree back as Dockerfile text that parses to an equivalent tree.</summary>
    /// <returns>The Dockerfile text.</returns>
    public string Format() => DockerfilePrinter.Format(this);

    /// <summary>Whether both trees are equal, comparing instructions element by element.</summary>
    /// <param name="other">The other tree.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(DockerfileSyntaxTree? other) =>
        other is not null && Directives == other.Directives && ValueEquality.Equal(Instructions, other.Instructions);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Directives, ValueEquality.Hash(Instructions));
}

/// <summary>
/// The parser directives of a Dockerfile (<c># syntax=</c>, <c># escape=</c>, <c># check=</c>), which are only
/// recognized before the first instruction, comment or empty line.
/// </summary>
/// <param name="Escape">The escape character: <c>\</c> (the default) or <c>`</c>.</param>
/// <param name="Syntax">The <c>syntax</c> directive's value, if present.</param>
/// <param name="Check">The <c>check</c> directive's value, if present.</param>
public sealed record DockerfileDirectives(char Escape = '\\', string? Syntax = null, string? Check = null)
{
    /// <summary>The directives of a Dockerfile that has none.</summary>
    public static DockerfileDirectives Default { get; } = new();
}

/// <summary>A here-document attached to a RUN, COPY or ADD instruction (<c>&lt;&lt;EOF</c>).</summary>
/// <param name="Name">The delimiter word with any quotes removed, for example <c>EOF</c>.</param>
/// <param name="Content">
/// The lines between the instruction and the delimiter, each with its line ending; with <see cref="Chomp"/> the
/// leading tabs of every line are already removed.
/// </param>
/// <param name="Expand">Whether variables in the content are expanded (false when the delimiter was quoted).</param>
/// <param name="Chomp">Whether the heredoc was written <c>&lt;&lt;-EOF</c> (leading tabs stripped).</param>
/// <param name="FileDescriptor">The file descriptor written before <c>&lt;&lt;</c>, or 0.</param>
public sealed record DockerfileHeredoc(string Name, string Content, bool Expand, bool Chomp = false, int FileDescriptor = 0);

/// <summary>One instruction of the syntax tree.</summary>
/// <param name="Keyword">The instruction keyword in lower case, for example <c>copy</c>.</param>
/// <param name="Flags">The leading <c>--flag</c> words in order, quotes and escapes removed.</param>
/// <param name="Args">
/// The arguments split as the keyword requires, unexpanded; for ENV and LABEL the keys and values alternate.
/// </param>
public sealed record DockerfileNode(string Keyword, ImmutableArray<string> Flags, ImmutableArray<string> Args)
{
    /// <summary>Whether the arguments were written in JSON (exec) form.</summary>
    public bool IsJson { get; init; }

    /// <summary>Whether an ENV or LABEL used the legacy <c>KEY value</c> form.</summary>
    public bool IsLegacyForm { get; init; }

    /// <summary>The heredocs of a RUN, COPY or ADD, in the order they appear.</summary>
    public ImmutableArray<DockerfileHeredoc> Heredocs { get; init; } = [];

    /// <summary>The 1-based line the instruction starts on.</summary>
    public int StartLine { get; init; }

    /// <summary>The 1-based last line of the instruction, including continuation lines and heredocs.</summary>
    public int EndLine { get; init; }

    /// <summary>The 1-based column of the keyword on <see cref="StartLine"/>.</summary>
    public int Column { get; init; }

    /// <summary>The instruction's text with continuation lines joined, trimmed.</summary>
    public string Original { get; init; } = "";

    /// <summary>The trigger instruction of an ONBUILD, parsed as a full instruction.</summary>
    public DockerfileNode? Next { get; init; }

    /// <summary>Where each flag starts, parallel to <see cref="Flags"/>.</summary>
    internal ImmutableArray<SourcePosition> FlagPositions { get; init; } = [];

    /// <summary>Where the arguments start.</summary>
    internal SourcePosition ArgsPosition { get; init; }

    /// <summary>The position of the keyword.</summary>
    internal SourcePosition Position => new(StartLine, Column);

    /// <summary>Prints the instruction back as Dockerfile text (including heredoc bodies).</summary>
    /// <returns>The Dockerfile text, ending with a newline.</returns>
    public string Format() => DockerfilePrinter.Format(this);

    /// <summary>Whether both nodes are equal, comparing flags, arguments and heredocs element by element.</summary>
    /// <param name="other">The other node.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(DockerfileNode? other) =>
        other is not null
        && Keyword == other.Keyword
        && IsJson == other.IsJson
        && IsLegacyForm == other.IsLegacyForm
        && StartLine == other.StartLine
        && EndLine == other.EndLine
        && Column == other.Column
        && Original == other.Original
        && ArgsPosition == other.ArgsPosition
        && ValueEquality.Equal(Flags, other.Flags)
        && ValueEquality.Equal(Args, other.Args)
        && ValueEquality.Equal(Heredocs, other.Heredocs)
        && ValueEquality.Equal(FlagPositions, other.FlagPositions)
        && Equals(Next, other.Next);

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(Keyword, StartLine, Column, ValueEquality.Hash(Flags), ValueEquality.Hash(Args), Next);
}

/// <summary>A 1-based line and column.</summary>
internal readonly record struct SourcePosition(int Line, int Column);
