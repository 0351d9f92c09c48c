using System.Text.Encodings.Web;
using System.Text.Json;

namespace OciKit.Dockerfile;

/// <summary>Writes a <see cref="DockerfileSyntaxTree"/> as JSON (the format <c>ocikit parse --json</c> prints).</summary>
internal static class DockerfileJson
{
    public static string Write(DockerfileSyntaxTree tree, bool indented)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = indented,
            // The output is read by people and tools, not embedded in HTML: keep non-ASCII text readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("directives");
            writer.WriteString("escape", tree.Directives.Escape.ToString());
            if (tree.Directives.Syntax is { } syntax)
            {
                writer.WriteString("syntax", syntax);
            }

            if (tree.Directives.Check is { } check)
            {
                writer.WriteString("check", check);
            }

            writer.WriteEndObject();
            writer.WriteStartArray("instructions");
            foreach (var node in tree.Instructions)
            {
                WriteNode(writer, node);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>A compact JSON array of strings (the exec form).</summary>
    public static string Array(ReadOnlySpan<string> values)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartArray();
            foreach (var value in values)
            {
                writer.WriteStringValue(value);
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteNode(Utf8JsonWriter writer, DockerfileNode node)
    {
        writer.WriteStartObject();
        writer.WriteString("keyword", node.Keyword);
        WriteStrings(writer, "flags", node.Flags);
        WriteStrings(writer, "args", node.Args);
        writer.WriteBoolean("json", node.IsJson);
        writer.WriteBoolean("legacyForm", node.IsLegacyForm);
        writer.WriteStartArray("heredocs");
        foreach (var heredoc in node.Heredocs)
        {
            writer.WriteStartObject();
            writer.WriteString("name", heredoc.Name);
            writer.WriteString("content", heredoc.Content);
            writer.WriteBoolean("expand", heredoc.Expand);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteNumber("startLine", node.StartLine);
        writer.WriteNumber("endLine", node.EndLine);
        if (node.Next is { } next)
        {
            writer.WritePropertyName("next");
            WriteNode(writer, next);
        }
        else
        {
            writer.WriteNull("next");
        }

        writer.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, IEnumerable<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }
}
