using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// One entry of the build cache: what a step or a publish layer produced, under the key its user computed from
/// everything that decides the result (for a build step: the parent configuration, the resolved instruction, the
/// inputs' content digests and the layer options with the compressor's identity; for a publish layer: its files'
/// paths, modes and SHA-256 and the same layer options). Kept in the store's private folder and, shared between
/// machines, in a registry repository (<c>OciKit.Transfer.RegistryCache</c>).
/// </summary>
/// <remarks>
/// A build step's configuration changes are not recorded: the key covers the configuration before the step, and the
/// step's own change (its history entry, and its layer's DiffID) follows from the instruction the key names.
/// </remarks>
/// <param name="Key">The key: 64 lowercase hexadecimal digits (a SHA-256).</param>
/// <param name="Layer">The layer blob's descriptor (digest, size, media type), or <see langword="null"/> for a step that changed no file.</param>
/// <param name="DiffId">The digest of the uncompressed layer; set exactly when <paramref name="Layer"/> is.</param>
/// <param name="UncompressedSize">The size of the uncompressed layer, when known.</param>
public sealed record CacheRecord(string Key, Descriptor? Layer, Digest? DiffId, long? UncompressedSize = null)
{
    /// <summary>Whether a string is a well-formed key (64 lowercase hexadecimal digits).</summary>
    /// <param name="key">The candidate.</param>
    /// <returns><see langword="true"/> for a key.</returns>
    public static bool IsValidKey(string? key) => key is { Length: 64 } && key.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
}

/// <summary>
/// The JSON of cache records, one shape for the store's record files and the registry's records blob:
/// <c>{"key":…,"mediaType":…,"digest":…,"size":…,"diffId":…,"uncompressedSize":…}</c> (layer members absent for a step
/// that made no layer); the registry's blob is <c>{"records":[…]}</c>, newest first.
/// </summary>
internal static class CacheRecordJson
{
    /// <summary>Writes one record as a JSON object (the key only when <paramref name="withKey"/>).</summary>
    public static void Write(Utf8JsonWriter writer, CacheRecord record, bool withKey)
    {
        writer.WriteStartObject();
        if (withKey)
        {
            writer.WriteString("key", record.Key);
        }

        if (record.Layer is { } layer)
        {
            writer.WriteString("mediaType", layer.MediaType);
            writer.WriteString("digest", layer.Digest.ToString());
            writer.WriteNumber("size", layer.Size);
            writer.WriteString("diffId", record.DiffId!.ToString());
            if (record.UncompressedSize is { } uncompressed)
            {
                writer.WriteNumber("uncompressedSize", uncompressed);
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>Reads one record; <paramref name="key"/> when the object holds none (a store file named for its key).</summary>
    /// <exception cref="OciFormatException">The object is not a valid record.</exception>
    public static CacheRecord Read(JsonElement element, string? key = null)
    {
        try
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw new OciFormatException("cache record", "is not a JSON object.");
            }

            key = element.TryGetProperty("key", out var k) ? k.GetString() : key;
            if (!CacheRecord.IsValidKey(key))
            {
                throw new OciFormatException("cache record", $"has no valid key ('{key}').");
            }

            if (!element.TryGetProperty("digest", out var digest))
            {
                return new CacheRecord(key!, null, null);
            }

            var mediaType = element.GetProperty("mediaType").GetString() ?? "";
            if (!MediaTypes.IsGzipLayer(mediaType) && !MediaTypes.IsZstdLayer(mediaType) && !MediaTypes.IsUncompressedLayer(mediaType))
            {
                throw new OciFormatException("cache record", $"{key} names a blob of media type '{mediaType}', not a layer.");
            }

            var size = element.GetProperty("size").GetInt64();
            long? uncompressed = element.TryGetProperty("uncompressedSize", out var u) ? u.GetInt64() : null;
            if (size < 0 || uncompressed < 0)
            {
                throw new OciFormatException("cache record", $"{key} has a negative size.");
            }

            var layer = new Descriptor(mediaType, Digest.Parse(digest.GetString() ?? ""), size);
            var diffId = Digest.Parse(element.GetProperty("diffId").GetString() ?? "");
            return new CacheRecord(key!, layer, diffId, uncompressed);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new OciFormatException("cache record", $"is malformed: {ex.Message}", ex);
        }
    }

    /// <summary>The registry's records blob: <c>{"records":[…]}</c>, in the given order (newest first).</summary>
    public static byte[] Serialize(IEnumerable<CacheRecord> records)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("records");
            foreach (var record in records)
            {
                Write(writer, record, withKey: true);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Reads a records blob. A malformed record is left out and reported through <paramref name="skipped"/> (the
    /// others stay usable); a later duplicate of a key is ignored.
    /// </summary>
    /// <exception cref="OciFormatException">The blob is not JSON or not <c>{"records":[…]}</c>.</exception>
    public static List<CacheRecord> Parse(ReadOnlyMemory<byte> utf8, Action<string>? skipped = null)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8);
        }
        catch (JsonException ex)
        {
            throw new OciFormatException("cache records", "are not JSON: " + ex.Message, ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("records", out var array) || array.ValueKind != JsonValueKind.Array)
            {
                throw new OciFormatException("cache records", "are not an object with a \"records\" array.");
            }

            var result = new List<CacheRecord>(array.GetArrayLength());
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in array.EnumerateArray())
            {
                try
                {
                    var record = Read(element);
                    if (seen.Add(record.Key))
                    {
                        result.Add(record);
                    }
                }
                catch (OciFormatException ex)
                {
                    skipped?.Invoke(ex.Message);
                }
            }

            return result;
        }
    }
}
