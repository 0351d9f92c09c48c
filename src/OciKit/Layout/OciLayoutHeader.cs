using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// The <c>oci-layout</c> file at the root of an image layout
/// (<see href="https://github.com/opencontainers/image-spec/blob/main/image-layout.md">image-spec, Image Layout</see>).
/// </summary>
public static class OciLayoutHeader
{
    /// <summary>The file name.</summary>
    public const string FileName = "oci-layout";

    /// <summary>The only layout version the spec defines.</summary>
    public const string CurrentVersion = "1.0.0";

    /// <summary>Parses an <c>oci-layout</c> file.</summary>
    /// <param name="utf8">The JSON bytes.</param>
    /// <returns>The layout version.</returns>
    /// <exception cref="OciFormatException">The file is malformed or declares another version.</exception>
    public static string Parse(ReadOnlyMemory<byte> utf8) => JsonIn.Read(utf8, FileName, static json =>
    {
        var field = json.Required("imageLayoutVersion");
        var version = field.AsString();
        return version == CurrentVersion ? version : throw field.Error($"unsupported layout version '{version}' (expected {CurrentVersion})");
    });

    /// <summary>The canonical <c>oci-layout</c> content.</summary>
    /// <returns>The UTF-8 JSON bytes.</returns>
    public static byte[] ToJson() => JsonOut.Write(static w =>
    {
        w.WriteStartObject();
        w.WriteString("imageLayoutVersion", CurrentVersion);
        w.WriteEndObject();
    });
}
