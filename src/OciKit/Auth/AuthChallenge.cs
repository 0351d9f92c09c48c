using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using OciKit.Primitives;

namespace OciKit.Auth;

/// <summary>
/// One authentication challenge from a <c>WWW-Authenticate</c> header, for example
/// <c>Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"</c>.
/// </summary>
/// <remarks>
/// The grammar is <see href="https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1">RFC 9110 §11.6.1</see>
/// (<c>challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]</c>, several challenges separated by commas);
/// the Bearer parameters are those of the
/// <see href="https://distribution.github.io/distribution/spec/auth/token/">distribution token authentication spec</see>
/// and <see href="https://www.rfc-editor.org/rfc/rfc6750#section-3">RFC 6750 §3</see>.
/// Parameter names are compared without case; a parameter may appear only once per challenge.
/// </remarks>
public sealed record AuthChallenge
{
    /// <summary>The <c>Basic</c> scheme.</summary>
    public const string BasicScheme = "Basic";

    /// <summary>The <c>Bearer</c> scheme.</summary>
    public const string BearerScheme = "Bearer";

    private AuthChallenge(string scheme, ImmutableDictionary<string, string> parameters, string? token68)
    {
        Scheme = scheme;
        Parameters = parameters;
        Token68 = token68;
    }

    /// <summary>The scheme as the server wrote it, for example <c>Bearer</c>.</summary>
    public string Scheme { get; }

    /// <summary>The parameters, keyed without case, with quoted values unescaped.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>The token68 form of the challenge data (instead of parameters), if the server used it.</summary>
    public string? Token68 { get; }

