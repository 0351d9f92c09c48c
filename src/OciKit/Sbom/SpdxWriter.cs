using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Sbom;

/// <summary>
/// Writes an SPDX 2.3 JSON document (<see href="https://spdx.github.io/spdx-spec/v2.3/">SPDX 2.3</see>) for an image
/// and its packages: the document DESCRIBES the image, the image CONTAINS each package. Everything in it is derived
/// from its inputs, in a fixed order, so the same inputs give the same bytes.
/// </summary>
internal static class SpdxWriter
{
    public const string DocumentId = "SPDXRef-DOCUMENT";
    public const string ImageId = "SPDXRef-Image";

    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The SPDX document namespace of an image's SBOM: unique per image digest, as SPDX asks of it (section 6.5).</summary>
    public static string Namespace(Digest image) => $"https://spdx.org/spdxdocs/ocikit-image-{image.Algorithm}-{image.Encoded}";

    /// <summary>A package's SPDX identifier: readable, and unique because it ends with a hash of the package's purl.</summary>
    public static string PackageId(SbomPackage package)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(package.Purl)))[..16];
        var name = new StringBuilder();
        foreach (var c in package.Name)
        {
            name.Append(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' ? c : '-');
        }

        return $"SPDXRef-Package-{package.Type.ToString().ToLowerInvariant()}-{name}-{hash}";
    }

    /// <param name="name">The document's and the image package's name.</param>
    /// <param name="image">The image manifest's descriptor.</param>
    /// <param name="created">When the document counts as created (the image's creation time).</param>
    /// <param name="packages">The packages, already unique by purl and sorted.</param>
    public static byte[] Write(string name, Descriptor image, DateTimeOffset created, IReadOnlyList<SbomPackage> packages)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("spdxVersion", "SPDX-2.3");
            w.WriteString("dataLicense", "CC0-1.0");
            w.WriteString("SPDXID", DocumentId);
            w.WriteString("name", name);
            w.WriteString("documentNamespace", Namespace(image.Digest));
            w.WriteStartObject("creationInfo");
            w.WriteString("created", created.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            w.WriteStartArray("creators");
            w.WriteStringValue("Tool: " + Tool);
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartArray("packages");
            w.WriteStartObject();
            w.WriteString("SPDXID", ImageId);
            w.WriteString("name", name);
            w.WriteString("versionInfo", image.Digest.ToString());
            w.WriteString("downloadLocation", "NOASSERTION");
            w.WriteBoolean("filesAnalyzed", false);
            w.WriteStartArray("checksums");
            w.WriteStartObject();
            w.WriteString("algorithm", image.Digest.Algorithm.ToUpperInvariant());
            w.WriteString("checksumValue", image.Digest.Encoded);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("primaryPackagePurpose", "CONTAINER");
            w.WriteEndObject();
            foreach (var package in packages)
            {
                w.WriteStartObject();
                w.WriteString("SPDXID", PackageId(package));
                w.WriteString("name", package.Name);
                w.WriteString("versionInfo", package.Version);
                w.WriteString("downloadLocation", "NOASSERTION");
                w.WriteBoolean("filesAnalyzed", false);
                w.WriteString("sourceInfo", "listed in " + package.Location);
                w.WriteStartArray("externalRefs");
                w.WriteStartObject();
                w.WriteString("referenceCategory", "PACKAGE-MANAGER");
                w.WriteString("referenceType", "purl");
                w.WriteString("referenceLocator", package.Purl);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteString("primaryPackagePurpose", "LIBRARY");
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("relationships");
            Relationship(w, DocumentId, "DESCRIBES", ImageId);
            foreach (var package in packages)
            {
                Relationship(w, ImageId, "CONTAINS", PackageId(package));
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The creator line's tool: the library's name and version, so the same library writes the same bytes.</summary>
    private static string Tool => "OciKit-" + (typeof(SpdxWriter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    private static void Relationship(Utf8JsonWriter w, string from, string type, string to)
    {
        w.WriteStartObject();
        w.WriteString("spdxElementId", from);
        w.WriteString("relationshipType", type);
        w.WriteString("relatedSpdxElement", to);
        w.WriteEndObject();
    }
}
