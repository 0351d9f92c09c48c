using OciKit.Primitives;
using ZstdSharp;

namespace OciKit.Layers;

/// <summary>
/// Writes deterministic, content-addressed layer blobs in one pass: the tar stream feeds the diffID hash and the
/// compressor together, and the compressed stream feeds the digest hash and the destination together. Files are read
/// once; nothing is buffered whole, so layers of many gigabytes take bounded memory.
/// </summary>
/// <remarks>
/// Deterministic by default: entries in ordinal path order (parents before children), every mtime the same
/// (<see cref="LayerOptions.Timestamp"/>, else <c>SOURCE_DATE_EPOCH</c>, else the Unix epoch), owners as given
/// (default 0), no user or group names unless given, no access or change times, PAX records only where a ustar header
/// cannot hold a value. Missing parent directories are added with mode <c>0755</c>.
/// </remarks>
public static class LayerWriter
{
    private const UnixFileMode DirectoryMode = (UnixFileMode)0x1ED;

    /// <summary>Writes a layer from entries.</summary>
    /// <param name="entries">The entries, in any order; each path at most once.</param>
    /// <param name="destination">Receives the compressed blob; written, never disposed.</param>
    /// <param name="options">How to write; default <see cref="LayerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The blob's descriptor, the diffID and the uncompressed size.</returns>
    /// <exception cref="LayerPathException">Two entries have the same path, or an entry lies below a non-directory.</exception>
    /// <exception cref="IOException">A file's content is not of the declared length, or the destination failed.</exception>
    public static async Task<LayerInfo> WriteAsync(IEnumerable<LayerEntry> entries, Stream destination, LayerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(destination);
        options ??= LayerOptions.Default;
        var prepared = Prepare(entries, options);
        var mtime = options.ResolveTimestamp();

        var digestStream = new HashingStream(destination, leaveOpen: true);
        await using (digestStream.ConfigureAwait(false))
        {
            if (options.Compression == LayerCompression.None)
            {
                await TarLayerWriter.WriteAsync(prepared, digestStream, mtime, cancellationToken).ConfigureAwait(false);
                var digest = digestStream.GetDigest();
                return new LayerInfo(new Descriptor(options.MediaType, digest, digestStream.BytesWritten), digest, digestStream.BytesWritten);
            }

            var compressor = CreateCompressor(digestStream, options);
            await using (compressor.ConfigureAwait(false))
            {
                var diffStream = new HashingStream(compressor, leaveOpen: true);
                await using (diffStream.ConfigureAwait(false))
                {
                    await TarLayerWriter.WriteAsync(prepared, diffStream, mtime, cancellationToken).ConfigureAwait(false);
                    if (compressor is ParallelGzipStream gzip)
                    {
                        await gzip.FinishAsync(cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        // The zstd frame is completed when its stream is disposed.
                        await compressor.DisposeAsync().ConfigureAwait(false);
                    }

                    await digestStream.FlushAsync(cancellationToken).ConfigureAwait(false);
                    return new LayerInfo(
                        new Descriptor(options.MediaType, digestStream.GetDigest(), digestStream.BytesWritten),
                        diffStream.GetDigest(),
                        diffStream.BytesWritten);
                }
            }
        }
    }

    /// <summary>Writes a layer holding a directory's content (the directory itself is the layer root).</summary>
    /// <param name="directory">The directory to archive.</param>
    /// <param name="destination">Receives the compressed blob; written, never disposed.</param>
    /// <param name="options">How to write; default <see cref="LayerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The blob's descriptor, the diffID and the uncompressed size.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="NotSupportedException">The directory holds a device, FIFO or socket.</exception>
    /// <exception cref="IOException">A file changed while it was archived, or the destination failed.</exception>
    public static Task<LayerInfo> WriteDirectoryAsync(string directory, Stream destination, LayerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= LayerOptions.Default;
        return WriteAsync(LayerDirectory.ReadEntries(directory, options), destination, options, cancellationToken);
    }

    /// <summary>
    /// Writes the layer that turns <paramref name="lowerDirectory"/> into <paramref name="upperDirectory"/>: added and
    /// changed entries plus whiteouts for deletions (a daemonless <c>docker commit</c>).
    /// </summary>
    /// <param name="lowerDirectory">The tree before the change.</param>
    /// <param name="upperDirectory">The tree after the change.</param>
    /// <param name="destination">Receives the compressed blob; written, never disposed.</param>
    /// <param name="options">How to write; default <see cref="LayerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The blob's descriptor, the diffID and the uncompressed size.</returns>
    /// <exception cref="DirectoryNotFoundException">A directory does not exist.</exception>
    /// <exception cref="NotSupportedException">A tree holds a device, FIFO or socket.</exception>
    public static async Task<LayerInfo> WriteDiffAsync(string lowerDirectory, string upperDirectory, Stream destination, LayerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= LayerOptions.Default;
        var entries = await LayerDirectory.DiffAsync(lowerDirectory, upperDirectory, options, cancellationToken).ConfigureAwait(false);
        return await WriteAsync(entries, destination, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sorts entries into canonical order, adds missing parents and refuses duplicates.</summary>
    internal static List<LayerEntry> Prepare(IEnumerable<LayerEntry> entries, LayerOptions options)
    {
        var byTarPath = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            ArgumentNullException.ThrowIfNull(entry, nameof(entries));
            if (!byTarPath.TryAdd(entry.TarPath, entry))
            {
                throw new LayerPathException(entry.TarPath, "the layer holds this path twice");
            }
        }

        foreach (var entry in new List<LayerEntry>(byTarPath.Values))
        {
            for (var parent = LayerPath.Parent(entry.TarPath); parent is not null; parent = LayerPath.Parent(parent))
            {
                if (byTarPath.TryGetValue(parent, out var existing))
                {
                    if (existing.Type != LayerEntryType.Directory)
                    {
                        throw new LayerPathException(entry.TarPath, $"its parent '{parent}' is not a directory in this layer");
                    }

                    break;
                }

                var added = LayerEntry.Directory(parent, DirectoryMode) with { Uid = options.Uid, Gid = options.Gid };
                byTarPath.Add(parent, added);
            }
        }

        var list = new List<LayerEntry>(byTarPath.Values);
        list.Sort(static (a, b) => string.CompareOrdinal(a.TarPath, b.TarPath));
        return list;
    }

    private static Stream CreateCompressor(Stream destination, LayerOptions options)
    {
        if (options.Compression == LayerCompression.Gzip)
        {
            return new ParallelGzipStream(destination, options.ZlibLevel, options.GzipBlockSize, options.MaxDegreeOfParallelism, leaveOpen: true);
        }

        var zstd = new CompressionStream(destination, options.ZstdLevel, leaveOpen: true);

        // Always multithreaded (nbWorkers >= 1): zstd's output then depends on the level and input only, not on the
        // number of workers, so every degree of parallelism gives the same bytes.
        zstd.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, options.MaxDegreeOfParallelism);
        return zstd;
    }
}
