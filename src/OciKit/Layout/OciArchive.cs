using System.Collections.Immutable;
using System.Formats.Tar;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// <c>oci-archive</c>: an OCI image layout packed in a tar, as skopeo and podman read and write it.
/// </summary>
public static class OciArchive
{
    /// <summary>Writes images of a layout as an oci-archive (only their blobs, and an <c>index.json</c> naming them).</summary>
    /// <param name="source">The layout holding the images.</param>
    /// <param name="names">The names of the images (or indexes) to include; they keep their names in the archive.</param>
    /// <param name="destination">The stream to write the tar to; not disposed.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when the archive is written.</returns>
    /// <exception cref="ImageNotFoundException">A name is not in the layout.</exception>
    public static async Task WriteAsync(OciLayout source, IEnumerable<string> names, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(destination);
        var tar = new ArchiveTar();
        var entries = new List<Descriptor>();
        foreach (var name in names)
        {
            var descriptor = await source.ResolveAsync(name, cancellationToken).ConfigureAwait(false)
                ?? throw new ImageNotFoundException(name, $"the layout at {source.Root}");
            entries.Add(descriptor);
            await AddClosureAsync(source, descriptor, tar, cancellationToken).ConfigureAwait(false);
        }

        tar.AddFile(OciLayoutHeader.FileName, OciLayoutHeader.ToJson());
        tar.AddFile(OciLayout.IndexFileName, new ImageIndex([.. entries]).ToJson());
        await tar.WriteAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads an oci-archive into a layout: every blob is verified against its name while it is copied, then the
    /// archive's named entries are tagged in the target.
    /// </summary>
    /// <param name="archive">The tar stream; read once, front to back, not disposed.</param>
    /// <param name="target">The layout to import into.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The archive's <c>index.json</c> entries.</returns>
    /// <exception cref="OciFormatException">The archive is not a valid OCI layout.</exception>
    /// <exception cref="DigestMismatchException">A blob does not have the digest its path says.</exception>
    public static async Task<ImmutableArray<LayoutImage>> ImportAsync(Stream archive, OciLayout target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(target);
        byte[]? index = null;
        var sawHeader = false;
        await foreach (var (name, entry) in ReadEntriesAsync(archive, cancellationToken).ConfigureAwait(false))
        {
            if (name == OciLayoutHeader.FileName)
            {
                OciLayoutHeader.Parse(await ReadSmallAsync(entry, cancellationToken).ConfigureAwait(false));
                sawHeader = true;
            }
            else if (name == OciLayout.IndexFileName)
            {
                index = await ReadSmallAsync(entry, cancellationToken).ConfigureAwait(false);
            }
            else if (TryParseBlobPath(name, out var digest))
            {
                await target.WriteBlobAsync(entry.DataStream ?? Stream.Null, new Descriptor(MediaTypes.OctetStream, digest, entry.Length), cancellationToken).ConfigureAwait(false);
            }
        }

        if (!sawHeader || index is null)
        {
            throw new OciFormatException("oci-archive", $"has no {(sawHeader ? OciLayout.IndexFileName : OciLayoutHeader.FileName)}.");
        }

        var parsed = JsonIn.Read(index, "index.json in oci-archive", ImageIndex.Read);
        if (parsed.Manifests.FirstOrDefault(d => (MediaTypes.IsManifest(d.MediaType) || MediaTypes.IsIndex(d.MediaType)) && d.Size > ManifestDocument.MaxSize) is { } oversized)
        {
            // Nothing is tagged: the store could not read this manifest back.
            throw new OciFormatException("oci-archive", $"manifest {oversized.Digest} is {oversized.Size} bytes, more than the {ManifestDocument.MaxSize} bytes accepted (ManifestDocument.MaxSize).");
        }

        var result = ImmutableArray.CreateBuilder<LayoutImage>();
        foreach (var descriptor in parsed.Manifests)
        {
            var name = OciLayout.NameOf(descriptor);
            if (name is not null)
            {
                await target.TagAsync(name, descriptor, cancellationToken).ConfigureAwait(false);
            }

            result.Add(new LayoutImage(name, descriptor));
        }

        return result.ToImmutable();
    }

    internal static async Task AddClosureAsync(OciLayout source, Descriptor descriptor, ArchiveTar tar, CancellationToken cancellationToken)
    {
        tar.AddBlob(source, descriptor.Digest);
        var isIndex = MediaTypes.IsIndex(descriptor.MediaType);
        foreach (var child in await source.ReferencedAsync(descriptor, cancellationToken).ConfigureAwait(false))
        {
            if (source.ContainsBlob(child.Digest))
            {
                await AddClosureAsync(source, child, tar, cancellationToken).ConfigureAwait(false);
            }
            else if (!isIndex && child.Urls is not { Count: > 0 })
            {
                // An index may list platforms whose manifests were never fetched, and non-distributable layers
                // (which carry URLs) may be absent; anything else missing is an incomplete image.
                throw new BlobNotFoundException(child.Digest, source.Root);
            }
        }
    }

    internal static async IAsyncEnumerable<(string Name, TarEntry Entry)> ReadEntriesAsync(
        Stream archive, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = new TarReader(archive, leaveOpen: true);
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                TarEntry? entry;
                try
                {
                    entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidDataException or FormatException)
                {
                    throw new OciFormatException("archive", $"is not a valid tar ({e.Message})", e);
                }

                if (entry is null)
                {
                    yield break;
                }

                // Archives written by tar carry "./"-prefixed (or "/"-prefixed, doubled-slash) names; a name that climbs
                // out with ".." names nothing an archive reader looks for and is passed over.
                var name = CleanName(entry.Name);
                if (name is not null)
                {
                    yield return (name, entry);
                }
            }
        }
    }

    private static string? CleanName(string name)
    {
        try
        {
            return Layers.LayerPath.CleanRead(name);
        }
        catch (Layers.LayerPathException)
        {
            return null;
        }
    }

    internal static async Task<byte[]> ReadSmallAsync(TarEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Length > 16 * 1024 * 1024 || entry.DataStream is null)
        {
            throw new OciFormatException("archive", $"entry '{entry.Name}' is too large or not a file.");
        }

        var buffer = new MemoryStream((int)entry.Length);
        await entry.DataStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    internal static bool TryParseBlobPath(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Digest? digest)
    {
        digest = null;
        var parts = name.Split('/');
        return parts.Length == 3 && parts[0] == "blobs" && Digest.TryParse(parts[1] + ":" + parts[2], out digest);
    }
}
