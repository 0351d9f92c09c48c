using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OciKit.Dockerfile;

/// <summary>
/// Turns Dockerfile text into a <see cref="DockerfileSyntaxTree"/>, following the behaviour of BuildKit's parser.
/// </summary>
/// <remarks>
/// Written by hand: no .NET library parses Dockerfiles. Behaviour follows the
/// <see href="https://docs.docker.com/reference/dockerfile/">Dockerfile reference</see> and BuildKit's parser.
/// </remarks>
internal sealed partial class DockerfileParser(string fileName)
{
    private static readonly HashSet<string> HeredocKeywords = new(StringComparer.Ordinal) { "run", "copy", "add" };

    private const int MaxOnbuildDepth = 32;

    // bufio.MaxScanTokenSize: the longest line (with its newline) BuildKit's scanner reads.
    private const int MaxLineBytes = 64 * 1024;

    private char _escape = '\\';
    private bool _directivesDone;
    private bool _escapeSeen;
    private string? _syntax;
    private string? _check;

    // `key=value` after the `#` of a directive line (see "Parser directives" in the Dockerfile reference).
    [GeneratedRegex(@"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$", RegexOptions.CultureInvariant)]
    private static partial Regex DirectiveRegex();

    // The ASCII whitespace BuildKit splits keywords and whitespace-separated arguments on.
    [GeneratedRegex(@"[\t\v\f\r ]+", RegexOptions.CultureInvariant)]
    private static partial Regex WhitespaceRegex();

