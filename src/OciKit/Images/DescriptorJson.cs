using System.Collections.Immutable;
using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// Reads and writes <see cref="Descriptor"/> and <see cref="Platform"/> JSON as
/// <see href="https://github.com/opencontainers/image-spec/blob/main/descriptor.md">image-spec, Descriptors</see> defines it.
/// </summary>
public static class DescriptorJson
{
    /// <summary>Parses a descriptor serialized on its own (media type <see cref="MediaTypes.OciDescriptor"/>).</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="OciFormatException">The JSON is malformed or breaks a rule of the spec.</exception>
    public static Descriptor Parse(ReadOnlyMemory<byte> utf8) => JsonIn.Read(utf8, "descriptor", Read);

    /// <summary>Serializes a descriptor in canonical form.</summary>
    /// <param name="descriptor">The descriptor.</param>
    /// <returns>Compact UTF-8 JSON.</returns>
    public static byte[] ToJson(Descriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return JsonOut.Write(w => Write(w, descriptor));
    }

    internal static Descriptor Read(JsonIn json)
    {
        json.ExpectObject();
        var mediaType = json.RequiredMediaType("mediaType");
        var digest = json.RequiredDigest("digest");
        var size = json.RequiredSize("size");
        ImmutableArray<string>? urls = null;
        if (json.Optional("urls") is { } urlsJson)
        {
            urls = urlsJson.Array(static u =>
            {
                var text = u.AsString();
                return Uri.TryCreate(text, UriKind.Absolute, out _) ? text : throw u.Error($"'{text}' is not an absolute URI");
            });
        }

        ReadOnlyMemory<byte>? data = null;
        if (json.Optional("data") is { } dataJson)
        {
            _ = dataJson.AsString();
            data = dataJson.Element.TryGetBytesFromBase64(out var bytes) ? bytes : throw dataJson.Error("is not valid base64");

            // descriptor.md: embedded data MUST be validated against the size and digest before it is used.
            if (bytes.Length != size || (digest.IsVerifiable && !digest.Matches(bytes)))
            {
                throw dataJson.Error($"the embedded data does not match the descriptor's size and digest");
            }
        }

        var platform = json.OptionalObject("platform") is { } p ? ReadPlatform(p) : null;
        return new Descriptor(mediaType, digest, size)
        {
            Urls = urls is { Length: > 0 } u2 ? u2 : null,
            Annotations = json.OptionalStringMap("annotations"),
            Platform = platform,
            ArtifactType = json.OptionalMediaType("artifactType"),
            Data = data,
        };
    }

    internal static Platform ReadPlatform(JsonIn json)
    {
        var features = json.OptionalStrings("os.features");
        return new Platform(
            json.RequiredString("os"),
            json.RequiredString("architecture"),
            json.OptionalNonEmptyString("variant"),
            json.OptionalNonEmptyString("os.version"),
            features is { Length: > 0 } f ? f : null);
    }

    internal static void Write(Utf8JsonWriter w, Descriptor d)
    {
        w.WriteStartObject();
        w.WriteString("mediaType", d.MediaType);
        w.WriteString("digest", d.Digest.ToString());
        w.WriteNumber("size", d.Size);
        if (d.Urls is { Count: > 0 })
        {
            JsonOut.Strings(w, "urls", d.Urls);
        }

        JsonOut.OptionalStringMap(w, "annotations", d.Annotations);
        if (d.Data is { } data)
        {
            w.WriteBase64String("data", data.Span);
        }

        if (d.Platform is { } platform)
        {
            w.WritePropertyName("platform");
            WritePlatform(w, platform);
        }

        JsonOut.OptionalString(w, "artifactType", d.ArtifactType);
        w.WriteEndObject();
    }

    internal static void WritePlatform(Utf8JsonWriter w, Platform p)
    {
        w.WriteStartObject();
        w.WriteString("architecture", p.Architecture);
        w.WriteString("os", p.Os);
        JsonOut.OptionalString(w, "os.version", p.OsVersion);
        if (p.OsFeatures is { Count: > 0 })
        {
            JsonOut.Strings(w, "os.features", p.OsFeatures);
        }

        JsonOut.OptionalString(w, "variant", p.Variant);
        w.WriteEndObject();
    }

    /// <summary>Checks the fields of a descriptor the model cannot rule out by construction.</summary>
    internal static void Validate(Descriptor d, string subject, string what)
    {
        if (!JsonIn.IsValidMediaType(d.MediaType))
        {
            throw new ArgumentException($"The {what} of the {subject} has an invalid media type '{d.MediaType}'.");
        }

        if (d.Size < 0)
        {
            throw new ArgumentException($"The {what} of the {subject} has a negative size.");
        }
    }
}
