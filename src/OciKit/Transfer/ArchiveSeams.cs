using System.Collections.Concurrent;
using System.Formats.Tar;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// An image in an oci-archive as an <see cref="IImageSource"/>: the tar is indexed once (where each entry's data starts)
/// and blobs are read in place as verified sub-streams of the file; nothing is extracted.
/// </summary>
public sealed class OciArchiveImageSource : IImageSource
{
    private readonly string _path;
    private readonly Dictionary<string, (long Offset, long Length)> _entries;
    private readonly Descriptor _top;

    private OciArchiveImageSource(string path, string name, Dictionary<string, (long Offset, long Length)> entries, Descriptor top)
    {
        _path = path;
        Name = name;
        _entries = entries;
        _top = top;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The name the chosen image has in the archive's <c>index.json</c>, if any.</summary>
    internal string? EntryName => OciLayout.NameOf(_top);

    /// <summary>Indexes an oci-archive and picks one of its images.</summary>
    /// <param name="path">The tar file.</param>
    /// <param name="name">The image's name in the archive (<c>org.opencontainers.image.ref.name</c>); <see langword="null"/> for its only image.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The source.</returns>
    /// <exception cref="FileNotFoundException">The archive does not exist.</exception>
    /// <exception cref="OciFormatException">The archive is not a valid OCI layout.</exception>
    /// <exception cref="ImageNotFoundException">The archive has no such image, or holds several and none was named.</exception>
    public static Task<OciArchiveImageSource> OpenAsync(string path, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        return OpenAsync(full, name, ImageLocation.OciArchivePrefix + full + (name is null ? "" : ":" + name), cancellationToken);
    }

    internal static async Task<OciArchiveImageSource> OpenAsync(string path, string? name, string location, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The archive {path} does not exist.", path);
        }

        var entries = new Dictionary<string, (long Offset, long Length)>(StringComparer.Ordinal);
        byte[]? index = null;
        var sawHeader = false;
        var archive = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.Asynchronous);
        await using (archive.ConfigureAwait(false))
        {
            await foreach (var (entryName, entry) in OciArchive.ReadEntriesAsync(archive, cancellationToken).ConfigureAwait(false))
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                {
                    continue;
                }

                if (entryName == OciLayoutHeader.FileName)
                {
                    OciLayoutHeader.Parse(await OciArchive.ReadSmallAsync(entry, cancellationToken).ConfigureAwait(false));
                    sawHeader = true;
                }
                else if (entryName == OciLayout.IndexFileName)
                {
                    index = await OciArchive.ReadSmallAsync(entry, cancellationToken).ConfigureAwait(false);
                }
                else if (OciArchive.TryParseBlobPath(entryName, out _))
                {
                    entries[entryName] = (entry.DataOffset, entry.Length);
                }
            }
        }

        if (!sawHeader || index is null)
        {
            throw new OciFormatException("oci-archive", $"has no {(sawHeader ? OciLayout.IndexFileName : OciLayoutHeader.FileName)}.");
        }

        var parsed = JsonIn.Read(index, "index.json in oci-archive", ImageIndex.Read);
        var top = ImageSelection.Select([.. parsed.Manifests.Select(d => new LayoutImage(OciLayout.NameOf(d), d))], name, location, path);
        return new OciArchiveImageSource(path, location, entries, top);
    }

    /// <inheritdoc/>
    public Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default) => ReadManifestAsync(_top with { Annotations = null }, cancellationToken);

    /// <inheritdoc/>
    public async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (descriptor.Size > ManifestDocument.MaxSize)
        {
            throw new OciFormatException("oci-archive", $"manifest {descriptor.Digest} is {descriptor.Size} bytes, more than the {ManifestDocument.MaxSize} bytes accepted (ManifestDocument.MaxSize).");
        }

        var stream = await OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var bytes = new byte[descriptor.Size];
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            return ManifestDocument.Parse(bytes, descriptor);
        }
    }

    /// <inheritdoc/>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (!_entries.TryGetValue(ArchiveTar.BlobPath(descriptor.Digest), out var entry))
        {
            throw new BlobNotFoundException(descriptor.Digest, _path);
        }

        if (entry.Length != descriptor.Size)
        {
            throw new OciFormatException($"blob {descriptor.Digest}", $"is {entry.Length} bytes in {_path} but {descriptor.Size} in its descriptor.");
        }

        var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
        file.Seek(entry.Offset, SeekOrigin.Begin);
        return Task.FromResult<Stream>(new VerifiedBlobStream(file, descriptor, _path, bounded: true));
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// An image in a docker-archive as an <see cref="IImageSource"/>. The archive is imported once into a private
/// temporary OCI layout (its layers' digests and media types must be computed, and an OCI manifest made when the
/// archive carries none), which is deleted when the source is disposed.
/// </summary>
public sealed class DockerArchiveImageSource : IImageSource
{
    private readonly OciLayoutImageSource _inner;

