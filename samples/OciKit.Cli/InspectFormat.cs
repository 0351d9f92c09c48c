using System.Text.Json;

namespace OciKit.Cli;

/// <summary>
/// The small part of Go's <c>text/template</c> that <c>docker inspect --format</c> is mostly used with:
/// literal text around <c>{{.Field.Sub}}</c> paths and <c>{{json .Path}}</c>. Values print as Go prints them: strings
/// bare, arrays as <c>[a b]</c>, objects as <c>map[k:v]</c>, missing fields as <c>&lt;no value&gt;</c>.
/// </summary>
/// <remarks>Written by hand: no .NET library implements Go templates, and only field paths are needed.</remarks>
internal static class InspectFormat
{
    /// <summary>Renders a template over a JSON value.</summary>
    /// <param name="root">The value <c>.</c> refers to.</param>
    /// <param name="template">The template.</param>
    /// <returns>The text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The template is malformed: an unclosed action, or an action that is not a path.</exception>
    public static string Apply(JsonElement root, string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        var text = new System.Text.StringBuilder();
        var position = 0;
        while (position < template.Length)
        {
            var open = template.IndexOf("{{", position, StringComparison.Ordinal);
            if (open < 0)
            {
                text.Append(template, position, template.Length - position);
                break;
            }

            text.Append(template, position, open - position);
            var close = template.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"The template has an unclosed action at position {open}.");
            }

            var action = template[(open + 2)..close].Trim();
            var asJson = action.StartsWith("json ", StringComparison.Ordinal);
            var path = asJson ? action[5..].Trim() : action;
            if (!path.StartsWith('.'))
            {
                throw new FormatException($"'{{{{{action}}}}}' is not supported: use a field path such as {{{{.Config.Env}}}} or {{{{json .Config}}}}.");
            }

            var value = Resolve(root, path);
            text.Append(asJson ? (value is { } v ? v.GetRawText() : "null") : value is { } found ? Go(found) : "<no value>");
            position = close + 2;
        }

        return text.ToString();
    }

    private static JsonElement? Resolve(JsonElement root, string path)
    {
        JsonElement current = root;
        foreach (var part in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            if (current.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (!current.TryGetProperty(part, out var next))
            {
                var match = current.EnumerateObject().FirstOrDefault(p => string.Equals(p.Name, part, StringComparison.OrdinalIgnoreCase));
                if (match.Value.ValueKind == JsonValueKind.Undefined)
                {
                    return null;
                }

                next = match.Value;
            }

            current = next;
        }

        return current;
    }

    private static string Go(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Array => "[" + string.Join(' ', value.EnumerateArray().Select(Go)) + "]",
        JsonValueKind.Object => "map[" + string.Join(' ', value.EnumerateObject().OrderBy(static p => p.Name, StringComparer.Ordinal).Select(static p => p.Name + ":" + Go(p.Value))) + "]",
        JsonValueKind.Null => "<nil>",
        _ => value.GetRawText(),
    };
}