    // A heredoc word: optional file descriptor, <<, optional -, delimiter.
    [GeneratedRegex(@"^(\d*)<<(-?)([^<]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex HeredocRegex();

    public DockerfileSyntaxTree Parse(string text)
    {
        var lines = SplitLines(text);
        var tooLongAt = lines.FindIndex(l => IsTooLong(l.Raw));
        if (tooLongAt >= 0)
        {
            // BuildKit's line scanner stops at the first line over 64 KiB: what precedes it is parsed, then it fails.
            lines.RemoveRange(tooLongAt, lines.Count - tooLongAt);
        }

        var nodes = ImmutableArray.CreateBuilder<DockerfileNode>();
        var i = 0;
        while (i < lines.Count)
        {
            var content = lines[i].Content;
            var lineNumber = i + 1;
            i++;
            var trimmed = TrimLeadingWhitespace(content);
            PossibleDirective(trimmed, lineNumber);
            if (IsComment(content))
            {
                continue;
            }

            var (first, endOfLine) = TrimContinuation(trimmed);
            if (endOfLine && first.Length == 0)
            {
                continue;
            }

            var startLine = lineNumber;
            var map = new SourceMap();
            var joined = new StringBuilder(first);
            map.Add(0, startLine, content.Length - trimmed.Length + 1);
            while (!endOfLine && i < lines.Count)
            {
                var next = lines[i].Content;
                lineNumber = i + 1;
                i++;
                PossibleDirective(next, lineNumber);
                if (IsComment(next) || TrimLeadingWhitespace(next).Length == 0)
                {
                    continue;
                }

                (var piece, endOfLine) = TrimContinuation(next);
                map.Add(joined.Length, lineNumber, 1);
                joined.Append(piece);
            }

            var line = joined.ToString();
            var node = NewNodeFromLine(line, 0, map, startLine);
            // ONBUILD RUN/COPY/ADD read heredocs too; they are attached to the ONBUILD node, as BuildKit does.
            var heredocTarget = node.Keyword == "onbuild" && node.Next is { } trigger ? trigger : node;
            if (HeredocKeywords.Contains(heredocTarget.Keyword) && !heredocTarget.IsJson && line.Contains("<<", StringComparison.Ordinal))
            {
                var heredocs = ImmutableArray.CreateBuilder<DockerfileHeredoc>();
                foreach (var heredoc in HeredocsFromLine(line, node.Position))
                {
                    var body = new StringBuilder();
                    var terminated = false;
                    while (i < lines.Count)
                    {
                        var (raw, candidate) = lines[i];
                        lineNumber = i + 1;
                        i++;
                        if (heredoc.Chomp)
                        {
                            candidate = candidate.TrimStart('\t');
                        }

                        if (candidate == heredoc.Name)
                        {
                            terminated = true;
                            break;
                        }

                        body.Append(heredoc.Chomp ? raw.TrimStart('\t') : raw);
                    }

                    if (!terminated)
                    {
                        throw Error(node.Position, $"unterminated heredoc {heredoc.Name}");
                    }

                    heredocs.Add(heredoc with { Content = body.ToString() });
                }

                node = node with { Heredocs = heredocs.ToImmutable() };
            }

            nodes.Add(node with { EndLine = lineNumber });
        }

        if (nodes.Count == 0)
        {
            throw Error(new SourcePosition(Math.Max(1, lines.Count), 1), "file with no instructions");
        }

        if (tooLongAt >= 0)
        {
            throw Error(new SourcePosition(Math.Max(1, tooLongAt), 1), $"dockerfile line greater than max allowed size of {MaxLineBytes - 1}");
        }

        return new DockerfileSyntaxTree(new DockerfileDirectives(_escape, _syntax, _check), nodes.ToImmutable());
    }

    private static bool IsTooLong(string raw)
    {
        var content = raw.EndsWith('\n') ? raw.AsSpan(0, raw.Length - 1) : raw.AsSpan();
        return content.Length * 3 >= MaxLineBytes && Encoding.UTF8.GetByteCount(content) >= MaxLineBytes;
    }

    private DockerfileSyntaxException Error(SourcePosition at, string problem) => new(fileName, at.Line, at.Column, problem);

    private static List<(string Raw, string Content)> SplitLines(string text)
    {
        var lines = new List<(string, string)>();
        var start = text.StartsWith('\uFEFF') ? 1 : 0;
        while (start < text.Length)
        {
            var end = text.IndexOf('\n', start);
            var raw = end < 0 ? text[start..] : text[start..(end + 1)];
            // Like BuildKit, every trailing CR and LF is dropped from the line's content (heredoc bodies keep them).
            var content = raw.TrimEnd('\r', '\n');
            lines.Add((raw, content));
            start = end < 0 ? text.Length : end + 1;
        }

        return lines;
    }

    private void PossibleDirective(string line, int lineNumber)
    {
        if (_directivesDone)
        {
            return;
        }

        var match = line.StartsWith('#') ? DirectiveRegex().Match(TrimLeadingWhitespace(line[1..])) : Match.Empty;
        if (!match.Success)
        {
            _directivesDone = true;
            return;
        }

        var key = match.Groups[1].Value.ToLowerInvariant();
        var value = match.Groups[2].Value;
        var at = new SourcePosition(lineNumber, 1);
        switch (key)
        {
            case "escape":
                if (_escapeSeen)
                {
                    throw Error(at, "only one escape parser directive can be used");
                }

                if (value is not ("\\" or "`"))
                {
                    throw Error(at, $"invalid escape token '{value}' does not match ` or \\");
                }

                _escapeSeen = true;
                _escape = value[0];
                break;
            case "syntax":
                _syntax = _syntax is null ? value : throw Error(at, "only one syntax parser directive can be used");
                break;
            case "check":
                _check = _check is null ? value : throw Error(at, "only one check parser directive can be used");
                break;
            default:
                // An unknown directive is an ordinary comment and ends the directive section.
                _directivesDone = true;
                break;
        }
    }

    private static bool IsComment(string line) => TrimLeadingWhitespace(line).StartsWith('#');

    private static string TrimLeadingWhitespace(string line)
    {
        var i = 0;
        while (i < line.Length && char.IsWhiteSpace(line[i]))
        {
            i++;
        }

        return i == 0 ? line : line[i..];
    }

    private (string Line, bool EndOfLine) TrimContinuation(string line)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] is ' ' or '\t')
        {
            end--;
        }

