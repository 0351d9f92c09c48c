using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciKit.Primitives;

namespace OciKit.Build;

/// <summary>
/// The build cache: what a filesystem step produced (a layer, or nothing), keyed by a hash of the parent image
/// configuration, the step's resolved form and the content and metadata of its inputs. Entries live next to the
/// blobs they name (<c>STORE/ocikit-build-cache/KEY.json</c>); one whose blob was collected is a miss.
/// </summary>
internal sealed class BuildCache(string storeRoot)
{
    private const string DirectoryName = "ocikit-build-cache";

    private string Directory => Path.Combine(storeRoot, DirectoryName);

    /// <summary>A layer, or <see langword="null"/> for a step that changed nothing.</summary>
    public sealed record Entry(Descriptor? Layer, Digest? DiffId);

    public static string Key(IEnumerable<string> parts)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var part in parts)
        {
            // Length-prefixed, so that no two part lists give the same byte stream.
            var bytes = Encoding.UTF8.GetBytes(part);
            hash.AppendData(BitConverter.GetBytes(bytes.Length));
            hash.AppendData(bytes);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public bool TryGet(string key, Func<Digest, bool> blobExists, out Entry entry)
    {
        entry = new Entry(null, null);
        var file = Path.Combine(Directory, key + ".json");
        if (!File.Exists(file))
        {
            return false;
        }

        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = json.RootElement;
            if (root.TryGetProperty("digest", out var digest))
            {
                var layer = new Descriptor(root.GetProperty("mediaType").GetString()!, Digest.Parse(digest.GetString()!), root.GetProperty("size").GetInt64());
                if (!blobExists(layer.Digest))
                {
                    return false;
                }

                entry = new Entry(layer, Digest.Parse(root.GetProperty("diffId").GetString()!));
            }

            return true;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or OciFormatException)
        {
            // A damaged entry is a miss; the rebuild overwrites it.
            return false;
        }
    }

    public void Put(string key, Entry entry)
    {
        System.IO.Directory.CreateDirectory(Directory);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (entry.Layer is { } layer)
            {
                writer.WriteString("mediaType", layer.MediaType);
                writer.WriteString("digest", layer.Digest.ToString());
                writer.WriteNumber("size", layer.Size);
                writer.WriteString("diffId", entry.DiffId!.ToString());
            }

            writer.WriteEndObject();
        }

        var temp = Path.Combine(Directory, key + "." + Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllBytes(temp, buffer.ToArray());
        File.Move(temp, Path.Combine(Directory, key + ".json"), overwrite: true);
    }
}
