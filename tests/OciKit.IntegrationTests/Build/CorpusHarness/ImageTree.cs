using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OciKit.IntegrationTests.Build.CorpusHarness;

/// <summary>One path of a flattened image: what a container would see, minus timestamps.</summary>
/// <param name="Type">dir, file, symlink.</param>
/// <param name="Mode">Permission bits (07777).</param>
/// <param name="Uid">Owner id.</param>
/// <param name="Gid">Group id.</param>
/// <param name="Size">Content length of a file, else 0.</param>
/// <param name="Sha256">Content hash of a file, else null.</param>
/// <param name="LinkTarget">Symlink text, else null.</param>
/// <param name="HardLinks">The other paths sharing this file's inode (hard links), sorted; empty when none.</param>
internal sealed record TreeNode(string Type, int Mode, int Uid, int Gid, long Size, string? Sha256, string? LinkTarget, string HardLinks)
{
    public override string ToString()
    {
        var text = $"{Type} {Convert.ToString(Mode, 8).PadLeft(4, '0')} {Uid}:{Gid}";
        if (Type == "file")
        {
            text += $" size={Size} sha256={Sha256![..12]}";
        }

        if (LinkTarget is not null)
        {
            text += $" -> {LinkTarget}";
        }

        return HardLinks.Length > 0 ? text + $" hardlinks=[{HardLinks}]" : text;
    }
}

/// <summary>
/// An image flattened the way a runtime would see it: its layers applied in order (whiteouts and opaque directories
/// honoured) into a tree of paths, plus the config fields a Dockerfile sets. Written independently of the library
/// under test (System.Formats.Tar, GZipStream, ZstdSharp, System.Text.Json only), so that a bug in OciKit's own
/// reader cannot hide one in its writer.
/// </summary>
internal sealed class ImageTree
{
    /// <summary>The config fields compared (issue 6): everything a Dockerfile can set, nothing a builder stamps.</summary>
    public static readonly string[] ConfigFields = ["Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal", "Healthcheck", "OnBuild", "Shell"];

    /// <summary>buildah stamps its version into every image it builds; Docker does not, so it is not compared.</summary>
    public const string BuildahVersionLabel = "io.buildah.version";

    private ImageTree(SortedDictionary<string, TreeNode> entries, SortedDictionary<string, string> config)
    {
        Entries = entries;
        Config = config;
    }

    /// <summary>Absolute paths (<c>/a/b</c>) to what is there; the root itself is not listed.</summary>
    public SortedDictionary<string, TreeNode> Entries { get; }

    /// <summary>The compared config fields that are set, as canonical JSON (sorted object keys).</summary>
    public SortedDictionary<string, string> Config { get; }

    /// <summary>
    /// Loads an image from an OCI image layout (by <c>ref.name</c> or manifest digest) or from a directory written
    /// by containers/image's <c>dir:</c> transport (<c>manifest.json</c> and blobs named by their hex digest).
    /// </summary>
    public static async Task<ImageTree> LoadAsync(string directory, string? reference = null)
    {
        Func<string, string> blobPath;
        byte[] manifestBytes;
        if (File.Exists(Path.Combine(directory, "oci-layout")))
        {
            blobPath = digest => Path.Combine(directory, "blobs", digest.Split(':')[0], digest.Split(':')[1]);
            var digest = reference is not null && reference.StartsWith("sha256:", StringComparison.Ordinal)
                ? reference
                : FindInIndex(JsonNode.Parse(await File.ReadAllBytesAsync(Path.Combine(directory, "index.json")))!, reference);
            manifestBytes = await File.ReadAllBytesAsync(blobPath(digest));
        }
        else if (File.Exists(Path.Combine(directory, "manifest.json")))
        {
            blobPath = digest => Path.Combine(directory, digest.Split(':')[1]);
            manifestBytes = await File.ReadAllBytesAsync(Path.Combine(directory, "manifest.json"));
        }
        else
        {
            throw new InvalidOperationException($"{directory} is neither an OCI layout nor a dir: transport directory.");
        }

        var manifest = JsonNode.Parse(manifestBytes)!;
        if (manifest["manifests"] is JsonArray)
        {
            throw new InvalidOperationException($"{reference} in {directory} is an index, not an image manifest.");
        }

        var configJson = JsonNode.Parse(await File.ReadAllBytesAsync(blobPath((string)manifest["config"]!["digest"]!)))!;
        var flattener = new Flattener();
        foreach (var layer in manifest["layers"]!.AsArray())
        {
            await flattener.ApplyAsync(blobPath((string)layer!["digest"]!));
        }

        return new ImageTree(flattener.Finish(), ReadConfig(configJson["config"]));
    }

