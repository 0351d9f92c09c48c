using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// Canonical writing: compact, fixed property order, maps in ordinal key order, optional members omitted when
/// empty, and '+' in media types left unescaped (the default encoder would write <c>\u002B</c>).
/// </summary>
internal static class JsonOut
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// A manifest or an index, which share their frame: schemaVersion, mediaType, artifactType, the type's own members,
    /// the list of descriptors, subject and annotations, in that order.
    /// </summary>
    public static byte[] ManifestShaped(
        int schemaVersion,
        string? mediaType,
        string? artifactType,
        Action<Utf8JsonWriter>? before,
        string listName,
        IEnumerable<Descriptor> list,
        Descriptor? subject,
        IEnumerable<KeyValuePair<string, string>>? annotations) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", schemaVersion);
        OptionalString(w, "mediaType", mediaType);
        OptionalString(w, "artifactType", artifactType);
        before?.Invoke(w);
        w.WriteStartArray(listName);
        foreach (var descriptor in list)
        {
            DescriptorJson.Write(w, descriptor);
        }

        w.WriteEndArray();
        if (subject is not null)
        {
            Descriptor(w, "subject", subject);
        }

        OptionalStringMap(w, "annotations", annotations);
        w.WriteEndObject();
    });

    public static void OptionalString(Utf8JsonWriter w, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            w.WriteString(name, value);
        }
    }

    public static void Strings(Utf8JsonWriter w, string name, IEnumerable<string>? values)
    {
        if (values is null)
        {
            return;
        }

        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    public static void OptionalStringMap(Utf8JsonWriter w, string name, IEnumerable<KeyValuePair<string, string>>? map)
    {
        if (map is null || !map.Any())
        {
            return;
        }

        w.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(static p => p.Key, StringComparer.Ordinal))
        {
            w.WriteString(key, value);
        }

        w.WriteEndObject();
    }

    public static void OptionalStringSet(Utf8JsonWriter w, string name, IEnumerable<string>? set)
    {
        if (set is null || !set.Any())
        {
            return;
        }

        w.WriteStartObject(name);
        foreach (var key in set.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            w.WriteStartObject(key);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    public static void Timestamp(Utf8JsonWriter w, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            w.WriteString(name, Rfc3339.Format(v));
        }
    }

    public static void Descriptor(Utf8JsonWriter w, string name, Descriptor descriptor)
    {
        w.WritePropertyName(name);
        DescriptorJson.Write(w, descriptor);
    }
}