    private DockerArchiveImageSource(OciLayoutImageSource inner) => _inner = inner;

    /// <inheritdoc/>
    public string Name => _inner.Name;

    /// <summary>Imports a docker-archive and picks one of its images.</summary>
    /// <param name="path">The tar file.</param>
    /// <param name="reference">The image's name (<c>RepoTags</c>); <see langword="null"/> for its only image.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The source; dispose it to delete the temporary layout.</returns>
    /// <exception cref="FileNotFoundException">The archive does not exist.</exception>
    /// <exception cref="ImageNotFoundException">The archive has no such image, or holds several and none was named.</exception>
    public static Task<DockerArchiveImageSource> OpenAsync(string path, ImageReference? reference = null, CancellationToken cancellationToken = default)
    {
        var location = ImageLocation.ForDockerArchive(path, reference);
        return OpenAsync(location.Path!, reference, location.ToString(), cancellationToken);
    }

    internal static async Task<DockerArchiveImageSource> OpenAsync(string path, ImageReference? reference, string location, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The archive {path} does not exist.", path);
        }

        var temporary = Path.Combine(Path.GetTempPath(), "ocikit-docker-archive-" + Guid.NewGuid().ToString("N"));
        try
        {
            var layout = await OciLayout.OpenAsync(temporary, cancellationToken: cancellationToken).ConfigureAwait(false);
            var archive = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
            System.Collections.Immutable.ImmutableArray<LayoutImage> loaded;
            await using (archive.ConfigureAwait(false))
            {
                loaded = await DockerArchive.ImportAsync(archive, layout, cancellationToken).ConfigureAwait(false);
            }

            var top = ImageSelection.Select(loaded, reference is { } r ? MatchingName(loaded, r) : null, location, path);
            return new DockerArchiveImageSource(new OciLayoutImageSource(layout, top, location, () =>
            {
                Delete(temporary);
                return ValueTask.CompletedTask;
            }));
        }
        catch
        {
            Delete(temporary);
            throw;
        }
    }

    /// <inheritdoc/>
    public Task<ManifestDocument> ResolveAsync(CancellationToken cancellationToken = default) => _inner.ResolveAsync(cancellationToken);

    /// <inheritdoc/>
    public Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken = default) => _inner.ReadManifestAsync(descriptor, cancellationToken);

    /// <inheritdoc/>
    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken = default) => _inner.OpenBlobAsync(descriptor, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    // The docker archive may record the name in familiar (app:1) or canonical (docker.io/library/app:1) form.
    private static string MatchingName(IEnumerable<LayoutImage> images, ImageReference reference) =>
        images.Select(i => i.Name).FirstOrDefault(n => n is not null && ImageReference.TryParse(n, out var r) && r == reference) ?? reference.FamiliarString;

    private static void Delete(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>
/// An oci-archive as an <see cref="IImageSink"/>. Blobs are recorded with the source they come from and read once, when
/// <see cref="CompleteAsync"/> writes the tar (entries in ordinal path order, as every OciKit archive) to a temporary
/// file renamed into place; a failed or abandoned copy leaves no file.
/// </summary>
/// <param name="path">The tar file to write.</param>
/// <param name="name">The image's name in the archive (<c>org.opencontainers.image.ref.name</c>).</param>
public sealed class OciArchiveImageSink(string path, string name) : ArchiveImageSink(path)
{
    /// <inheritdoc/>
    public override string Name => ImageLocation.OciArchivePrefix + Contents.Path + ":" + name;

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No image was tagged.</exception>
    public override Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        var top = Contents.Top ?? throw new InvalidOperationException("No image was put under a name in the oci-archive.");
        var tar = new ArchiveTar();
        Contents.AddAll(tar);
        tar.AddFile(OciLayoutHeader.FileName, OciLayoutHeader.ToJson());
        tar.AddFile(OciLayout.IndexFileName, new ImageIndex([top.Descriptor with { Annotations = ImageSelection.RefName(name) }]).ToJson());
        return AtomicFile.WriteAsync(Contents.Path, tar.WriteAsync, cancellationToken);
    }
}

/// <summary>
/// A docker-archive (as <c>docker save</c> writes it) as an <see cref="IImageSink"/>, holding one image manifest (not an
/// index: pick a platform) under a <c>RepoTags</c> name. Written like <see cref="OciArchiveImageSink"/>: blobs read from
/// their source when <see cref="CompleteAsync"/> writes the tar to a temporary file renamed into place.
/// </summary>
/// <param name="path">The tar file to write.</param>
/// <param name="name">The image's repository:tag (<c>:latest</c> is added when it has no tag).</param>
public sealed class DockerArchiveImageSink(string path, string name) : ArchiveImageSink(path)
{
    /// <inheritdoc/>
    public override string Name => ImageLocation.DockerArchivePrefix + Contents.Path + ":" + name;

    /// <inheritdoc/>
    /// <exception cref="OciFormatException">The top is not an image manifest.</exception>
    public override Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(top);
        return top.Manifest is null
            ? throw new OciFormatException($"manifest {top.Digest}", "is not an image manifest; a docker archive holds single images (pick a platform).")
            : base.TagAsync(top, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No image was tagged.</exception>
    public override Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        var top = Contents.Top ?? throw new InvalidOperationException("No image was put under a name in the docker archive.");
        return AtomicFile.WriteAsync(
            Contents.Path,
            (s, ct) => DockerArchive.WriteAsync([(new DockerArchiveImage(name, []), top)], Contents.AddTo, s, ct),
            cancellationToken);
    }
}

/// <summary>
/// What the archive sinks share: blobs are recorded with the source they come from and read once, when
/// <see cref="CompleteAsync"/> writes the tar to a temporary file renamed into place (so the archive is deterministic,
/// byte-identical to what the layout writers produce, and never half-written).
/// </summary>
public abstract class ArchiveImageSink : IImageSink
{
    private protected ArchiveImageSink(string path) => Contents = new ArchiveContents(Path.GetFullPath(path));

    /// <inheritdoc/>
    public abstract string Name { get; }

    private protected ArchiveContents Contents { get; }

    /// <inheritdoc/>
    public Task<bool> HasBlobAsync(Descriptor blob, CancellationToken cancellationToken = default) => Task.FromResult(Contents.Has(blob));

    /// <inheritdoc/>
    public Task<BlobUploadOutcome> PutBlobAsync(Descriptor blob, ImageManifest manifest, IImageSource from, CancellationToken cancellationToken = default) =>
        Task.FromResult(Contents.Add(blob, from));

    /// <inheritdoc/>
    public Task PutManifestAsync(ManifestDocument document, CancellationToken cancellationToken = default)
    {
        Contents.AddManifest(document);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public virtual Task TagAsync(ManifestDocument top, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(top);
        Contents.AddManifest(top);
        Contents.Top = top;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public abstract Task CompleteAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>What an archive sink has been given: blobs (with their source, read when the tar is written) and manifests.</summary>
internal sealed class ArchiveContents(string path)
{
    private readonly ConcurrentDictionary<Digest, (Descriptor Blob, IImageSource From)> _blobs = new();
    private readonly ConcurrentDictionary<Digest, ReadOnlyMemory<byte>> _manifests = new();

    public string Path => path;

    public ManifestDocument? Top { get; set; }

    public bool Has(Descriptor blob) => _blobs.ContainsKey(blob.Digest) || _manifests.ContainsKey(blob.Digest);

    public BlobUploadOutcome Add(Descriptor blob, IImageSource from) =>
        !_manifests.ContainsKey(blob.Digest) && _blobs.TryAdd(blob.Digest, (blob, from)) ? BlobUploadOutcome.Uploaded : BlobUploadOutcome.AlreadyPresent;

    public void AddManifest(ManifestDocument document) => _manifests[document.Digest] = document.Bytes;

    public void AddAll(ArchiveTar tar)
    {
        foreach (var digest in _blobs.Keys.Concat(_manifests.Keys).Distinct())
        {
            AddTo(tar, digest);
        }
    }

    public void AddTo(ArchiveTar tar, Digest digest)
    {
        if (_manifests.TryGetValue(digest, out var bytes))
        {
            tar.AddBlob(digest, bytes);
        }
        else if (_blobs.TryGetValue(digest, out var entry))
        {
            tar.AddBlob(digest, async ct =>
            {
                var stream = await entry.From.OpenBlobAsync(entry.Blob, ct).ConfigureAwait(false);
                return new KnownLengthReadStream(stream, entry.Blob.Size, ArchiveTar.BlobPath(digest));
            });
        }
        else
        {
            throw new BlobNotFoundException(digest, path);
        }
    }
}
