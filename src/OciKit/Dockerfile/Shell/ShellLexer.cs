using System.Buffers;
using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text;

namespace OciKit.Dockerfile.Shell;

/// <summary>
/// Quote removal, escapes and <c>$VAR</c> / <c>${VAR…}</c> expansion of Dockerfile words, exactly as BuildKit's
/// <c>frontend/dockerfile/shell</c> lexer does it (see the Dockerfile reference, "Environment replacement").
/// </summary>
/// <remarks>
/// <para>
/// Hand-written because no .NET library reproduces BuildKit's lexer; the behaviour is pinned by BuildKit's own test data.
/// </para>
/// <para>
/// Supported forms: <c>$NAME</c>, <c>${NAME}</c>, <c>${NAME:-word}</c>, <c>${NAME-word}</c>, <c>${NAME:+word}</c>,
/// <c>${NAME+word}</c>, <c>${NAME:?message}</c>, <c>${NAME?message}</c>, <c>${NAME#pattern}</c>,
/// <c>${NAME##pattern}</c>, <c>${NAME%pattern}</c>, <c>${NAME%%pattern}</c>, <c>${NAME/pattern/replacement}</c> and
/// <c>${NAME//pattern/replacement}</c>. Positional (<c>$1</c>) and special (<c>$@</c>, <c>$#</c>, …) parameters are
/// never set. Single quotes keep their content literally; double quotes allow expansion and escaping of
/// <c>"</c>, <c>$</c> and the escape character.
/// </para>
/// <para>
/// The environment is a dictionary: its key comparer decides whether names are case-sensitive (ordinal on Unix;
/// pass an ordinal-ignore-case dictionary to get BuildKit's Windows behaviour).
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class ShellLexer
{
    private readonly SearchValues<char> _specialChars;

    /// <summary>A lexer with the default escape character <c>\</c> and default options.</summary>
    public static ShellLexer Default { get; } = new();

    /// <summary>Creates a lexer.</summary>
    /// <param name="escapeToken">The escape character set by the <c># escape=</c> parser directive: <c>\</c> or <c>`</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="escapeToken"/> is neither <c>\</c> nor <c>`</c>.</exception>
    public ShellLexer(char escapeToken = '\\')
    {
        if (escapeToken is not ('\\' or '`'))
        {
            throw new ArgumentOutOfRangeException(nameof(escapeToken), escapeToken, "The escape token must be '\\' or '`'.");
        }

        EscapeToken = escapeToken;
        _specialChars = SearchValues.Create(['$', '\'', '"', escapeToken]);
    }

    /// <summary>The escape character (<c>\</c> or <c>`</c>).</summary>
    public char EscapeToken { get; }

    /// <summary>Keep quote characters in the result instead of removing them (BuildKit's <c>RawQuotes</c>).</summary>
    public bool RawQuotes { get; init; }

    /// <summary>Keep escape characters in the result instead of removing them (BuildKit's <c>RawEscapes</c>).</summary>
    public bool RawEscapes { get; init; }

    /// <summary>Leave references to unset variables in the text as written (BuildKit's <c>SkipUnsetEnv</c>).</summary>
    public bool SkipUnsetEnv { get; init; }

    /// <summary>Treat quote characters as ordinary characters (BuildKit's <c>SkipProcessQuotes</c>).</summary>
    public bool SkipProcessQuotes { get; init; }

    /// <summary>Expands <paramref name="word"/> into one string (BuildKit's <c>ProcessWord</c>): no word splitting.</summary>
    /// <param name="word">The text to expand.</param>
    /// <param name="environment">The variables in scope (build args and stage environment).</param>
    /// <returns>The expanded text.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ShellExpansionException">The word is malformed or a required variable is unset.</exception>
    public string ProcessWord(string word, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(word);
        ArgumentNullException.ThrowIfNull(environment);

        // Most words hold nothing to expand, quote or escape: they are their own expansion.
        if (word.AsSpan().IndexOfAny(_specialChars) < 0)
        {
            return word;
        }

        return new Expansion(this, word, environment, trackMatches: false).Run(collectWords: false).Result;
    }

    /// <summary>
    /// Expands <paramref name="word"/> and splits it into words as BuildKit's <c>ProcessWords</c> does: unquoted
    /// whitespace and whitespace produced by unquoted expansions separate words; quoted and escaped text does not;
    /// empty words are dropped.
    /// </summary>
    /// <param name="word">The text to expand.</param>
    /// <param name="environment">The variables in scope.</param>
    /// <returns>The words, possibly none.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ShellExpansionException">The word is malformed or a required variable is unset.</exception>
    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(word);
        ArgumentNullException.ThrowIfNull(environment);
        return new Expansion(this, word, environment, trackMatches: false).Run(collectWords: true).Words;
    }

    /// <summary>
    /// Expands <paramref name="word"/> and reports which variables were looked up and found or not found
    /// (BuildKit's <c>ProcessWordWithMatches</c>, used by linters to spot undefined variables).
    /// </summary>
    /// <param name="word">The text to expand.</param>
    /// <param name="environment">The variables in scope.</param>
    /// <returns>The single-string result, the split words and the matched and unmatched variable names.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ShellExpansionException">The word is malformed or a required variable is unset.</exception>
    public ShellExpansionResult ProcessWordWithMatches(string word, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(word);
        ArgumentNullException.ThrowIfNull(environment);
        var expansion = new Expansion(this, word, environment, trackMatches: true);
        var (result, words) = expansion.Run(collectWords: true);
        return new ShellExpansionResult(
            result,
            words,
            expansion.Matched!.ToFrozenSet(StringComparer.Ordinal),
            expansion.Unmatched!.ToFrozenSet(StringComparer.Ordinal));
    }

    /// <summary>Splits expanded text into words the way BuildKit's <c>wordsStruct</c> does.</summary>
    private sealed class WordCollector
    {
        private readonly StringBuilder _word = new();
        private readonly List<string> _words = [];
        private bool _inWord;

        public void AddChar(char ch)
        {
            if (char.IsWhiteSpace(ch))
            {
                if (_inWord && _word.Length != 0)
                {
                    _words.Add(_word.ToString());
                    _word.Clear();
                    _inWord = false;
                }
            }
            else
            {
                AddRawChar(ch);
            }
        }

        public void AddRawChar(char ch)
        {
            _word.Append(ch);
            _inWord = true;
        }

        public void AddString(string text)
        {
            foreach (var ch in text)
            {
                AddChar(ch);
            }
        }

        public void AddRawString(string text)
        {
            _word.Append(text);
            _inWord = true;
        }

        public List<string> GetWords()
        {
            if (_word.Length > 0)
            {
                _words.Add(_word.ToString());
                _word.Clear();
                _inWord = false;
            }

            return _words;
        }
    }

    /// <summary>The state of one expansion: a cursor over the source word.</summary>
    private sealed class Expansion
    {
        private const int Eof = -1;

        private readonly ShellLexer _lexer;
        private readonly string _source;
        private readonly IReadOnlyDictionary<string, string> _env;
        private int _pos;
        private bool _rawEscapes;

        public Expansion(ShellLexer lexer, string source, IReadOnlyDictionary<string, string> env, bool trackMatches)
        {
            _lexer = lexer;
            _source = source;
            _env = env;
            if (trackMatches)
            {
                Matched = new HashSet<string>(StringComparer.Ordinal);
                Unmatched = new HashSet<string>(StringComparer.Ordinal);
            }
        }

        public HashSet<string>? Matched { get; }

        public HashSet<string>? Unmatched { get; }

        public (string Result, IReadOnlyList<string> Words) Run(bool collectWords)
        {
            try
            {
                var words = collectWords ? new WordCollector() : null;
                var result = ProcessStopOn(Eof, _lexer.RawEscapes, words);
                return (result, words is null ? ImmutableArray<string>.Empty : [.. words.GetWords()]);
            }
            catch (ShellSyntaxError e)
            {
                throw new ShellExpansionException(_source, e.Message);
            }
        }

        private int Peek() => _pos < _source.Length ? _source[_pos] : Eof;

        private int Next() => _pos < _source.Length ? _source[_pos++] : Eof;

        private bool IsSpecialChar(int ch) =>
            ch == '$' || (!_lexer.SkipProcessQuotes && (ch == '\'' || ch == '"'));

        // Processes text until stopChar (consumed) or the end; an unseen stopChar is an error. While it runs, rawEscapes
        // decides whether escapes are kept, also inside double quotes (BuildKit keeps them in ${VAR#…} and ${VAR/…} patterns).
        private string ProcessStopOn(int stopChar, bool rawEscapes, WordCollector? words)
        {
            var saved = _rawEscapes;
            _rawEscapes = rawEscapes;
            try
            {
                return ProcessUntil(stopChar, words);
            }
            finally
            {
                _rawEscapes = saved;
            }
        }

        private string ProcessUntil(int stopChar, WordCollector? words)
        {
            var result = new StringBuilder();
            while (Peek() != Eof)
            {
                var ch = Peek();
                if (stopChar != Eof && ch == stopChar)
                {
                    Next();
                    return result.ToString();
                }

                if (IsSpecialChar(ch))
                {
                    var text = ch switch
                    {
                        '\'' => ProcessSingleQuote(),
                        '"' => ProcessDoubleQuote(),
                        _ => ProcessDollar(),
                    };
                    result.Append(text);
                    if (ch == '$')
                    {
                        words?.AddString(text);
                    }
                    else
                    {
                        words?.AddRawString(text);
                    }

                    continue;
                }

                ch = Next();
                if (ch == _lexer.EscapeToken)
                {
                    if (_rawEscapes)
                    {
                        words?.AddRawChar(_lexer.EscapeToken);
                        result.Append(_lexer.EscapeToken);
                    }

                    ch = Next();
                    if (ch == Eof)
                    {
                        // An escape at the very end escapes nothing.
                        break;
                    }

                    words?.AddRawChar((char)ch);
                    result.Append((char)ch);
                    continue;
                }

                words?.AddChar((char)ch);
                result.Append((char)ch);
            }

            if (stopChar != Eof)
            {
                throw new ShellSyntaxError($"unexpected end of statement while looking for matching {(char)stopChar}");
            }

            return result.ToString();
        }

        private string ProcessSingleQuote()
        {
            // Everything up to the next single quote is literal; a single quote cannot be escaped inside.
            var result = new StringBuilder();
            var quote = Next();
            if (_lexer.RawQuotes)
            {
                result.Append((char)quote);
            }

            while (true)
            {
                var ch = Next();
                switch (ch)
                {
                    case Eof:
                        throw new ShellSyntaxError("unexpected end of statement while looking for matching single-quote");
                    case '\'':
                        if (_lexer.RawQuotes)
                        {
                            result.Append('\'');
                        }

                        return result.ToString();
                    default:
                        result.Append((char)ch);
                        break;
                }
            }
        }

        private string ProcessDoubleQuote()
        {
            // Literal except $ (expansion) and the escape character, which escapes only ", $ and itself.
            var result = new StringBuilder();
            var quote = Next();
            if (_lexer.RawQuotes)
            {
                result.Append((char)quote);
            }

            while (true)
            {
                switch (Peek())
                {
                    case Eof:
                        throw new ShellSyntaxError("unexpected end of statement while looking for matching double-quote");
                    case '"':
                        Next();
                        if (_lexer.RawQuotes)
                        {
                            result.Append('"');
                        }

                        return result.ToString();
                    case '$':
                        result.Append(ProcessDollar());
                        break;
                    default:
                        var ch = Next();
                        if (ch == _lexer.EscapeToken)
                        {
                            // As in BuildKit, a kept escape is written even when it escapes nothing (then it appears twice).
                            if (_rawEscapes)
                            {
                                result.Append((char)ch);
                            }

                            var next = Peek();
                            if (next == Eof)
                            {
                                // The loop then reports the missing closing quote.
                                continue;
                            }

                            if (next == '"' || next == '$' || next == _lexer.EscapeToken)
                            {
                                ch = Next();
                            }
                        }

                        result.Append((char)ch);
                        break;
                }
            }
        }

        private string ProcessDollar()
        {
            Next();
            if (Peek() != '{')
            {
                // $NAME
                var plainName = ProcessName();
                if (plainName.Length == 0)
                {
                    return "$";
                }

                var (plainValue, plainSet) = GetEnv(plainName);
                return !plainSet && _lexer.SkipUnsetEnv ? "$" + plainName : plainValue;
            }

            Next();
            switch (Peek())
            {
                case Eof:
                    throw new ShellSyntaxError("syntax error: missing '}'");
                case '{' or '}' or ':':
                    throw new ShellSyntaxError("syntax error: bad substitution");
            }

            var name = ProcessName();
            var ch = Next();
            var modifier = ch == Eof ? string.Empty : ((char)ch).ToString();
            var nullIsUnset = false;
            if (ch == Eof)
            {
                throw new ShellSyntaxError("syntax error: missing '}'");
            }

            if (ch == '}')
            {
                var (value, set) = GetEnv(name);
                return !set && _lexer.SkipUnsetEnv ? "${" + name + "}" : value;
            }

            if (ch == ':')
            {
                nullIsUnset = true;
                ch = Next();
                modifier += ch == Eof ? string.Empty : ((char)ch).ToString();
            }
            else if (ch == '/')
            {
                return ProcessReplacement(name);
            }
            else if (ch is not ('+' or '-' or '?' or '#' or '%'))
            {
                throw new ShellSyntaxError($"unsupported modifier ({modifier}) in substitution");
            }

            var patternModifier = ch is '#' or '%';
            if (nullIsUnset && patternModifier)
            {
                throw new ShellSyntaxError($"unsupported modifier ({modifier}) in substitution");
            }

            string word;
            try
            {
                word = ProcessStopOn('}', patternModifier, words: null);
            }
            catch (ShellSyntaxError) when (Peek() == Eof)
            {
                throw new ShellSyntaxError("syntax error: missing '}'");
            }

            var (current, isSet) = GetEnv(name);
            if (_lexer.SkipUnsetEnv && !isSet)
            {
                return "${" + name + modifier + word + "}";
            }

            var unsetOrNull = !isSet || (nullIsUnset && current.Length == 0);
            switch (ch)
            {
                case '-':
                    return unsetOrNull ? word : current;
                case '+':
                    return unsetOrNull ? string.Empty : word;
                case '?':
                    if (!isSet)
                    {
                        throw new ShellSyntaxError($"{name}: {(word.Length != 0 ? word : "is not allowed to be unset")}");
                    }

                    if (nullIsUnset && current.Length == 0)
                    {
                        throw new ShellSyntaxError($"{name}: {(word.Length != 0 ? word : "is not allowed to be empty")}");
                    }

                    return current;
                case '#' or '%':
                    // A doubled operator (## or %%) asks for the longest match; the pattern then starts after it.
                    var greedy = word.Length > 0 && word[0] == ch;
                    if (greedy)
                    {
                        word = word[1..];
                    }

                    return ch == '%'
                        ? ShellPattern.TrimSuffix(word, current, greedy)
                        : ShellPattern.TrimPrefix(word, current, greedy);
                default:
                    throw new ShellSyntaxError($"unsupported modifier ({modifier}) in substitution");
            }
        }

        private string ProcessReplacement(string name)
        {
            var replaceAll = Peek() == '/';
            if (replaceAll)
            {
                Next();
            }

            string pattern;
            try
            {
                pattern = ProcessStopOn('/', rawEscapes: true, words: null);
            }
            catch (ShellSyntaxError) when (Peek() == Eof)
            {
                throw new ShellSyntaxError("syntax error: missing '/' in ${}");
            }

            string replacement;
            try
            {
                replacement = ProcessStopOn('}', rawEscapes: true, words: null);
            }
            catch (ShellSyntaxError) when (Peek() == Eof)
            {
                throw new ShellSyntaxError("syntax error: missing '}'");
            }

            var (value, set) = GetEnv(name);
            if (_lexer.SkipUnsetEnv && !set)
            {
                return "${" + name + "/" + pattern + "/" + replacement + "}";
            }

            return ShellPattern.Replace(pattern, value, replacement, replaceAll);
        }

        // A name: a run of digits (positional parameter), one special parameter character, or letters, digits and '_'.
        private string ProcessName()
        {
            var start = _pos;
            if (_pos < _source.Length)
            {
                var first = _source[_pos];
                if (char.IsDigit(first))
                {
                    while (_pos < _source.Length && char.IsDigit(_source[_pos]))
                    {
                        _pos++;
                    }

                    return _source[start.._pos];
                }

                if (first is '@' or '*' or '#' or '?' or '-' or '$' or '!' or '0')
                {
                    _pos++;
                    return first.ToString();
                }
            }

            while (_pos < _source.Length)
            {
                if (_source[_pos] == '_')
                {
                    _pos++;
                    continue;
                }

                // Letters outside the BMP count as letters too, as Go's rune-based scanner sees them.
                if (Rune.DecodeFromUtf16(_source.AsSpan(_pos), out var rune, out var length) != System.Buffers.OperationStatus.Done
                    || !(Rune.IsLetter(rune) || Rune.IsDigit(rune)))
                {
                    break;
                }

                _pos += length;
            }

            return _source[start.._pos];
        }

        private (string Value, bool Set) GetEnv(string name)
        {
            if (_env.TryGetValue(name, out var value))
            {
                Matched?.Add(name);
                return (value, true);
            }

            Unmatched?.Add(name);
            return (string.Empty, false);
        }
    }
}