        // The escape character continues the line unless it is itself escaped (BuildKit's rule: an escape preceded by
        // another escape, as in "echo \\", ends the line).
        var continues = end > 0 && line[end - 1] == _escape && (end == 1 || line[end - 2] != _escape);
        return continues ? (line[..(end - 1)], false) : (line, true);
    }

    private DockerfileNode NewNodeFromLine(string line, int baseOffset, SourceMap map, int startLine, int depth = 0)
    {
        var start = 0;
        while (start < line.Length && char.IsWhiteSpace(line[start]))
        {
            start++;
        }

        var end = line.Length;
        while (end > start && char.IsWhiteSpace(line[end - 1]))
        {
            end--;
        }

        var trimmed = line[start..end];
        var keywordPosition = map.Locate(baseOffset + start);
        var split = WhitespaceRegex().Match(trimmed);
        var keyword = (split.Success ? trimmed[..split.Index] : trimmed).ToLowerInvariant();
        var restOffset = split.Success ? split.Index + split.Length : trimmed.Length;
        var flags = ImmutableArray<string>.Empty;
        var flagPositions = ImmutableArray<SourcePosition>.Empty;
        var argsOffset = restOffset;
        if (split.Success)
        {
            var (argsStart, flagWords) = ExtractBuilderFlags(trimmed, restOffset);
            flags = [.. flagWords.Select(f => f.Text)];
            flagPositions = [.. flagWords.Select(f => map.Locate(baseOffset + start + f.Offset))];
            argsOffset = argsStart;
        }

        while (argsOffset < trimmed.Length && char.IsWhiteSpace(trimmed[argsOffset]))
        {
            argsOffset++;
        }

        var rest = trimmed[argsOffset..];
        var argsPosition = map.Locate(baseOffset + start + argsOffset);
        var node = new DockerfileNode(keyword, flags, [])
        {
            StartLine = startLine,
            EndLine = startLine,
            Column = keywordPosition.Column,
            Original = trimmed,
            FlagPositions = flagPositions,
            ArgsPosition = argsPosition,
        };

        switch (keyword)
        {
            case "run" or "cmd" or "entrypoint" or "shell":
                return ParseMaybeJson(node, rest, argsPosition);
            case "add" or "copy" or "volume":
                return ParseMaybeJsonToList(node, rest, argsPosition);
            case "from" or "expose":
                return node with { Args = SplitWhitespace(rest) };
            case "maintainer" or "user" or "workdir" or "stopsignal":
                return node with { Args = rest.Length == 0 ? [] : [rest] };
            case "env" or "label":
                return ParseNameValue(node, rest, argsPosition);
            case "arg":
                return node with { Args = [.. ParseWords(rest)] };
            case "healthcheck":
                return ParseHealthcheck(node, rest, argsPosition);
            case "onbuild":
                if (depth >= MaxOnbuildDepth)
                {
                    // BuildKit recurses without limit; a bound keeps hostile input from exhausting the stack.
                    throw Error(keywordPosition, "ONBUILD nested too deeply");
                }

                return rest.Length == 0 ? node : node with { Next = NewNodeFromLine(rest, baseOffset + start + argsOffset, map, startLine, depth + 1) };
            default:
                // Unknown keywords are reported when instructions are built; keep the rest for the message and printing.
                return node with { Args = rest.Length == 0 ? [] : [rest] };
        }
    }

    private DockerfileNode ParseMaybeJson(DockerfileNode node, string rest, SourcePosition at)
    {
        if (rest.Length == 0)
        {
            return node;
        }

        return TryParseJsonArray(rest, at) is { } array ? node with { Args = array, IsJson = true } : node with { Args = [rest] };
    }

    private DockerfileNode ParseMaybeJsonToList(DockerfileNode node, string rest, SourcePosition at) =>
        TryParseJsonArray(rest, at) is { } array ? node with { Args = array, IsJson = true } : node with { Args = SplitWhitespace(rest) };

    /// <summary>
    /// The exec form: text starting with a JSON array of strings (text after the array is ignored, as BuildKit's
    /// streaming decoder does). Returns null when the text is not JSON; throws when it is an array with a non-string.
    /// </summary>
    private ImmutableArray<string>? TryParseJsonArray(string rest, SourcePosition at)
    {
        var text = TrimLeadingWhitespace(rest);
        if (!text.StartsWith('['))
        {
            return null;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 10_000 });
        var items = ImmutableArray.CreateBuilder<string>();
        var nonString = false;
        try
        {
            reader.Read();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType == JsonTokenType.String)
                {
                    items.Add(reader.GetString()!);
                }
                else
                {
                    nonString = true;
                    if (!reader.TrySkip())
                    {
                        return null;
                    }
                }
            }

            if (reader.TokenType != JsonTokenType.EndArray)
            {
                return null;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }

        if (nonString)
        {
            throw Error(at, "when using JSON array syntax, arrays must be comprised of strings only");
        }

        return items.ToImmutable();
    }

    private static ImmutableArray<string> SplitWhitespace(string rest) =>
        rest.Length == 0 ? [] : [.. WhitespaceRegex().Split(rest).Where(s => s.Length > 0)];

    private DockerfileNode ParseNameValue(DockerfileNode node, string rest, SourcePosition at)
    {
        var words = ParseWords(rest);
        if (words.Count == 0)
        {
            return node;
        }

        var keyword = node.Keyword.ToUpperInvariant();
        if (!words[0].Contains('=', StringComparison.Ordinal))
        {
            var parts = WhitespaceRegex().Split(rest, 2);
            if (parts.Length < 2)
            {
                throw Error(at, $"{keyword} must have two arguments");
            }

            return node with { Args = [parts[0], parts[1]], IsLegacyForm = true };
        }

        var args = ImmutableArray.CreateBuilder<string>(words.Count * 2);
        foreach (var word in words)
        {
            var eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                throw Error(at, $"Syntax error - can't find = in \"{word}\". Must be of the form: name=value");
            }

            args.Add(word[..eq]);
            args.Add(word[(eq + 1)..]);
        }

        return node with { Args = args.MoveToImmutable() };
    }

    private DockerfileNode ParseHealthcheck(DockerfileNode node, string rest, SourcePosition at)
    {
        var sep = 0;
        while (sep < rest.Length && !char.IsWhiteSpace(rest[sep]))
        {
            sep++;
        }

        if (sep == 0)
        {
            return node;
        }

        var next = sep;
        while (next < rest.Length && char.IsWhiteSpace(rest[next]))
        {
            next++;
        }

        var command = ParseMaybeJson(node, rest[next..], at);
        return command with { Args = [rest[..sep], .. command.Args] };
    }

    /// <summary>
    /// Splits on whitespace, keeping quotes and escapes as written (a quoted part may contain whitespace).
    /// </summary>
    private List<string> ParseWords(string rest)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        var blankOk = false;
        var quote = '\0';
        for (var pos = 0; pos < rest.Length; pos++)
        {
            var ch = rest[pos];
            if (quote != '\0')
            {
                if (ch == quote)
                {
                    quote = '\0';
                }
                else if (ch == _escape && quote != '\'')
                {
                    if (pos + 1 == rest.Length)
                    {
                        quote = '\0';
                        continue;
                    }

                    word.Append(ch);
                    ch = rest[++pos];
                }

                word.Append(ch);
                continue;
            }

            if (char.IsWhiteSpace(ch))
            {
                if (inWord && (blankOk || word.Length > 0))
                {
                    words.Add(word.ToString());
                }

                inWord = false;
                word.Clear();
                blankOk = false;
                continue;
            }

            inWord = true;
            if (ch is '\'' or '"')
            {
                quote = ch;
                blankOk = true;
            }
            else if (ch == _escape)
            {
                if (pos + 1 == rest.Length)
                {
                    continue;
                }

                word.Append(ch);
                ch = rest[++pos];
            }

            word.Append(ch);
        }

        if (inWord && (blankOk || word.Length > 0))
        {
            words.Add(word.ToString());
        }

        return words;
    }

    /// <summary>
    /// Reads the leading <c>--flag</c> words (quotes and backslash escapes removed; a bare <c>--</c> ends them).
    /// Returns where the arguments start and each flag with its offset.
    /// </summary>
    private static (int ArgsStart, List<(string Text, int Offset)> Flags) ExtractBuilderFlags(string line, int pos)
    {
        var flags = new List<(string, int)>();
        while (true)
        {
            while (pos < line.Length && char.IsWhiteSpace(line[pos]))
            {
                pos++;
            }

            if (pos + 1 >= line.Length || line[pos] != '-' || line[pos + 1] != '-')
            {
                return (pos, flags);
            }

            var wordStart = pos;
            var word = new StringBuilder();
            var blankOk = false;
            var quote = '\0';
            for (; pos < line.Length; pos++)
            {
                var ch = line[pos];
                if (quote != '\0')
                {
                    if (ch == quote)
                    {
                        quote = '\0';
                        continue;
                    }

                    if (ch == '\\')
                    {
                        if (pos + 1 == line.Length)
                        {
                            quote = '\0';
                            continue;
                        }

                        ch = line[++pos];
                    }

                    word.Append(ch);
                    continue;
                }

                if (char.IsWhiteSpace(ch))
                {
                    break;
                }

                if (ch is '\'' or '"')
                {
                    quote = ch;
                    blankOk = true;
                    continue;
                }

                if (ch == '\\')
                {
                    if (pos + 1 == line.Length)
                    {
                        continue;
                    }

                    ch = line[++pos];
                }

                word.Append(ch);
            }

            var text = word.ToString();
            if (text == "--")
            {
                return (pos, flags);
            }

            if (blankOk || text.Length > 0)
            {
                flags.Add((text, wordStart));
            }
        }
    }

    private List<DockerfileHeredoc> HeredocsFromLine(string line, SourcePosition at)
    {
        var heredocs = new List<DockerfileHeredoc>();
        if (ShellWords(line, raw: true) is not { } words)
        {
            return heredocs;
        }

        foreach (var word in words)
        {
            if (ParseHeredocWord(word, out var unterminated) is { } heredoc)
            {
                heredocs.Add(heredoc);
            }
            else if (unterminated)
            {
                throw Error(at, $"unterminated quote in heredoc delimiter {word}");
            }
        }

        return heredocs;
    }

    /// <summary>The heredoc delimiter name of a word such as <c>&lt;&lt;-"EOF"</c>, or null if it is not one.</summary>
    internal static string? HeredocName(string word) => ParseHeredocWord(word, out _)?.Name;

    private static DockerfileHeredoc? ParseHeredocWord(string word, out bool unterminated)
    {
        unterminated = false;
        var match = HeredocRegex().Match(word);
        if (!match.Success || match.Groups[3].Length == 0)
        {
            return null;
        }

        var rest = match.Groups[3].Value;
        var cooked = ShellWords(rest, raw: false);
        var raw = ShellWords(rest, raw: true);
        if (cooked is null || raw is null)
        {
            unterminated = true;
            return null;
        }

        if (cooked.Count != 1 || raw.Count != 1 || cooked[0].Length == 0)
        {
            return null;
        }

        var expand = CountQuotes(cooked[0]) == CountQuotes(raw[0]);
        var fd = 0;
        if (match.Groups[1].Length > 0 && !int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out fd))
        {
            return null;
        }

        return new DockerfileHeredoc(cooked[0], "", expand, match.Groups[2].Length > 0, fd);
    }

    private static int CountQuotes(string s) => s.Count(c => c is '\'' or '"');

    /// <summary>
    /// Splits a line into POSIX shell words (as the heredoc detection needs; no expansion). With <paramref name="raw"/>
    /// quotes and escapes are kept. Returns null on an unterminated quote.
    /// </summary>
    private static List<string>? ShellWords(string text, bool raw)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var pos = 0; pos < text.Length; pos++)
        {
            var ch = text[pos];
            if (ch is ' ' or '\t' or '\n' or '\r')
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                continue;
            }

            inWord = true;
            switch (ch)
            {
                case '\\':
                    if (raw)
                    {
                        word.Append(ch);
                    }

                    if (pos + 1 < text.Length)
                    {
                        word.Append(text[++pos]);
                    }

                    break;
                case '\'':
                    {
                        var close = text.IndexOf('\'', pos + 1);
                        if (close < 0)
                        {
                            return null;
                        }

                        word.Append(raw ? text.AsSpan(pos, close - pos + 1) : text.AsSpan(pos + 1, close - pos - 1));
                        pos = close;
                        break;
                    }

                case '"':
                    {
                        if (raw)
                        {
                            word.Append(ch);
                        }

                        pos++;
                        for (; pos < text.Length && text[pos] != '"'; pos++)
                        {
                            if (text[pos] == '\\' && pos + 1 < text.Length && text[pos + 1] is '"' or '\\' or '$' or '`')
                            {
                                if (raw)
                                {
                                    word.Append('\\');
                                }

                                pos++;
                            }

                            word.Append(text[pos]);
                        }

                        if (pos >= text.Length)
                        {
                            return null;
                        }

                        if (raw)
                        {
                            word.Append('"');
                        }

                        break;
                    }

                default:
                    word.Append(ch);
                    break;
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }

    /// <summary>Maps offsets in a joined (continued) line back to source lines and columns.</summary>
    private sealed class SourceMap
    {
        private readonly List<(int Offset, int Line, int Column)> _segments = [];

        public void Add(int offset, int line, int column) => _segments.Add((offset, line, column));

        public SourcePosition Locate(int offset)
        {
            var segment = _segments[0];
            foreach (var s in _segments)
            {
                if (s.Offset > offset)
                {
                    break;
                }

                segment = s;
            }

            return new SourcePosition(segment.Line, segment.Column + offset - segment.Offset);
        }
    }
}