    /// <summary>A copy without the given paths and config fields (those a case states buildah departs from Docker on).</summary>
    public ImageTree Without(IEnumerable<string> paths, IEnumerable<string> configFields)
    {
        var entries = new SortedDictionary<string, TreeNode>(Entries, StringComparer.Ordinal);
        foreach (var path in paths)
        {
            entries.Remove(path);
        }

        var config = new SortedDictionary<string, string>(Config, StringComparer.Ordinal);
        foreach (var field in configFields)
        {
            config.Remove(field);
        }

        return new ImageTree(entries, config);
    }

    /// <summary>A readable list of every difference, or <see langword="null"/> when the images are the same.</summary>
    public static string? Diff(ImageTree expected, ImageTree actual, string expectedName, string actualName)
    {
        var lines = new List<string>();
        foreach (var (path, node) in expected.Entries)
        {
            if (!actual.Entries.TryGetValue(path, out var other))
            {
                lines.Add($"  only in {expectedName}: {path}  {node}");
            }
            else if (node != other)
            {
                lines.Add($"  differs: {path}\n      {expectedName}: {node}\n      {actualName}: {other}");
            }
        }

        foreach (var (path, node) in actual.Entries)
        {
            if (!expected.Entries.ContainsKey(path))
            {
                lines.Add($"  only in {actualName}: {path}  {node}");
            }
        }

        foreach (var field in ConfigFields)
        {
            expected.Config.TryGetValue(field, out var a);
            actual.Config.TryGetValue(field, out var b);
            if (a != b)
            {
                lines.Add($"  config {field}: {expectedName}={a ?? "(unset)"}  {actualName}={b ?? "(unset)"}");
            }
        }

        return lines.Count == 0 ? null : string.Join('\n', lines.Take(60)) + (lines.Count > 60 ? $"\n  … {lines.Count - 60} more" : string.Empty);
    }

    /// <summary>A listing of the whole image, for failure messages.</summary>
    public string Describe() => string.Join('\n', Entries.Select(e => $"  {e.Key}  {e.Value}").Concat(Config.Select(c => $"  config {c.Key}={c.Value}")));

    private static string FindInIndex(JsonNode index, string? reference)
    {
        var manifests = index["manifests"]!.AsArray();
        foreach (var m in manifests)
        {
            var name = (string?)m!["annotations"]?["org.opencontainers.image.ref.name"];
            if (reference is null || name == reference)
            {
                return (string)m["digest"]!;
            }
        }

        throw new InvalidOperationException($"No manifest named '{reference}' in the layout's index.json.");
    }

    private static SortedDictionary<string, string> ReadConfig(JsonNode? config)
    {
        var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (config is not JsonObject obj)
        {
            return fields;
        }

        foreach (var field in ConfigFields)
        {
            var value = obj[field]?.DeepClone();
            if (field == "Labels" && value is JsonObject labels)
            {
                labels.Remove(BuildahVersionLabel);
            }

            // An empty value and an absent one mean the same to a runtime. buildah's docker-format configs write
            // "Cmd": [], "Entrypoint": [], "Volumes": {}, "OnBuild": [] and "User": "" where Docker writes null or
            // nothing; that is buildah's serialisation choice, not a difference in the image, so both read as unset.
            if (value is null || value is JsonArray { Count: 0 } || value is JsonObject { Count: 0 }
                || (value is JsonValue v && v.TryGetValue<string>(out var s) && s.Length == 0))
            {
                continue;
            }

            fields[field] = Canonical(value);
        }

        return fields;
    }

