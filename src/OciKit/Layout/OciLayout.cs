using System.Buffers;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// An OCI image layout directory (<see href="https://github.com/opencontainers/image-spec/blob/main/image-layout.md">image-spec, Image Layout</see>):
/// <c>oci-layout</c>, <c>index.json</c> naming images by <c>org.opencontainers.image.ref.name</c>, and <c>blobs/&lt;alg&gt;/&lt;encoded&gt;</c>.
/// OciKit keeps built and pulled images in one (see <see cref="DefaultPath"/>) and reads any valid layout skopeo or umoci wrote.
/// </summary>
/// <remarks>
/// Safe for several processes at once: a blob is written to a temporary file inside the layout, verified against its
/// digest and only then renamed into place (renaming over an identical blob is harmless); <c>index.json</c> is
/// rewritten the same way while holding an exclusive lock file. Every temporary file is in a
/// <see cref="ScratchDirectory"/> its writer holds locked, so a writer killed half-way leaves nothing visible, and
/// garbage collection reclaims what it left as soon as its lock is free. Garbage collection holds the index lock too; a blob
/// written and not yet referenced by <c>index.json</c> is protected from a concurrent collection only by
/// <see cref="OciLayoutOptions.GarbageCollectionGracePeriod"/>.
/// </remarks>
public sealed partial class OciLayout
{
    /// <summary>The environment variable that overrides the default store location.</summary>
    public const string StoreEnvironmentVariable = "OCIKIT_STORE";

    /// <summary>The name of the index file.</summary>
    public const string IndexFileName = "index.json";

    /// <summary>
    /// A folder of the store's private area (<c>STORE/.ocikit/NAME</c>), where OciKit keeps what is not part of the
    /// layout: the build cache, extracted layers, cache mounts, containers.
    /// </summary>
    /// <param name="name">The folder's name.</param>
    /// <returns>Its path (not created).</returns>
    public string PrivatePath(string name) => Path.Combine(Root, PrivateDirectory, name);

    /// <summary>Where container root file systems keep the layers they extracted, for builds and containers alike.</summary>
    public string ExtractedLayersDirectory => PrivatePath("rootfs");

    /// <summary>Where <c>RUN --mount=type=cache</c> directories live between builds, one per cache id.</summary>
    public string CacheMountsDirectory => PrivatePath("cache-mounts");

