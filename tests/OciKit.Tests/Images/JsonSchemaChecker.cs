using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OciKit.Tests.Images;

/// <summary>
/// A compact JSON Schema (draft-04) checker for exactly the keywords the image-spec schemas (and the SPDX 2.3 schema,
/// draft-07, which adds only <c>additionalProperties: false</c>) and the runtime-spec schemas (<c>anyOf</c>, <c>allOf</c>) use. Written here because
/// the test project references no JSON Schema package and project files are not ours to change.
/// </summary>
internal sealed class JsonSchemaChecker
{
    private readonly string _directory;
    private readonly Dictionary<string, JsonElement> _files = new(StringComparer.Ordinal);

    public JsonSchemaChecker(string directory)
    {
        _directory = directory;
    }

    public static string SchemaFileFor(string mediaType) => mediaType switch
    {
        "application/vnd.oci.image.config.v1+json" => "config-schema.json",
        "application/vnd.oci.descriptor.v1+json" => "content-descriptor.json",
        "application/vnd.oci.image.index.v1+json" => "image-index-schema.json",
        "application/vnd.oci.image.manifest.v1+json" => "image-manifest-schema.json",
        "application/vnd.oci.layout.header.v1+json" => "image-layout-schema.json",
        _ => throw new ArgumentException($"No schema for {mediaType}", nameof(mediaType)),
    };

    /// <summary>The errors of a document against a schema file; empty when it validates.</summary>
    public List<string> Check(string schemaFile, ReadOnlySpan<byte> document)
    {
        using var doc = JsonDocument.Parse(document.ToArray());
        var errors = new List<string>();
        Validate(schemaFile, Load(schemaFile), doc.RootElement, "$", errors);
        return errors;
    }

    private JsonElement Load(string file)
    {
        if (!_files.TryGetValue(file, out var root))
        {
            root = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_directory, file))).RootElement;
            _files[file] = root;
        }

        return root;
    }

    private (string File, JsonElement Schema) Resolve(string currentFile, string reference)
    {
        var hash = reference.IndexOf('#', StringComparison.Ordinal);
        var file = hash == 0 ? currentFile : hash < 0 ? reference : reference[..hash];
        var schema = Load(file);
        if (hash >= 0)
        {
            foreach (var part in reference[(hash + 1)..].Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                schema = schema.GetProperty(part);
            }
        }

        return (file, schema);
    }

    private void Validate(string file, JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            var (f, s) = Resolve(file, reference.GetString()!);
            Validate(f, s, value, path, errors);
            return;
        }

        if (schema.TryGetProperty("type", out var type) && !HasType(value, type.GetString()!))
        {
            errors.Add($"{path}: not of type {type.GetString()}");
            return;
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var matches = oneOf.EnumerateArray().Count(s =>
            {
                var sub = new List<string>();
                Validate(file, s, value, path, sub);
                return sub.Count == 0;
            });
            if (matches != 1)
            {
                errors.Add($"{path}: matches {matches} of oneOf");
            }
        }

        if (schema.TryGetProperty("anyOf", out var anyOf) && !anyOf.EnumerateArray().Any(s =>
            {
                var sub = new List<string>();
                Validate(file, s, value, path, sub);
                return sub.Count == 0;
            }))
        {
            errors.Add($"{path}: matches none of anyOf");
        }

        if (schema.TryGetProperty("allOf", out var allOf))
        {
            foreach (var s in allOf.EnumerateArray())
            {
                Validate(file, s, value, path, errors);
            }
        }

        if (schema.TryGetProperty("enum", out var @enum) && !@enum.EnumerateArray().Any(e => JsonElement.DeepEquals(e, value)))
        {
            errors.Add($"{path}: not in enum");
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            var text = value.GetString()!;
            if (schema.TryGetProperty("pattern", out var pattern) && !Regex.IsMatch(text, pattern.GetString()!, RegexOptions.CultureInvariant))
            {
                errors.Add($"{path}: '{text}' does not match {pattern.GetString()}");
            }

            if (schema.TryGetProperty("format", out var format))
            {
                var ok = format.GetString() switch
                {
                    "uri" => Uri.TryCreate(text, UriKind.Absolute, out _),
                    "date-time" => Regex.IsMatch(text, @"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"),
                    _ => true,
                };
                if (!ok)
                {
                    errors.Add($"{path}: '{text}' is not a {format.GetString()}");
                }
            }
        }

        if (value.ValueKind == JsonValueKind.Number)
        {
            var number = double.Parse(value.GetRawText(), CultureInfo.InvariantCulture);
            if (schema.TryGetProperty("minimum", out var min) && number < min.GetDouble())
            {
                errors.Add($"{path}: below minimum");
            }

            if (schema.TryGetProperty("maximum", out var max) && number > max.GetDouble())
            {
                errors.Add($"{path}: above maximum");
            }
        }

        if (value.ValueKind == JsonValueKind.Array)
        {
            if (schema.TryGetProperty("minItems", out var minItems) && value.GetArrayLength() < minItems.GetInt32())
            {
                errors.Add($"{path}: fewer than {minItems.GetInt32()} items");
            }

            if (schema.TryGetProperty("items", out var items))
            {
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    Validate(file, items, item, $"{path}[{i++}]", errors);
                }
            }
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            if (schema.TryGetProperty("required", out var required))
            {
                foreach (var name in required.EnumerateArray())
                {
                    if (!value.TryGetProperty(name.GetString()!, out _))
                    {
                        errors.Add($"{path}: missing {name.GetString()}");
                    }
                }
            }

            schema.TryGetProperty("properties", out var properties);
            schema.TryGetProperty("patternProperties", out var patternProperties);
            var closed = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False;
            foreach (var property in value.EnumerateObject())
            {
                var childPath = path + "." + property.Name;
                if (closed && !(properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out _))
                    && !(patternProperties.ValueKind == JsonValueKind.Object && patternProperties.EnumerateObject().Any(pp => Regex.IsMatch(property.Name, pp.Name, RegexOptions.CultureInvariant))))
                {
                    errors.Add($"{childPath}: not allowed (additionalProperties is false)");
                }

                if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out var propertySchema))
                {
                    Validate(file, propertySchema, property.Value, childPath, errors);
                }

                if (patternProperties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var pp in patternProperties.EnumerateObject())
                    {
                        if (Regex.IsMatch(property.Name, pp.Name, RegexOptions.CultureInvariant))
                        {
                            Validate(file, pp.Value, property.Value, childPath, errors);
                        }
                    }
                }
            }
        }
    }

    private static bool HasType(JsonElement value, string type) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && !value.GetRawText().Contains('.', StringComparison.Ordinal)
            && !value.GetRawText().Contains('e', StringComparison.OrdinalIgnoreCase),
        _ => throw new NotSupportedException(type),
    };
}