    private static string Canonical(JsonNode node)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            Write(writer, node);
        }

        return Encoding.UTF8.GetString(stream.ToArray());

        static void Write(Utf8JsonWriter writer, JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    writer.WriteStartObject();
                    foreach (var (key, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                    {
                        writer.WritePropertyName(key);
                        Write(writer, value);
                    }

                    writer.WriteEndObject();
                    break;
                case JsonArray array:
                    writer.WriteStartArray();
                    foreach (var item in array)
                    {
                        Write(writer, item);
                    }

                    writer.WriteEndArray();
                    break;
                case null:
                    writer.WriteNullValue();
                    break;
                default:
                    node.WriteTo(writer);
                    break;
            }
        }
    }

    /// <summary>Applies layers in order per the image-spec's changeset rules.</summary>
    private sealed class Flattener
    {
        private const string WhiteoutPrefix = ".wh.";
        private const string OpaqueMarker = ".wh..wh..opq";
        private readonly Dictionary<string, Inode> _paths = new(StringComparer.Ordinal);

        public async Task ApplyAsync(string blob)
        {
            var layer = new List<(TarEntryType Type, string Path, int Mode, int Uid, int Gid, string? Link, byte[]? Content)>();
            await using (var stream = await OpenAsync(blob))
            {
                using var reader = new TarReader(stream);
                while (await reader.GetNextEntryAsync() is { } entry)
                {
                    if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
                    {
                        continue;
                    }

                    byte[]? content = null;
                    if (entry.DataStream is { } data)
                    {
                        using var buffer = new MemoryStream();
                        await data.CopyToAsync(buffer);
                        content = buffer.ToArray();
                    }

                    var link = entry.EntryType == TarEntryType.HardLink ? Normalize(entry.LinkName) : entry.LinkName;
                    layer.Add((entry.EntryType, Normalize(entry.Name), (int)entry.Mode & 0xFFF, entry.Uid, entry.Gid, link, content));
                }
            }

            // Whiteouts hide what lower layers hold, so they are applied before this layer's own entries.
            foreach (var e in layer)
            {
                var name = e.Path[(e.Path.LastIndexOf('/') + 1)..];
                var parent = e.Path.Contains('/', StringComparison.Ordinal) ? e.Path[..e.Path.LastIndexOf('/')] : string.Empty;
                if (name == OpaqueMarker)
                {
                    RemoveBelow(parent);
                }
                else if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    var deleted = (parent.Length == 0 ? string.Empty : parent + "/") + name[WhiteoutPrefix.Length..];
                    _paths.Remove(deleted);
                    RemoveBelow(deleted);
                }
            }

            foreach (var e in layer)
            {
                var name = e.Path[(e.Path.LastIndexOf('/') + 1)..];
                if (e.Path.Length == 0 || name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                if (_paths.TryGetValue(e.Path, out var existing) && !(existing.Type == "dir" && e.Type == TarEntryType.Directory))
                {
                    _paths.Remove(e.Path);
                    RemoveBelow(e.Path);
                }

                switch (e.Type)
                {
                    case TarEntryType.Directory:
                        _paths[e.Path] = new Inode("dir", e.Mode, e.Uid, e.Gid, null, null);
                        break;
                    case TarEntryType.SymbolicLink:
                        _paths[e.Path] = new Inode("symlink", e.Mode, e.Uid, e.Gid, null, e.Link);
                        break;
                    case TarEntryType.HardLink:
                        var target = _paths.TryGetValue(e.Link!, out var inode)
                            ? inode
                            : throw new InvalidDataException($"{blob}: hard link {e.Path} -> {e.Link} names nothing before it.");
                        _paths[e.Path] = target;
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        _paths[e.Path] = new Inode("file", e.Mode, e.Uid, e.Gid, e.Content ?? [], null);
                        break;
                    default:
                        throw new InvalidDataException($"{blob}: unexpected entry type {e.Type} at {e.Path}.");
                }
            }
        }

        public SortedDictionary<string, TreeNode> Finish()
        {
            var groups = new Dictionary<object, List<string>>(ReferenceEqualityComparer.Instance);
            foreach (var (path, inode) in _paths)
            {
                if (!groups.TryGetValue(inode, out var group))
                {
                    groups[inode] = group = [];
                }

                group.Add("/" + path);
            }
            var result = new SortedDictionary<string, TreeNode>(StringComparer.Ordinal);
            foreach (var (path, inode) in _paths)
            {
                var full = "/" + path;
                var links = string.Join(',', groups[inode].Where(p => p != full).Order(StringComparer.Ordinal));
                result[full] = new TreeNode(
                    inode.Type,
                    inode.Mode,
                    inode.Uid,
                    inode.Gid,
                    inode.Content?.LongLength ?? 0,
                    inode.Content is null ? null : Convert.ToHexStringLower(SHA256.HashData(inode.Content)),
                    inode.Link,
                    links);
            }

            return result;
        }

        private void RemoveBelow(string directory)
        {
            var prefix = directory.Length == 0 ? string.Empty : directory + "/";
            foreach (var key in _paths.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k != directory).ToList())
            {
                _paths.Remove(key);
            }
        }

        private static string Normalize(string name)
        {
            var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
            return parts.Any(p => p == "..") ? throw new InvalidDataException($"Layer entry '{name}' escapes the root.") : string.Join('/', parts);
        }

        private static async Task<Stream> OpenAsync(string blob)
        {
            var bytes = await File.ReadAllBytesAsync(blob);
            Stream raw = new MemoryStream(bytes);
            if (bytes.Length > 2 && bytes[0] == 0x1F && bytes[1] == 0x8B)
            {
                return new GZipStream(raw, CompressionMode.Decompress);
            }

            if (bytes.Length > 4 && bytes[0] == 0x28 && bytes[1] == 0xB5 && bytes[2] == 0x2F && bytes[3] == 0xFD)
            {
                return new ZstdSharp.DecompressionStream(raw);
            }

            return raw;
        }

        private sealed record Inode(string Type, int Mode, int Uid, int Gid, byte[]? Content, string? Link);
    }
}