    private const string BlobsDirectory = "blobs";
    /// <summary>The store's private folder (scratch, caches, containers), which no other OCI layout reader looks at.</summary>
    internal const string PrivateDirectory = ".ocikit";
    private const int BufferSize = 128 * 1024;
    /// <summary>Deletes the layer cache an earlier version kept at the store's top level, once nobody writes there.</summary>
    private void DeleteLegacyCache()
    {
        var legacy = new DirectoryInfo(Path.Combine(Root, LegacyCacheDirectory));
        if (!legacy.Exists || legacy.EnumerateFiles("*.tmp").Any())
        {
            return;
        }

        try
        {
            legacy.Delete(recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An old version writing there right now: the next collection deletes it.
        }
    }

    private const long MaxManifestSize = ManifestDocument.MaxSize;
    private const long MaxConfigSize = 64 * 1024 * 1024;

    // Where versions before the layer cache moved into the store's private folder kept it (LayerCache): nothing reads
    // it any more; garbage collection deletes it.
    private const string LegacyCacheDirectory = "ocikit-build-cache";

    private readonly OciLayoutOptions _options;

    private OciLayout(string root, OciLayoutOptions options)
    {
        Root = root;
        _options = options;
    }

    /// <summary>The layout directory.</summary>
    public string Root { get; }

    /// <summary>
    /// The default store: <c>$OCIKIT_STORE</c> when set, else <c>ocikit/store</c> under the user's data directory
    /// (<c>$XDG_DATA_HOME</c> or <c>~/.local/share</c> on Linux).
    /// </summary>
    public static string DefaultPath
    {
        get
        {
            var fromEnvironment = Environment.GetEnvironmentVariable(StoreEnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(fromEnvironment))
            {
                return Path.GetFullPath(fromEnvironment);
            }

            var data = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
            if (string.IsNullOrEmpty(data))
            {
                data = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
            }

            return Path.Combine(data, "ocikit", "store");
        }
    }

    /// <summary>Opens the default store (<see cref="DefaultPath"/>), creating it when missing.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The layout.</returns>
    public static Task<OciLayout> OpenDefaultAsync(CancellationToken cancellationToken = default) =>
        OpenAsync(DefaultPath, null, cancellationToken);

    /// <summary>Opens an image layout, creating it when missing unless the options say otherwise.</summary>
    /// <param name="path">The layout directory.</param>
    /// <param name="options">Options; <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The layout.</returns>
    /// <exception cref="OciFormatException">The directory holds an invalid <c>oci-layout</c> file.</exception>
    /// <exception cref="DirectoryNotFoundException">There is no layout and creating one was not allowed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The lock timeout or the grace period is negative.</exception>
    public static async Task<OciLayout> OpenAsync(string path, OciLayoutOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new OciLayoutOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.LockTimeout, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GarbageCollectionGracePeriod, TimeSpan.Zero, nameof(options));
        var root = Path.GetFullPath(path);
        var layout = new OciLayout(root, options);
        var header = Path.Combine(root, OciLayoutHeader.FileName);
        if (File.Exists(header))
        {
            var bytes = await File.ReadAllBytesAsync(header, cancellationToken).ConfigureAwait(false);
            try
            {
                OciLayoutHeader.Parse(bytes);
            }
            catch (OciFormatException e)
            {
                throw new OciFormatException(header, e.Message, e);
            }

            return layout;
        }

        if (!options.CreateIfMissing)
        {
            throw new DirectoryNotFoundException($"No OCI image layout at {root} (no {OciLayoutHeader.FileName} file).");
        }

        Directory.CreateDirectory(Path.Combine(root, BlobsDirectory, Digest.Sha256Algorithm));
        await using (await layout.LockIndexAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!File.Exists(Path.Combine(root, IndexFileName)))
            {
                await layout.WriteFileAtomicallyAsync(IndexFileName, new ImageIndex([]).ToJson(), cancellationToken).ConfigureAwait(false);
            }

            if (!File.Exists(header))
            {
                await layout.WriteFileAtomicallyAsync(OciLayoutHeader.FileName, OciLayoutHeader.ToJson(), cancellationToken).ConfigureAwait(false);
            }
        }

