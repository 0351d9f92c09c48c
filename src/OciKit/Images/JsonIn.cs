using System.Diagnostics.CodeAnalysis;
using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// Strict reading of image-spec JSON. Hand-written over <see cref="JsonDocument"/> rather than a serializer
/// contract because every rule must fail with the document's name and the JSON path, and unknown fields must pass.
/// </summary>
internal readonly partial struct JsonIn
{
    private static readonly JsonDocumentOptions Options = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 64,
        AllowDuplicateProperties = false,
    };

    private JsonIn(string subject, string path, JsonElement element)
    {
        Subject = subject;
        Path = path;
        Element = element;
    }

    public string Subject { get; }

    public string Path { get; }

    public JsonElement Element { get; }

    /// <summary>Parses a whole document and runs <paramref name="read"/> on its root object.</summary>
    public static T Read<T>(ReadOnlyMemory<byte> utf8, string subject, Func<JsonIn, T> read)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, Options);
        }
        catch (JsonException e)
        {
            throw new OciFormatException(subject, $"malformed JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = new JsonIn(subject, "$", document.RootElement);
            root.ExpectObject();
            return read(root);
        }
    }

    /// <summary>The <c>TryParse</c> of a document type: <see langword="false"/> for what <see cref="Read{T}"/> rejects.</summary>
    public static bool TryRead<T>(Func<T> parse, [NotNullWhen(true)] out T? value)
        where T : class
    {
        try
        {
            value = parse();
            return true;
        }
        catch (Exception e) when (e is OciFormatException or NotSupportedException)
        {
            value = null;
            return false;
        }
    }

    /// <summary>Parses a whole document whose root is an array and reads each item.</summary>
    public static ImmutableArray<T> ReadArray<T>(ReadOnlyMemory<byte> utf8, string subject, Func<JsonIn, T> read)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, Options);
        }
        catch (JsonException e)
        {
            throw new OciFormatException(subject, $"malformed JSON ({e.Message})", e);
        }

        using (document)
        {
            return new JsonIn(subject, "$", document.RootElement).Array(read);
        }
    }

    public OciFormatException Error(string message) => new(Subject, $"{Path}: {message}");

    public void ExpectObject()
    {
        if (Element.ValueKind != JsonValueKind.Object)
        {
            throw Error($"expected an object, found {Describe(Element.ValueKind)}");
        }
    }

    public bool Has(string name) => Element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public JsonIn? Optional(string name) =>
        Element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? new JsonIn(Subject, Path + "." + name, value)
            : null;

    public JsonIn Required(string name) =>
        Optional(name) ?? throw Error($"required field '{name}' is missing");

    public JsonIn? OptionalObject(string name)
    {
        var child = Optional(name);
        child?.ExpectObject();
        return child;
    }

    public JsonIn RequiredObject(string name)
    {
        var child = Required(name);
        child.ExpectObject();
        return child;
    }

    public string AsString() => Element.ValueKind == JsonValueKind.String
        ? Element.GetString()!
        : throw Error($"expected a string, found {Describe(Element.ValueKind)}");

    public string? OptionalString(string name) => Optional(name)?.AsString();

    public string RequiredString(string name) => Required(name).AsString();

    /// <summary>An optional string normalized so that an empty string reads as absent (Go's <c>omitempty</c>).</summary>
    public string? OptionalNonEmptyString(string name) => OptionalString(name) is { Length: > 0 } s ? s : null;

    public bool? OptionalBool(string name)
    {
        var child = Optional(name);
        if (child is null)
        {
            return null;
        }

        return child.Value.Element.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            var kind => throw child.Value.Error($"expected a boolean, found {Describe(kind)}"),
        };
    }

    public long AsInt64()
    {
        if (Element.ValueKind != JsonValueKind.Number || !Element.TryGetInt64(out var value))
        {
            throw Error($"expected an integer, found {Describe(Element.ValueKind)}");
        }

        return value;
    }

    public long? OptionalInt64(string name) => Optional(name)?.AsInt64();

    public long RequiredSize(string name)
    {
        var child = Required(name);
        var size = child.AsInt64();
        return size >= 0 ? size : throw child.Error($"size must not be negative, found {size}");
    }

    public Digest AsDigest() => Digest.TryParse(AsString(), out var digest)
        ? digest
        : throw Error($"'{Truncate(AsString())}' is not a valid digest");

    public Digest RequiredDigest(string name) => Required(name).AsDigest();

    public string AsMediaType()
    {
        var value = AsString();
        return MediaTypePattern().IsMatch(value) ? value : throw Error($"'{Truncate(value)}' is not a valid media type");
    }

    public string RequiredMediaType(string name) => Required(name).AsMediaType();

    public string? OptionalMediaType(string name) => Optional(name)?.AsMediaType();

    public DateTimeOffset AsTimestamp()
    {
        var text = AsString();
        return Rfc3339.TryParse(text, out var value) ? value : throw Error($"'{Truncate(text)}' is not an RFC 3339 date-time");
    }

    public DateTimeOffset? OptionalTimestamp(string name) => Optional(name)?.AsTimestamp();

    public IEnumerable<JsonIn> Items()
    {
        if (Element.ValueKind != JsonValueKind.Array)
        {
            throw Error($"expected an array, found {Describe(Element.ValueKind)}");
        }

        var i = 0;
        foreach (var item in Element.EnumerateArray())
        {
            yield return new JsonIn(Subject, $"{Path}[{i++}]", item);
        }
    }

    public ImmutableArray<T> Array<T>(Func<JsonIn, T> read)
    {
        var builder = ImmutableArray.CreateBuilder<T>();
        foreach (var item in Items())
        {
            builder.Add(read(item));
        }

        return builder.ToImmutable();
    }

    public ImmutableArray<T> OptionalArray<T>(string name, Func<JsonIn, T> read) =>
        Optional(name) is { } child ? child.Array(read) : [];

    public ImmutableArray<string>? OptionalStrings(string name) =>
        Optional(name) is { } child ? child.Array(static i => i.AsString()) : null;

    public IEnumerable<(string Name, JsonIn Value)> Properties()
    {
        ExpectObject();
        foreach (var property in Element.EnumerateObject())
        {
            yield return (property.Name, new JsonIn(Subject, Path + "." + property.Name, property.Value));
        }
    }

    /// <summary>A string-to-string map; absent or empty reads as <see langword="null"/>.</summary>
    public ImmutableSortedDictionary<string, string>? OptionalStringMap(string name)
    {
        if (Optional(name) is not { } child)
        {
            return null;
        }

        var builder = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in child.Properties())
        {
            builder[key] = value.AsString();
        }

        return builder.Count == 0 ? null : builder.ToImmutable();
    }

    /// <summary>A map of keys to empty objects (Go's <c>map[string]struct{}</c>); absent or empty reads as <see langword="null"/>.</summary>
    public ImmutableSortedSet<string>? OptionalStringSet(string name)
    {
        if (Optional(name) is not { } child)
        {
            return null;
        }

        var builder = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var (key, value) in child.Properties())
        {
            value.ExpectObject();
            builder.Add(key);
        }

        return builder.Count == 0 ? null : builder.ToImmutable();
    }

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "…";

    // image-spec defs-descriptor.json#/definitions/mediaType (RFC 6838 restricted names).
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$", RegexOptions.CultureInvariant)]
    private static partial Regex MediaTypePattern();

    /// <summary>Whether a string is a valid media type by the image-spec pattern.</summary>
    public static bool IsValidMediaType(string? value) => value is not null && MediaTypePattern().IsMatch(value);
}
