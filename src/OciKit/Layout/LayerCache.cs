using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// The store's layer cache, which the build and the publish both use: what a step produced (a layer, or nothing),
/// keyed by a hash its user computes (for a build step: the parent image configuration, the step's resolved form and
/// the content and metadata of its inputs; for a publish layer: its files and layer options). Entries live in the
/// store's private folder beside the blobs they name (<c>STORE/.ocikit/cache/KEY.json</c>); one whose blob was
/// collected is a miss.
/// </summary>
internal sealed class LayerCache(string storeRoot)
{
    /// <summary>The cache's folder inside a store.</summary>
    internal static string DirectoryOf(string storeRoot) => Path.Combine(storeRoot, OciLayout.PrivateDirectory, "cache");

    private string Directory => DirectoryOf(storeRoot);

    /// <summary>A layer, or <see langword="null"/> for a step that changed nothing.</summary>
    public sealed record Entry(Descriptor? Layer, Digest? DiffId, long? UncompressedSize = null);

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
            var record = CacheRecordJson.Read(json.RootElement, key);
            if (record.Layer is { } layer && !blobExists(layer.Digest))
            {
                return false;
            }

            entry = new Entry(record.Layer, record.DiffId, record.UncompressedSize);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or IOException or OciFormatException)
        {
            // A damaged entry is a miss; the rebuild overwrites it.
            return false;
        }
        catch (FileNotFoundException)
        {
            // Pruned (ocikit prune --build-cache) since the check above: a miss.
            return false;
        }
    }

    /// <summary>
    /// Whether the cache holds any entry (of a publish layer or a build step): without one, no key can hit, and a
    /// caller may compute its keys after the work instead of before it. Stops at the first entry found.
    /// </summary>
    public bool HasEntries
    {
        get
        {
            var directory = new DirectoryInfo(Directory);
            return directory.Exists && directory.EnumerateFiles("*.json").Any(file => !string.Equals(file.Name, FileDigestCache.FileName, StringComparison.Ordinal));
        }
    }

    /// <summary>Deletes every entry (what <c>docker builder prune</c> does to the build cache); the blobs they name stay until garbage collection.</summary>
    /// <returns>How many entries were deleted and the bytes they held.</returns>
    public (int Removed, long Bytes) Clear()
    {
        var directory = new DirectoryInfo(Directory);
        int removed = 0;
        long bytes = 0;
        foreach (var file in directory.Exists ? directory.EnumerateFiles("*.json") : [])
        {
            bytes += file.Length;
            file.Delete();
            removed++;
        }

        return (removed, bytes);
    }

    /// <summary>
    /// Records an entry; several processes writing the same key at once is safe (each writes a file of its own and
    /// renames it into place, and entries of one key agree).
    /// </summary>
    public void Put(string key, Entry entry)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            CacheRecordJson.Write(writer, ToRecord(key, entry), withKey: false);
        }

        ScratchDirectory.WriteFileAtomically(storeRoot, Path.Combine(Directory, key + ".json"), buffer.ToArray());
    }

    /// <summary>An entry as the record the registry cache shares.</summary>
    public static CacheRecord ToRecord(string key, Entry entry) => new(key, entry.Layer, entry.DiffId, entry.UncompressedSize);
}

/// <summary>
/// Content digests of context files remembered by path, size and modification time (as git's index does), so a warm
/// rebuild of an unchanged context computes its cache keys without reading the files again.
/// </summary>
internal sealed class FileDigestCache
{
    /// <summary>The file the digests are kept in, in the layer cache's folder.</summary>
    internal const string FileName = "context-digests.json";
    private readonly string _storeRoot;
    private readonly string _path;
    private readonly Dictionary<string, string> _known = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);

    public FileDigestCache(string storeRoot)
    {
        _storeRoot = storeRoot;
        _path = Path.Combine(LayerCache.DirectoryOf(storeRoot), FileName);
        try
        {
            if (File.Exists(_path))
            {
                using var json = JsonDocument.Parse(File.ReadAllBytes(_path));
                foreach (var property in json.RootElement.EnumerateObject())
                {
                    _known[property.Name] = property.Value.GetString() ?? "";
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or IOException)
        {
            // A damaged file only costs re-reading the context.
            _known.Clear();
        }
    }

    /// <summary>The file's content digest, from memory when its path, size and mtime are unchanged. Safe to call from several threads at once (not with <see cref="Save"/>).</summary>
    public async Task<string> GetAsync(string path, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        var key = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{path}\0{info.Length}\0{info.LastWriteTimeUtc.Ticks}");
        if (!_known.TryGetValue(key, out var digest) || digest.Length == 0)
        {
            var stream = LayerEntry.OpenForSequentialRead(path);
            await using (stream.ConfigureAwait(false))
            {
                digest = (await Digest.ComputeSha256Async(stream, cancellationToken).ConfigureAwait(false)).ToString();
            }
        }

        lock (_seen)
        {
            _seen[key] = digest;
        }

        return digest;
    }

    /// <summary>
    /// Records the digests this build saw. Entries of files it did not see are kept (another context, another project);
    /// earlier versions of the files it saw (another size or time at the same path) are dropped: they can never match
    /// again, and a file read and parsed on every build must not grow with every edit.
    /// </summary>
    public void Save()
    {
        if (_seen.Count == 0)
        {
            return;
        }

        // Bounded: entries this build saw first, then older ones of other files, at most 100 000 in all.
        var merged = new Dictionary<string, string>(_seen, StringComparer.Ordinal);
        var seenPaths = new HashSet<string>(_seen.Keys.Select(PathOf), StringComparer.Ordinal);
        foreach (var (key, value) in _known)
        {
            if (merged.Count >= 100_000)
            {
                break;
            }

            if (!seenPaths.Contains(PathOf(key)))
            {
                merged.TryAdd(key, value);
            }
        }

        ScratchDirectory.WriteFileAtomically(_storeRoot, _path, JsonSerializer.SerializeToUtf8Bytes(merged, LayoutJson.Default.DictionaryStringString));
    }

    /// <summary>The path a key (<c>PATH\0SIZE\0TICKS</c>) is for.</summary>
    private static string PathOf(string key) => key[..Math.Max(0, key.IndexOf('\0', StringComparison.Ordinal))];
}

/// <summary>Source-generated JSON for the file digest cache (no reflection, so an application can be compiled ahead of time).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class LayoutJson : System.Text.Json.Serialization.JsonSerializerContext;
