using System.Collections.Immutable;
using System.Formats.Tar;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>An image to put in a <c>docker save</c> archive, and the names <c>docker load</c> gives it.</summary>
/// <param name="Name">The image's name in the source layout.</param>
/// <param name="RepoTags">The <c>RepoTags</c> to record, for example <c>hello:latest</c>; when empty, the name itself (with <c>:latest</c> added when it has no tag).</param>
public sealed record DockerArchiveImage(string Name, ImmutableArray<string> RepoTags);

/// <summary>
/// <c>docker save</c> / <c>docker load</c> archives. Written in the layout Docker 25 and later save: config and layers
/// under <c>blobs/sha256/</c> (referenced from <c>manifest.json</c>), plus <c>oci-layout</c> and <c>index.json</c>, so that
/// the same tar is also an OCI layout. Layers are stored as they are in the layout (usually gzip), never recompressed.
/// Both this layout and the older one (<c>&lt;id&gt;/layer.tar</c>, <c>&lt;config&gt;.json</c>) are read.
/// </summary>
public static class DockerArchive
{
    private const string ManifestFileName = "manifest.json";
    private const string RepositoriesFileName = "repositories";

    /// <summary>Writes one image of a layout as a docker archive tagged with its own name.</summary>
    /// <param name="source">The layout.</param>
    /// <param name="name">The image's name in the layout (an index is resolved to the current platform's manifest).</param>
    /// <param name="destination">The stream to write the tar to; not disposed.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the archive is written.</returns>
    public static Task WriteAsync(OciLayout source, string name, Stream destination, CancellationToken cancellationToken = default) =>
        WriteAsync(source, [new DockerArchiveImage(name, [])], destination, cancellationToken);