        return layout;
    }

    /// <summary>The path a blob has (or would have) in the layout.</summary>
    /// <param name="digest">The blob's digest.</param>
    /// <returns>The absolute path.</returns>
    public string BlobPath(Digest digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return Path.Combine(Root, BlobsDirectory, digest.Algorithm, digest.Encoded);
    }

    /// <summary>Whether the layout holds a blob.</summary>
    /// <param name="digest">The blob's digest.</param>
    /// <returns><see langword="true"/> when the blob file exists.</returns>
    public bool ContainsBlob(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>Opens a blob for reading; the caller owns (and disposes) the stream.</summary>
    /// <param name="digest">The blob's digest.</param>
    /// <returns>A read-only, seekable stream.</returns>
    /// <exception cref="BlobNotFoundException">The layout has no such blob.</exception>
    public Stream OpenBlob(Digest digest)
    {
        try
        {
            return new FileStream(BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(digest, Root);
        }
    }

    /// <summary>
    /// Writes a blob whose descriptor is known, verifying size and digest while writing; the blob becomes visible
    /// only once it is verified. When the layout already holds it, the stream is not read.
    /// </summary>
    /// <param name="content">The content; read to the end (or to the expected size) but not disposed.</param>
    /// <param name="expected">The descriptor the content must match.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="DigestMismatchException">The content has another digest; nothing is written.</exception>
    /// <exception cref="OciFormatException">
    /// The content is shorter or longer than expected, or the descriptor's media type is a manifest, index or image
    /// configuration type and the content is not a valid one (see <see cref="WriteManifestAsync"/>); nothing is written.
    /// </exception>
    /// <exception cref="NotSupportedException">The digest algorithm is neither sha256 nor sha512.</exception>
    public async Task<Descriptor> WriteBlobAsync(Stream content, Descriptor expected, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(expected);
        var path = BlobPath(expected.Digest);
        if (File.Exists(path) && new FileInfo(path).Length == expected.Size)
        {
            return expected;
        }

        var (digest, _) = await WriteVerifiedAsync(content, expected.Digest, expected.Size, expected.MediaType, cancellationToken).ConfigureAwait(false);
        return expected with { Digest = digest };
    }

    /// <summary>Writes a blob of unknown digest, computing its SHA-256 while writing.</summary>
    /// <param name="content">The content; read to the end but not disposed.</param>
    /// <param name="mediaType">The media type for the returned descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor of what was written.</returns>
    public async Task<Descriptor> WriteBlobAsync(Stream content, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        var (digest, size) = await WriteVerifiedAsync(content, null, null, mediaType, cancellationToken).ConfigureAwait(false);
        return new Descriptor(mediaType, digest, size);
    }

    /// <summary>Writes a small blob held in memory (a manifest or configuration).</summary>
    /// <param name="content">The exact bytes.</param>
    /// <param name="mediaType">The media type for the returned descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor of what was written.</returns>
    public async Task<Descriptor> WriteBlobAsync(ReadOnlyMemory<byte> content, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        var descriptor = new Descriptor(mediaType, Digest.ComputeSha256(content.Span), content.Length);
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        return await WriteBlobAsync(stream, descriptor, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Copies a file (for example a layer a layer writer produced) into the layout, verifying it against its descriptor.</summary>
    /// <param name="path">The file.</param>
    /// <param name="expected">The descriptor the file must match.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor.</returns>
    public async Task<Descriptor> WriteBlobFromFileAsync(string path, Descriptor expected, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await WriteBlobAsync(stream, expected, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves a file into the layout as a blob by a rename, without reading it again: for a file whose digest was
    /// computed while it was written (a layer writer's output) in a directory from <see cref="CreateScratchDirectory"/>,
    /// on the layout's file system. Its size is checked against the descriptor; a blob already present is kept and the
    /// file deleted.
    /// </summary>
    /// <param name="path">The file, which no longer exists afterwards.</param>
    /// <param name="blob">The descriptor computed while the file was written.</param>
    /// <exception cref="OciFormatException">The file's size is not the descriptor's.</exception>
    public void MoveBlobFromFile(string path, Descriptor blob)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(blob);
        var length = new FileInfo(path).Length;
        if (length != blob.Size)
        {
            throw new OciFormatException($"blob {blob.Digest}", $"is {length} bytes in {path}, not the {blob.Size} its descriptor says.");
        }

        if (ContainsBlob(blob.Digest))
        {
            File.Delete(path);
            return;
        }

        File.Move(path, BlobPath(blob.Digest), overwrite: true);
    }

    /// <summary>
    /// Puts a new layer into the store, the one way every writer does (build, publish, commit): the layer is written
    /// into a scratch directory of the store by <paramref name="write"/>, which hashes it while writing (a
    /// <see cref="LayerWriter"/> call), then becomes a blob by a rename, its size checked against the descriptor. A
    /// failure or a kill half-way leaves no blob, only a scratch directory that garbage collection reclaims.
    /// </summary>
    /// <param name="write">Writes the compressed layer into the stream it is given (never disposing it) and returns what it wrote.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What <paramref name="write"/> returned; the layer is a blob of the store.</returns>
    /// <exception cref="OciFormatException">The file written is not the size the returned descriptor says.</exception>
    public async Task<LayerInfo> AddLayerAsync(Func<Stream, CancellationToken, Task<LayerInfo>> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var scratch = CreateScratchDirectory();
        var (info, path) = await WriteLayerFileAsync(scratch, write, cancellationToken).ConfigureAwait(false);
        MoveBlobFromFile(path, info.Descriptor);
        return info;
    }

    /// <summary>
    /// Writes a layer into a file of <paramref name="scratch"/> named for its digest, for a writer that makes it a blob
    /// later (<see cref="MoveBlobFromFile"/>): a build keeps its layers out of the store until it succeeds.
    /// </summary>
    /// <param name="scratch">A scratch directory of this store (see <see cref="CreateScratchDirectory"/>).</param>
    /// <param name="write">Writes the compressed layer into the stream it is given and returns what it wrote.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What <paramref name="write"/> returned, and the file holding the layer.</returns>
    public static async Task<(LayerInfo Info, string Path)> WriteLayerFileAsync(ScratchDirectory scratch, Func<Stream, CancellationToken, Task<LayerInfo>> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        ArgumentNullException.ThrowIfNull(write);
        var temporary = Path.Combine(scratch.Path, "layer-" + Guid.NewGuid().ToString("N"));
        LayerInfo info;

        // Written synchronously: the writer's output arrives in large blocks, and asynchronous file I/O would only hop
        // every block to the thread pool.
        var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.None);
        await using (output.ConfigureAwait(false))
        {
            info = await write(output, cancellationToken).ConfigureAwait(false);
        }

        var final = Path.Combine(scratch.Path, "blob-" + info.Descriptor.Digest.Encoded);
        File.Move(temporary, final, overwrite: true);
        return (info, final);
    }

    /// <summary>Reads a whole blob into memory, verifying it; for manifests and configurations, not layers.</summary>
    /// <param name="descriptor">The blob's descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="BlobNotFoundException">The layout has no such blob.</exception>
    /// <exception cref="DigestMismatchException">The stored blob is corrupt.</exception>
    /// <exception cref="OciFormatException">The stored blob has another size than the descriptor says.</exception>
    public async Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var limit = MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType) ? MaxManifestSize : MaxConfigSize;
        if (descriptor.Size > limit)
        {
            throw new OciFormatException($"blob {descriptor.Digest}", $"is {descriptor.Size} bytes, more than the {limit} bytes read into memory.");
        }

        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(BlobPath(descriptor.Digest), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(descriptor.Digest, Root);
        }

        if (bytes.Length != descriptor.Size)
        {
            throw new OciFormatException($"blob {descriptor.Digest}", $"is {bytes.Length} bytes in the layout but {descriptor.Size} in its descriptor.");
        }

        descriptor.Digest.Verify(bytes, $"blob {descriptor.Digest} in {Root}");
        return bytes;
    }

    /// <summary>Reads and parses a manifest or index blob.</summary>
    /// <param name="descriptor">Its descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document with its exact bytes.</returns>
    public async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        return ManifestDocument.Parse(bytes, descriptor);
    }

    /// <summary>Reads and parses an image configuration blob.</summary>
    /// <param name="descriptor">Its descriptor.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The configuration.</returns>
    public async Task<ImageConfig> ReadConfigAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        return ImageConfig.Parse(bytes);
    }

    /// <summary>
    /// Writes a manifest or index document's exact bytes as a blob, after checking that the store can read it back as
    /// an image: it must be an image manifest or an index of a known media type, and when it is an image manifest whose
    /// configuration (of the OCI or Docker configuration type) is already stored, that configuration must be a valid
    /// image configuration whose DiffIDs pair with the manifest's layers.
    /// </summary>
    /// <param name="document">The document.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor of the stored document.</returns>
    /// <exception cref="OciFormatException">The document is larger than <see cref="ManifestDocument.MaxSize"/>, or not an image the store can read; its subject names the image and the message what is wrong. Nothing is written.</exception>
    public async Task<Descriptor> WriteManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (document.Bytes.Length > MaxManifestSize)
        {
            // Refused at the door: the store reads manifests back only up to this size.
            throw new OciFormatException($"manifest {document.Digest}", $"is {document.Bytes.Length} bytes, more than the {ManifestDocument.MaxSize} bytes accepted (ManifestDocument.MaxSize).");
        }

        await CheckImageAsync(document.Digest.ToString(), document, cancellationToken).ConfigureAwait(false);
        return await WriteBlobAsync(document.Bytes, document.MediaType, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads <c>index.json</c>.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The index.</returns>
    /// <exception cref="OciFormatException"><c>index.json</c> is malformed.</exception>
    public async Task<ImageIndex> ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(Root, IndexFileName);
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return new ImageIndex([]);
        }

        return JsonIn.Read(bytes, path, ImageIndex.Read);
    }

    /// <summary>Lists the entries of <c>index.json</c>, named or not, in file order.</summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The images.</returns>
    public async Task<ImmutableArray<LayoutImage>> ListImagesAsync(CancellationToken cancellationToken = default)
    {
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        return [.. index.Manifests.Select(static m => new LayoutImage(NameOf(m), m))];
    }

    /// <summary>
    /// Finds the manifest (or index) recorded under a name: the exact <c>ref.name</c>, else, for a name without a
    /// tag, <c>name:latest</c>.
    /// </summary>
    /// <param name="name">The name, for example <c>hello:latest</c> or <c>v1.0</c>.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The descriptor, or <see langword="null"/> when no entry has the name.</returns>
    public async Task<Descriptor?> ResolveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        return Find(index, name) ?? (HasTag(name) ? null : Find(index, name + ":latest"));

        static Descriptor? Find(ImageIndex index, string name) =>
            index.Manifests.LastOrDefault(m => string.Equals(NameOf(m), name, StringComparison.Ordinal));
    }

    /// <summary>Records a manifest or index in <c>index.json</c> under a name, moving the name off any other entry.</summary>
    /// <param name="name">The name (<c>org.opencontainers.image.ref.name</c>), for example <c>hello:latest</c>.</param>
    /// <param name="descriptor">The manifest's descriptor; the blob must already be in the layout.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when <c>index.json</c> is updated.</returns>
    /// <exception cref="ArgumentException">The name does not follow the <c>ref.name</c> grammar.</exception>
    /// <exception cref="BlobNotFoundException">The manifest is not in the layout.</exception>
    /// <exception cref="OciFormatException">The descriptor is a manifest or index that does not read back as an image (see <see cref="WriteManifestAsync"/>); nothing is recorded.</exception>
    public Task TagAsync(string name, Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (string.IsNullOrEmpty(name) || !RefNamePattern().IsMatch(name))
        {
            throw new ArgumentException($"'{name}' is not a valid image name in a layout (letters, digits and -._:@+/ separators).", nameof(name));
        }

        if (!ContainsBlob(descriptor.Digest))
        {
            throw new BlobNotFoundException(descriptor.Digest, Root);
        }

        var entry = descriptor with
        {
            Annotations = (descriptor.Annotations?.ToImmutableSortedDictionary(StringComparer.Ordinal) ?? ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal))
                .SetItem(AnnotationKeys.RefName, name),
            Data = null,
        };
        return TagCheckedAsync(name, entry, cancellationToken);
    }

    private async Task TagCheckedAsync(string name, Descriptor entry, CancellationToken cancellationToken)
    {
        if (MediaTypes.IsManifest(entry.MediaType) || MediaTypes.IsIndex(entry.MediaType))
        {
            // What another writer put in blobs/ (an oci-archive's, say) is named only when it reads back as an image.
            ManifestDocument document;
            try
            {
                document = await ReadManifestAsync(entry with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OciFormatException or DigestMismatchException)
            {
                throw new OciFormatException($"image {name}", $"its manifest cannot be read: {e.Message}", e);
            }

            await CheckImageAsync(name, document, cancellationToken).ConfigureAwait(false);
        }

        await UpdateIndexAsync(index => [.. Untag(index, name), entry], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a name from <c>index.json</c> (the blobs stay until <see cref="CollectGarbageAsync(CancellationToken)"/>).</summary>
    /// <param name="name">The name, matched as <see cref="ResolveAsync"/> matches it.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns><see langword="true"/> when an entry had the name.</returns>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var removed = false;
        await UpdateIndexAsync(
            index =>
            {
                var kept = Untag(index, name);
                if (kept.Count == index.Manifests.Length && !HasTag(name))
                {
                    kept = Untag(index, name + ":latest");
                }

                removed = kept.Count != index.Manifests.Length;
                return kept;
            },
            cancellationToken).ConfigureAwait(false);
        return removed;
    }

    /// <summary>
    /// Deletes every blob no entry of <c>index.json</c> reaches (through indexes, manifests, their configs and layers),
    /// and the scratch directories and temporary files of writers that died (whose lock is free, see
    /// <see cref="ScratchDirectory"/>; a live writer's are kept, even another process's). Blobs younger than
    /// <see cref="OciLayoutOptions.GarbageCollectionGracePeriod"/> are kept, so that an image being written by another
    /// process (layers first, then its manifest and name) is not collected half-way.
    /// </summary>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What was removed, and the named images that could not be read (see <see cref="GarbageCollectionResult.BrokenImages"/>).</returns>
    public Task<GarbageCollectionResult> CollectGarbageAsync(CancellationToken cancellationToken = default) => CollectGarbageAsync([], cancellationToken);

    /// <summary>
    /// Collects garbage as <see cref="CollectGarbageAsync(CancellationToken)"/> does, keeping also what
    /// <paramref name="additionalRoots"/> reach: images that are not named but still used (a kept container's image).
    /// </summary>
    /// <param name="additionalRoots">Manifests (or indexes) to keep with everything they reference.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>What was removed, and the named images that could not be read (see <see cref="GarbageCollectionResult.BrokenImages"/>).</returns>
    public async Task<GarbageCollectionResult> CollectGarbageAsync(IReadOnlyCollection<Descriptor> additionalRoots, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(additionalRoots);
        await using var lockFile = await LockIndexAsync(cancellationToken).ConfigureAwait(false);
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        var broken = ImmutableArray.CreateBuilder<BrokenImage>();
        var pending = new Stack<(Descriptor Descriptor, string Image)>(
            index.Manifests.Select(static m => (m, NameOf(m) ?? m.Digest.ToString())).Concat(additionalRoots.Select(static r => (r, r.Digest.ToString()))));
        while (pending.TryPop(out var item))
        {
            var (descriptor, image) = item;
            if (!keep.Add(descriptor.Digest.ToString()) || !ContainsBlob(descriptor.Digest))
            {
                continue;
            }

            ImmutableArray<Descriptor> children;
            try
            {
                children = await ReferencedAsync(descriptor, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OciException or NotSupportedException)
            {
                // One unreadable image does not stop the collection: keep what its bytes name, report it, go on.
                broken.Add(new BrokenImage(image, descriptor.Digest, e.Message));
                children = await ScanForDescriptorsAsync(descriptor, cancellationToken).ConfigureAwait(false);
            }

            foreach (var child in children)
            {
                pending.Push((child, image));
            }
        }

        var youngest = DateTime.UtcNow - _options.GarbageCollectionGracePeriod;
        int removed = 0, kept = 0;
        long bytes = 0;
        var blobs = new DirectoryInfo(Path.Combine(Root, BlobsDirectory));
        foreach (var algorithm in blobs.Exists ? blobs.EnumerateDirectories() : [])
        {
            foreach (var file in algorithm.EnumerateFiles())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (keep.Contains(algorithm.Name + ":" + file.Name) || file.LastWriteTimeUtc > youngest)
                {
                    kept++;
                    continue;
                }

                var length = file.Length;
                file.Delete();
                removed++;
                bytes += length;
            }
        }

        // Scratch directories and temporary files of writers that died: their lock is free (see ScratchDirectory).
        var (leftovers, leftoverBytes) = ScratchDirectory.ReclaimAbandoned(Root, [LayerCache.DirectoryOf(Root), Path.Combine(Root, LegacyCacheDirectory)], cancellationToken);
        DeleteLegacyCache();
        return new GarbageCollectionResult(removed, bytes, kept)
        {
            InterruptedWriters = leftovers,
            InterruptedWriterBytes = leftoverBytes,
            BrokenImages = broken.ToImmutable(),
        };
    }

    /// <summary>
    /// The descriptors a stored blob refers to: a manifest's config and layers, an index's manifests, and, for JSON
    /// of a media type OciKit does not model (an artifact manifest, say), every object in it that looks like a descriptor.
    /// </summary>
    internal async Task<ImmutableArray<Descriptor>> ReferencedAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType))
        {
            var document = await ReadManifestAsync(descriptor, cancellationToken).ConfigureAwait(false);
            return document.Manifest is { } manifest ? [manifest.Config, .. manifest.Layers]
                : document.Index is { } index ? index.Manifests
                : [];
        }

        var unknownJson = descriptor.MediaType.EndsWith("json", StringComparison.Ordinal)
            && descriptor.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig or MediaTypes.OciEmpty)
            && descriptor.Size <= MaxManifestSize;
        if (!unknownJson || !ContainsBlob(descriptor.Digest))
        {
            return [];
        }

        return ScanJson(await ReadBlobAsync(descriptor, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// What an unreadable (corrupt, or not a manifest) blob seems to refer to: every object in it that looks like a
    /// descriptor, read without verifying its digest; nothing when it is missing, too big or not JSON.
    /// </summary>
    private async Task<ImmutableArray<Descriptor>> ScanForDescriptorsAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        try
        {
            var file = new FileInfo(BlobPath(descriptor.Digest));
            return file.Exists && file.Length <= MaxManifestSize
                ? ScanJson(await File.ReadAllBytesAsync(file.FullName, cancellationToken).ConfigureAwait(false))
                : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static ImmutableArray<Descriptor> ScanJson(byte[] bytes)
    {
        var found = ImmutableArray.CreateBuilder<Descriptor>();
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(bytes);
            Scan(json.RootElement, found);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
        {
            // Not JSON (or not descriptors) after all: it refers to nothing more.
        }

        return found.ToImmutable();

        static void Scan(System.Text.Json.JsonElement element, ImmutableArray<Descriptor>.Builder found)
        {
            if (element.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                if (element.TryGetProperty("digest", out var d) && d.ValueKind == System.Text.Json.JsonValueKind.String && Digest.TryParse(d.GetString(), out var digest)
                    && element.TryGetProperty("size", out var size) && size.TryGetInt64(out var length))
                {
                    var mediaType = element.TryGetProperty("mediaType", out var m) && m.ValueKind == System.Text.Json.JsonValueKind.String ? m.GetString()! : MediaTypes.OctetStream;
                    found.Add(new Descriptor(mediaType, digest, length));
                }

                foreach (var property in element.EnumerateObject())
                {
                    Scan(property.Value, found);
                }
            }
            else if (element.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    Scan(item, found);
                }
            }
        }
    }

    private static bool HasTag(string name) => name.LastIndexOf(':') > name.LastIndexOf('/') || name.Contains('@', StringComparison.Ordinal);

    internal static string? NameOf(Descriptor descriptor) =>
        descriptor.Annotations is { } a && a.TryGetValue(AnnotationKeys.RefName, out var name) ? name : null;

    private static List<Descriptor> Untag(ImageIndex index, string name) =>
        [.. index.Manifests.Where(m => !string.Equals(NameOf(m), name, StringComparison.Ordinal))];

    private async Task UpdateIndexAsync(Func<ImageIndex, List<Descriptor>> change, CancellationToken cancellationToken)
    {
        await using var lockFile = await LockIndexAsync(cancellationToken).ConfigureAwait(false);
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        var updated = index with { Manifests = [.. change(index)], MediaType = MediaTypes.OciIndex };
        await WriteFileAtomicallyAsync(IndexFileName, updated.ToJson(), cancellationToken).ConfigureAwait(false);
    }

    private async Task<FileStream> LockIndexAsync(CancellationToken cancellationToken)
    {
        var directory = Directory.CreateDirectory(Path.Combine(Root, PrivateDirectory));
        var path = Path.Combine(directory.FullName, "index.lock");
        var deadline = DateTime.UtcNow + _options.LockTimeout;
        var delay = 5;
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive lock between processes too (flock on Unix).
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException e)
            {
                if (DateTime.UtcNow >= deadline)
                {
                    throw new IOException($"Another writer held the lock on {path} for more than {_options.LockTimeout}.", e);
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 200);
            }
        }
    }

    /// <summary>
    /// Creates a private scratch directory inside the layout, on the same file system as its blobs, so that files
    /// written there can become blobs by a rename (<see cref="MoveBlobFromFile"/>). The caller disposes it when done,
    /// which deletes it; until then it holds the directory's lock, and garbage collection deletes it only once that
    /// lock is free: after the dispose, or when the writer's process died.
    /// </summary>
    /// <returns>The new, empty directory, locked by this process.</returns>
    public ScratchDirectory CreateScratchDirectory() => ScratchDirectory.Create(Root, "scratch-");

    private async Task WriteFileAtomicallyAsync(string relativePath, byte[] content, CancellationToken cancellationToken)
    {
        using var scratch = ScratchDirectory.Create(Root, "write-");
        var temp = Path.Combine(scratch.Path, "file");
        await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
        {
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, Path.Combine(Root, relativePath), overwrite: true);
    }

    private async Task<(Digest Digest, long Size)> WriteVerifiedAsync(Stream content, Digest? expectedDigest, long? expectedSize, string mediaType, CancellationToken cancellationToken)
    {
        var algorithm = (expectedDigest?.Algorithm ?? Digest.Sha256Algorithm) switch
        {
            Digest.Sha256Algorithm => HashAlgorithmName.SHA256,
            Digest.Sha512Algorithm => HashAlgorithmName.SHA512,
            var other => throw new NotSupportedException($"Digest algorithm '{other}' cannot be verified."),
        };
        var subject = $"blob {expectedDigest?.ToString() ?? "(new)"}";
        using var scratch = ScratchDirectory.Create(Root, "write-");
        var temp = Path.Combine(scratch.Path, "blob");
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(algorithm);
            long total = 0;
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                int read;
                while ((read = await content.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    total += read;
                    if (total > expectedSize)
                    {
                        throw new OciFormatException(subject, $"is longer than the expected {expectedSize} bytes.");
                    }

                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }

                output.Flush(flushToDisk: true);
            }

            if (expectedSize is { } size && total != size)
            {
                throw new OciFormatException(subject, $"is truncated: {total} of {size} bytes.");
            }

            var hex = Convert.ToHexStringLower(hash.GetHashAndReset());
            var actual = Digest.Parse((expectedDigest?.Algorithm ?? Digest.Sha256Algorithm) + ":" + hex);
            if (expectedDigest is not null && !expectedDigest.Equals(actual))
            {
                throw new DigestMismatchException(subject, expectedDigest, actual);
            }

            // A manifest, index or image configuration is checked as reading will parse it, before it is visible.
            await CheckDocumentAsync(temp, new Descriptor(mediaType, actual, total), cancellationToken).ConfigureAwait(false);
            var final = BlobPath(actual);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            File.Move(temp, final, overwrite: true);
            return (actual, total);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // image-spec annotations.md, org.opencontainers.image.ref.name grammar.
    [GeneratedRegex(@"^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RefNamePattern();
}