    /// <summary>Whether the scheme is <c>Basic</c>.</summary>
    public bool IsBasic => Scheme.Equals(BasicScheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the scheme is <c>Bearer</c>.</summary>
    public bool IsBearer => Scheme.Equals(BearerScheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>The <c>realm</c> parameter: for Bearer, the token endpoint.</summary>
    public string? Realm => Get("realm");

    /// <summary>The <c>service</c> parameter of a Bearer challenge.</summary>
    public string? Service => Get("service");

    /// <summary>The <c>scope</c> parameter of a Bearer challenge (space-separated scopes, see <see cref="TokenScope.ParseList"/>).</summary>
    public string? Scope => Get("scope");

    /// <summary>The <c>error</c> parameter (for example <c>insufficient_scope</c>).</summary>
    public string? Error => Get("error");

    /// <summary>The <c>error_description</c> parameter.</summary>
    public string? ErrorDescription => Get("error_description");

    /// <summary>Parses the value of one or more <c>WWW-Authenticate</c> headers.</summary>
    /// <param name="headerValue">The header value; it may hold several comma-separated challenges.</param>
    /// <returns>The challenges in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="headerValue"/> is <see langword="null"/>.</exception>
    /// <exception cref="OciFormatException">The value does not follow the challenge grammar.</exception>
    public static IReadOnlyList<AuthChallenge> Parse(string headerValue)
    {
        ArgumentNullException.ThrowIfNull(headerValue);
        return TryParse(headerValue, out var challenges, out var error)
            ? challenges
            : throw new OciFormatException("WWW-Authenticate header", error);
    }

    /// <summary>Parses several <c>WWW-Authenticate</c> header values, keeping their order.</summary>
    /// <param name="headerValues">The values, one per header line.</param>
    /// <returns>All challenges in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="headerValues"/> is <see langword="null"/>.</exception>
    /// <exception cref="OciFormatException">A value does not follow the challenge grammar.</exception>
    public static IReadOnlyList<AuthChallenge> Parse(IEnumerable<string> headerValues)
    {
        ArgumentNullException.ThrowIfNull(headerValues);
        var all = ImmutableArray.CreateBuilder<AuthChallenge>();
        foreach (var value in headerValues)
        {
            all.AddRange(Parse(value));
        }

        return all.ToImmutable();
    }

    /// <summary>Tries to parse the value of a <c>WWW-Authenticate</c> header.</summary>
    /// <param name="headerValue">The header value.</param>
    /// <param name="challenges">The challenges, when the value is well formed.</param>
    /// <returns><see langword="true"/> when the value follows the challenge grammar.</returns>
    public static bool TryParse([NotNullWhen(true)] string? headerValue, [NotNullWhen(true)] out IReadOnlyList<AuthChallenge>? challenges)
    {
        if (headerValue is null)
        {
            challenges = null;
            return false;
        }

        return TryParse(headerValue, out challenges, out _);
    }

    /// <summary>The challenge in header form, with every parameter value quoted.</summary>
    /// <returns>For example <c>Bearer realm="https://auth.example.com/token",service="registry"</c>.</returns>
    public override string ToString()
    {
        if (Token68 is not null)
        {
            return Scheme + " " + Token68;
        }

        if (Parameters.Count == 0)
        {
            return Scheme;
        }

        var text = new StringBuilder(Scheme).Append(' ');
        var first = true;
        foreach (var (name, value) in Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!first)
            {
                text.Append(',');
            }

            first = false;
            text.Append(name).Append("=\"").Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }

        return text.ToString();
    }

    /// <summary>Compares scheme (without case), token68 and parameters (names without case, values exactly).</summary>
    /// <param name="other">The other challenge.</param>
    /// <returns><see langword="true"/> when both say the same.</returns>
    public bool Equals(AuthChallenge? other)
    {
        if (other is null || !Scheme.Equals(other.Scheme, StringComparison.OrdinalIgnoreCase) || Token68 != other.Token68
            || Parameters.Count != other.Parameters.Count)
        {
            return false;
        }

        foreach (var (name, value) in Parameters)
        {
            if (!other.Parameters.TryGetValue(name, out var otherValue) || value != otherValue)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A hash consistent with <see cref="Equals(AuthChallenge)"/>.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode()
    {
        var hash = StringComparer.OrdinalIgnoreCase.GetHashCode(Scheme) ^ (Token68?.GetHashCode(StringComparison.Ordinal) ?? 0);
        foreach (var (name, value) in Parameters)
        {
            // Order-independent combination, as the dictionary has no order.
            hash ^= HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(name), value.GetHashCode(StringComparison.Ordinal));
        }

        return hash;
    }

    private string? Get(string name) => Parameters.TryGetValue(name, out var value) ? value : null;

    // Hand-written: the BCL's AuthenticationHeaderValue keeps a challenge's parameters as one unparsed string.
    private static bool TryParse(string header, [NotNullWhen(true)] out IReadOnlyList<AuthChallenge>? challenges, out string error)
    {
        challenges = null;
        var result = ImmutableArray.CreateBuilder<AuthChallenge>();
        var pos = 0;
        while (true)
        {
            SkipListSeparators(header, ref pos);
            if (pos == header.Length)
            {
                break;
            }

            var scheme = ReadToken(header, ref pos);
            if (scheme.Length == 0)
            {
                error = $"unexpected '{header[pos]}' at position {pos} where an auth scheme should start";
                return false;
            }

            var parameters = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.OrdinalIgnoreCase);
            string? token68 = null;
            SkipSpaces(header, ref pos);

            if (TryReadToken68(header, ref pos, out var t68))
            {
                token68 = t68;
            }
            else
            {
                while (pos < header.Length && header[pos] != ',')
                {
                    var start = pos;
                    var name = ReadToken(header, ref pos);
                    SkipSpaces(header, ref pos);
                    if (name.Length == 0 || pos == header.Length || header[pos] != '=')
                    {
                        error = $"expected a parameter name=value at position {start} in the '{scheme}' challenge";
                        return false;
                    }

                    pos++;
                    SkipSpaces(header, ref pos);
                    string value;
                    if (pos < header.Length && header[pos] == '"')
                    {
                        if (!TryReadQuoted(header, ref pos, out value))
                        {
                            error = $"unterminated quoted string in parameter '{name}' of the '{scheme}' challenge";
                            return false;
                        }
                    }
                    else
                    {
                        value = ReadToken(header, ref pos);
                        if (value.Length == 0)
                        {
                            error = $"parameter '{name}' of the '{scheme}' challenge has no value";
                            return false;
                        }
                    }

                    if (!parameters.TryAdd(name, value))
                    {
                        error = $"parameter '{name}' appears twice in the '{scheme}' challenge";
                        return false;
                    }

                    SkipSpaces(header, ref pos);
                    if (pos == header.Length)
                    {
                        break;
                    }

                    if (header[pos] != ',')
                    {
                        error = $"unexpected '{header[pos]}' at position {pos} in the '{scheme}' challenge";
                        return false;
                    }

                    // After a comma comes either another parameter (token "=") or the next challenge (token SP / end).
                    var next = pos;
                    SkipListSeparators(header, ref next);
                    var lookahead = next;
                    var nextToken = ReadToken(header, ref lookahead);
                    SkipSpaces(header, ref lookahead);
                    if (nextToken.Length > 0 && lookahead < header.Length && header[lookahead] == '=')
                    {
                        pos = next;
                    }
                    else
                    {
                        break;
                    }
                }
            }

            result.Add(new AuthChallenge(scheme, parameters.ToImmutable(), token68));
        }

        challenges = result.ToImmutable();
        error = string.Empty;
        return true;
    }

    private static void SkipSpaces(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] is ' ' or '\t')
        {
            pos++;
        }
    }

    private static void SkipListSeparators(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] is ' ' or '\t' or ',')
        {
            pos++;
        }
    }

    // tchar per RFC 9110 §5.6.2.
    private static bool IsTokenChar(char c)
        => char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';

    private static string ReadToken(string s, ref int pos)
    {
        var start = pos;
        while (pos < s.Length && IsTokenChar(s[pos]))
        {
            pos++;
        }

        return s[start..pos];
    }

    // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", and it must end the challenge.
    private static bool TryReadToken68(string s, ref int pos, [NotNullWhen(true)] out string? token68)
    {
        token68 = null;
        var end = pos;
        while (end < s.Length && (char.IsAsciiLetterOrDigit(s[end]) || s[end] is '-' or '.' or '_' or '~' or '+' or '/'))
        {
            end++;
        }

        if (end == pos)
        {
            return false;
        }

        while (end < s.Length && s[end] == '=')
        {
            end++;
        }

        var after = end;
        SkipSpaces(s, ref after);
        if (after < s.Length && s[after] != ',')
        {
            return false;
        }

        token68 = s[pos..end];
        pos = after;
        return true;
    }

    private static bool TryReadQuoted(string s, ref int pos, out string value)
    {
        var text = new StringBuilder();
        var i = pos + 1;
        while (i < s.Length)
        {
            var c = s[i];
            if (c == '\\' && i + 1 < s.Length)
            {
                text.Append(s[i + 1]);
                i += 2;
            }
            else if (c == '"')
            {
                pos = i + 1;
                value = text.ToString();
                return true;
            }
            else
            {
                text.Append(c);
                i++;
            }
        }

        value = string.Empty;
        return false;
    }
}