    /// <summary>Writes images of a layout as a docker archive.</summary>
    /// <param name="source">The layout.</param>
    /// <param name="images">The images and their tags.</param>
    /// <param name="destination">The stream to write the tar to; not disposed.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the archive is written.</returns>
    /// <exception cref="ImageNotFoundException">An image is not in the layout.</exception>
    /// <exception cref="BlobNotFoundException">A layer or config blob of an image is not in the layout (checked before anything is written).</exception>
    public static async Task WriteAsync(OciLayout source, IEnumerable<DockerArchiveImage> images, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(destination);
        var resolved = new List<(DockerArchiveImage Item, ManifestDocument Document)>();
        foreach (var item in images)
        {
            var (_, document) = await source.ReadImageAsync(item.Name, null, cancellationToken).ConfigureAwait(false);
            foreach (var blob in document.Manifest!.Layers.Prepend(document.Manifest.Config))
            {
                if (!source.ContainsBlob(blob.Digest))
                {
                    throw new BlobNotFoundException(blob.Digest, source.Root);
                }
            }

            resolved.Add((item, document));
        }

        await WriteAsync(resolved, (tar, digest) => tar.AddBlob(source, digest), destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes resolved images (single manifests) as a docker archive, adding each blob with <paramref name="addBlob"/>.</summary>
    internal static async Task WriteAsync(
        IReadOnlyList<(DockerArchiveImage Item, ManifestDocument Document)> resolved, Action<ArchiveTar, Digest> addBlob, Stream destination, CancellationToken cancellationToken)
    {
        var tar = new ArchiveTar();
        var indexEntries = new List<Descriptor>();
        var repositories = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
        var manifestJson = JsonOut.Write(w =>
        {
            w.WriteStartArray();
            foreach (var (item, document) in resolved)
            {
                var manifest = document.Manifest!;
                var tags = item.RepoTags.IsDefaultOrEmpty ? [WithTag(item.Name)] : item.RepoTags;
                addBlob(tar, document.Digest);
                addBlob(tar, manifest.Config.Digest);
                foreach (var layer in manifest.Layers)
                {
                    addBlob(tar, layer.Digest);
                }

                w.WriteStartObject();
                w.WriteString("Config", ArchiveTar.BlobPath(manifest.Config.Digest));
                w.WriteStartArray("RepoTags");
                foreach (var tag in tags)
                {
                    w.WriteStringValue(tag);
                    var colon = tag.LastIndexOf(':');
                    if (colon > tag.LastIndexOf('/') && manifest.Layers.Length > 0)
                    {
                        if (!repositories.TryGetValue(tag[..colon], out var byTag))
                        {
                            repositories[tag[..colon]] = byTag = new SortedDictionary<string, string>(StringComparer.Ordinal);
                        }

                        byTag[tag[(colon + 1)..]] = manifest.Layers[^1].Digest.Encoded;
                    }
                }

                w.WriteEndArray();
                w.WriteStartArray("Layers");
                foreach (var layer in manifest.Layers)
                {
                    w.WriteStringValue(ArchiveTar.BlobPath(layer.Digest));
                }

                w.WriteEndArray();
                w.WriteEndObject();

                foreach (var tag in tags)
                {
                    var colon = tag.LastIndexOf(':');
                    var annotations = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal)
                        .Add(AnnotationKeys.ContainerdImageName, tag)
                        .Add(AnnotationKeys.RefName, colon > tag.LastIndexOf('/') ? tag[(colon + 1)..] : "latest");
                    indexEntries.Add(document.Descriptor with { Annotations = annotations });
                }
            }

            w.WriteEndArray();
        });

        tar.AddFile(ManifestFileName, manifestJson);
        if (repositories.Count > 0)
        {
            tar.AddFile(RepositoriesFileName, JsonOut.Write(w =>
            {
                w.WriteStartObject();
                foreach (var (repository, tags) in repositories)
                {
                    w.WriteStartObject(repository);
                    foreach (var (tag, layer) in tags)
                    {
                        w.WriteString(tag, layer);
                    }

                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }));
        }

        tar.AddFile(OciLayoutHeader.FileName, OciLayoutHeader.ToJson());
        tar.AddFile(OciLayout.IndexFileName, new ImageIndex([.. indexEntries]).ToJson());
        await tar.WriteAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a docker archive (as <c>docker save</c> or <c>podman save</c> write it) into a layout, naming each image by
    /// its <c>RepoTags</c>. When the archive carries the image's own manifest (in its <c>index.json</c>, as Docker 25+
    /// and OciKit write), that manifest is kept; otherwise an OCI manifest is made for it. The archive is read once, front to back; layer blobs are verified
    /// (against their path's digest in the modern layout, or against the configuration's DiffIDs when uncompressed).
    /// </summary>
    /// <param name="archive">The tar stream; not disposed.</param>
    /// <param name="target">The layout to import into.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The imported images (one entry per tag, or one unnamed entry for an untagged image).</returns>
    /// <exception cref="OciFormatException">The archive is not a docker archive or is inconsistent.</exception>
    public static async Task<ImmutableArray<LayoutImage>> ImportAsync(Stream archive, OciLayout target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(target);
        var small = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var blobs = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var (name, entry) in OciArchive.ReadEntriesAsync(archive, cancellationToken).ConfigureAwait(false))
        {
            if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
            {
                links[name] = entry.EntryType == TarEntryType.HardLink ? entry.LinkName : ResolveRelative(name, entry.LinkName);
                continue;
            }

            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                continue;
            }

            var content = entry.DataStream ?? Stream.Null;
            if (OciArchive.TryParseBlobPath(name, out var digest))
            {
                blobs[name] = await target.WriteBlobAsync(content, new Descriptor(MediaTypes.OctetStream, digest, entry.Length), cancellationToken).ConfigureAwait(false);
            }
            else if (name.EndsWith(".tar", StringComparison.Ordinal) || entry.Length > 16 * 1024 * 1024)
            {
                // Layers: <id>/layer.tar (docker save before 25) or <digest>.tar (skopeo, podman).
                blobs[name] = await target.WriteBlobAsync(content, MediaTypes.OciLayer, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                small[name] = await OciArchive.ReadSmallAsync(entry, cancellationToken).ConfigureAwait(false);
            }
        }

        if (!small.TryGetValue(ManifestFileName, out var manifestBytes))
        {
            throw new OciFormatException("docker archive", $"has no {ManifestFileName}.");
        }

        return await ImportItemsAsync(manifestBytes, small, blobs, links, target, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<ImmutableArray<LayoutImage>> ImportItemsAsync(
        byte[] manifestBytes, Dictionary<string, byte[]> small, Dictionary<string, Descriptor> blobs, Dictionary<string, string> links, OciLayout target, CancellationToken cancellationToken)
    {
        var parsed = JsonIn.ReadArray(manifestBytes, $"{ManifestFileName} in docker archive", static item =>
        {
            item.ExpectObject();
            return (Config: item.RequiredString("Config"), RepoTags: item.OptionalStrings("RepoTags") ?? [], Layers: item.Required("Layers").Array(static l => l.AsString()));
        });

        var result = ImmutableArray.CreateBuilder<LayoutImage>();
        foreach (var (configPath, repoTags, layerPaths) in parsed)
        {
            var configBytes = small.TryGetValue(Resolve(configPath, links), out var bytes) ? bytes
                : blobs.TryGetValue(Resolve(configPath, links), out var configBlob) ? await target.ReadBlobAsync(configBlob with { MediaType = MediaTypes.OciConfig }, cancellationToken).ConfigureAwait(false)
                : throw new OciFormatException("docker archive", $"the config '{configPath}' is not in the archive.");
            var config = ImageConfig.Parse(configBytes);
            if (config.DiffIds.Length != layerPaths.Length)
            {
                throw new OciFormatException("docker archive", $"'{configPath}' has {config.DiffIds.Length} DiffIDs for {layerPaths.Length} layers.");
            }

            var layers = ImmutableArray.CreateBuilder<Descriptor>();
            for (var i = 0; i < layerPaths.Length; i++)
            {
                var path = Resolve(layerPaths[i], links);
                var blob = blobs.TryGetValue(path, out var b) ? b
                    : small.TryGetValue(path, out var smallLayer) ? await target.WriteBlobAsync(smallLayer, MediaTypes.OciLayer, cancellationToken).ConfigureAwait(false)
                    : throw new OciFormatException("docker archive", $"the layer '{layerPaths[i]}' is not in the archive.");
                var mediaType = await SniffLayerMediaTypeAsync(target, blob.Digest, cancellationToken).ConfigureAwait(false);
                if (mediaType == MediaTypes.OciLayer && !blob.Digest.Equals(config.DiffIds[i]))
                {
                    throw new DigestMismatchException($"layer '{layerPaths[i]}' of docker archive", config.DiffIds[i], blob.Digest);
                }

                layers.Add(blob with { MediaType = mediaType });
            }

            // Keep the configuration's exact bytes: its digest is the image ID Docker and podman show.
            var configDescriptor = await target.WriteBlobAsync(configBytes, MediaTypes.OciConfig, cancellationToken).ConfigureAwait(false);
            var descriptor = await FindOriginalManifestAsync(small, blobs, target, configDescriptor.Digest, layers, cancellationToken).ConfigureAwait(false);
            if (descriptor is null)
            {
                var document = ManifestDocument.FromManifest(new ImageManifest(configDescriptor, layers.ToImmutable()));
                descriptor = await target.WriteManifestAsync(document, cancellationToken).ConfigureAwait(false);
            }

            if (repoTags.IsEmpty)
            {
                result.Add(new LayoutImage(null, descriptor));
            }

            foreach (var tag in repoTags)
            {
                await target.TagAsync(tag, descriptor, cancellationToken).ConfigureAwait(false);
                result.Add(new LayoutImage(tag, descriptor));
            }
        }

        return result.ToImmutable();
    }

    /// <summary>
    /// Modern archives (Docker 25+, and ours) also carry the image's own manifest under <c>index.json</c>; reusing it
    /// keeps the manifest digest the image had before it was saved.
    /// </summary>
    private static async Task<Descriptor?> FindOriginalManifestAsync(
        Dictionary<string, byte[]> small, Dictionary<string, Descriptor> blobs, OciLayout target, Digest config, ImmutableArray<Descriptor>.Builder layers, CancellationToken cancellationToken)
    {
        if (!small.TryGetValue(OciLayout.IndexFileName, out var indexBytes) || !ImageIndex.TryParse(indexBytes, out var index))
        {
            return null;
        }

        var stored = blobs.Values.Select(static b => b.Digest).ToHashSet();
        var pending = new Stack<Descriptor>(index.Manifests);
        for (var visited = 0; pending.TryPop(out var candidate) && visited < 256; visited++)
        {
            if (!stored.Contains(candidate.Digest) || !(MediaTypes.IsManifest(candidate.MediaType) || MediaTypes.IsIndex(candidate.MediaType)))
            {
                continue;
            }

            ManifestDocument document;
            try
            {
                document = await target.ReadManifestAsync(candidate with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OciException or NotSupportedException)
            {
                continue;
            }

            if (document.Index is { } nested)
            {
                foreach (var child in nested.Manifests)
                {
                    pending.Push(child);
                }
            }
            else if (document.Manifest is { } manifest && manifest.Config.Digest.Equals(config)
                && manifest.Layers.Select(static l => l.Digest).SequenceEqual(layers.Select(static l => l.Digest)))
            {
                return document.Descriptor;
            }
        }

        return null;
    }

    private static async Task<string> SniffLayerMediaTypeAsync(OciLayout layout, Digest digest, CancellationToken cancellationToken)
    {
        var stream = layout.OpenBlob(digest);
        await using (stream.ConfigureAwait(false))
        {
            var head = new byte[4];
            var read = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            return read >= 2 && head[0] == 0x1f && head[1] == 0x8b ? MediaTypes.OciLayerGzip
                : read == 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd ? MediaTypes.OciLayerZstd
                : MediaTypes.OciLayer;
        }
    }

    private static string Resolve(string path, Dictionary<string, string> links)
    {
        for (var i = 0; i < 16 && links.TryGetValue(path, out var target); i++)
        {
            path = target;
        }

        return path;
    }

    private static string ResolveRelative(string entry, string link)
    {
        var parts = new List<string>(entry.Split('/')[..^1]);
        foreach (var part in link.Split('/'))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part is not ("." or ""))
            {
                parts.Add(part);
            }
        }

        return string.Join('/', parts);
    }

    internal static string WithTag(string name) => name.LastIndexOf(':') > name.LastIndexOf('/') ? name : name + ":latest";
}
