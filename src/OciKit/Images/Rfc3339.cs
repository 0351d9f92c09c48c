using System.Globalization;
using System.Text.RegularExpressions;

namespace OciKit.Images;

/// <summary>
/// RFC 3339 timestamps as Go writes them (up to nanoseconds). Hand-written because .NET's round-trip format
/// stops at 7 fractional digits and Go's stops at 9.
/// </summary>
internal static partial class Rfc3339
{
    public static bool TryParse(string text, out DateTimeOffset value)
    {
        value = default;
        var match = Pattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var fraction = match.Groups[3].Value;
        fraction = fraction.Length > 8 ? fraction[..8] : fraction; // '.' plus at most 7 digits (100 ns ticks)
        var zone = match.Groups[4].Value is "Z" or "z" ? "+00:00" : match.Groups[4].Value;
        var normalized = $"{match.Groups[1].Value}T{match.Groups[2].Value}{fraction}{zone}";
        return DateTimeOffset.TryParseExact(
            normalized,
            ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"],
            CultureInfo.InvariantCulture,
            DateTimeStyles.None,
            out value);
    }

    /// <summary>Formats in UTC with trailing fractional zeros trimmed, as Go's <c>time.RFC3339Nano</c> does.</summary>
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
