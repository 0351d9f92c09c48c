using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using OciKit.Primitives;
using ZstdSharp;

namespace OciKit.Layers;

/// <summary>One entry read from a layer.</summary>
/// <remarks>
/// <see cref="Content"/> is only readable until the enumeration moves to the next entry; copy what you need first.
/// </remarks>
public sealed class LayerReadEntry
{
    internal LayerReadEntry(LayerEntryType type, string path, UnixFileMode mode, int uid, int gid, string? userName, string? groupName, long size, string? linkTarget, DateTimeOffset modificationTime, IReadOnlyDictionary<string, string> extendedAttributes, Stream? content)
    {
        Type = type;
        Path = path;
        Mode = mode;
        Uid = uid;
        Gid = gid;
        UserName = userName;
        GroupName = groupName;
        Size = size;
        LinkTarget = linkTarget;
        ModificationTime = modificationTime;
        ExtendedAttributes = extendedAttributes;
        Content = content;
    }

    /// <summary>What the entry is; a <c>.wh.</c> file is reported as <see cref="LayerEntryType.Whiteout"/> or <see cref="LayerEntryType.OpaqueWhiteout"/>.</summary>
    public LayerEntryType Type { get; }

    /// <summary>The normalised path; for a whiteout, the deleted path; for an opaque marker, the directory (<c>""</c> for the root).</summary>
    public string Path { get; }

    /// <summary>The permission bits.</summary>
    public UnixFileMode Mode { get; }

    /// <summary>The numeric owner id.</summary>
    public int Uid { get; }

    /// <summary>The numeric group id.</summary>
    public int Gid { get; }

    /// <summary>The owner name, if the layer names one.</summary>
    public string? UserName { get; }

    /// <summary>The group name, if the layer names one.</summary>
    public string? GroupName { get; }

    /// <summary>The content length of a file.</summary>
    public long Size { get; }

    /// <summary>The target of a symlink (as stored) or of a hard link (normalised).</summary>
    public string? LinkTarget { get; }

    /// <summary>The modification time.</summary>
    public DateTimeOffset ModificationTime { get; }

    /// <summary>Extended attributes (PAX <c>SCHILY.xattr.*</c> records), by attribute name.</summary>
    public IReadOnlyDictionary<string, string> ExtendedAttributes { get; }

    /// <summary>The content of a file, readable until the enumeration advances; <see langword="null"/> for other types.</summary>
    public Stream? Content { get; }

    /// <summary>The major number of a device (only reported to OciKit's own extraction); 0 otherwise.</summary>
    public int DeviceMajor { get; init; }

    /// <summary>The minor number of a device; 0 otherwise.</summary>
    public int DeviceMinor { get; init; }
}

/// <summary>Reads layer blobs: decompresses them by media type and enumerates their entries safely.</summary>
public static class LayerReader
{
    private const string XattrPrefix = "SCHILY.xattr.";

    /// <summary>Opens a layer blob as its uncompressed tar stream, choosing the decompressor from the media type.</summary>
    /// <param name="blob">The compressed blob; read, and disposed with the returned stream only if <paramref name="leaveOpen"/> is false.</param>
    /// <param name="mediaType">An OCI or Docker layer media type (gzip, zstd or uncompressed).</param>
    /// <param name="leaveOpen">Whether <paramref name="blob"/> stays open when the returned stream is disposed (default: it does).</param>
    /// <returns>A new stream the caller owns.</returns>
    /// <exception cref="NotSupportedException">The media type is not a layer media type OciKit can read.</exception>
    public static Stream OpenDecompressed(Stream blob, string mediaType, bool leaveOpen = true)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentNullException.ThrowIfNull(mediaType);
        if (MediaTypes.IsGzipLayer(mediaType))
        {
            return new GZipStream(blob, CompressionMode.Decompress, leaveOpen);
        }

        if (MediaTypes.IsZstdLayer(mediaType))
        {
            return new DecompressionStream(blob, leaveOpen: leaveOpen);
        }

        if (MediaTypes.IsUncompressedLayer(mediaType))
        {
            return leaveOpen ? new NonClosingStream(blob) : blob;
        }

        throw new NotSupportedException($"'{mediaType}' is not a layer media type OciKit can read.");
    }

    /// <summary>
    /// Enumerates a layer blob's entries. Names are cleaned as containerd cleans them (<see cref="LayerPath.CleanRead"/>:
    /// <c>./</c>-prefixed, <c>/</c>-prefixed and doubled-slash names become plain relative paths; an entry naming the
    /// root itself is skipped); a name or hard-link target that climbs above the root with <c>..</c> fails with
    /// <see cref="LayerPathException"/>; a corrupt stream fails with <see cref="OciFormatException"/>. PAX and GNU long
    /// names are read by <see cref="TarReader"/>. Entries are reported as stored: a repeated path appears again (the
    /// last one wins when applied), and no parent directory is invented.
    /// </summary>
    /// <param name="blob">The compressed blob; read, never disposed.</param>
    /// <param name="mediaType">An OCI or Docker layer media type.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entries in stream order; each entry's content is valid until the next one is requested.</returns>
    /// <exception cref="NotSupportedException">The media type is not a layer media type OciKit can read.</exception>
    /// <exception cref="LayerPathException">An entry's path or hard-link target escapes the layer root.</exception>
    /// <exception cref="OciFormatException">The blob is not a valid compressed tar stream.</exception>
    public static IAsyncEnumerable<LayerReadEntry> ReadEntriesAsync(Stream blob, string mediaType, CancellationToken cancellationToken = default)
        => ReadEntriesAsync(blob, mediaType, includeSpecial: false, cancellationToken);

    /// <summary>As the public overload; with <paramref name="includeSpecial"/> character and block devices and FIFOs are reported too.</summary>
    internal static async IAsyncEnumerable<LayerReadEntry> ReadEntriesAsync(Stream blob, string mediaType, bool includeSpecial, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var tar = new FormatCheckingStream(OpenDecompressed(blob, mediaType, leaveOpen: true), mediaType);
        await using (tar.ConfigureAwait(false))
        {
            var reader = new TarReader(tar, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                while (true)
                {
                    TarEntry? entry;
                    try
                    {
                        entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (IsFormatError(ex) || ex is ArgumentException)
                    {
                        throw new OciFormatException("layer", $"the blob is not a valid {mediaType} stream: {ex.Message}", ex);
                    }

                    if (entry is null)
                    {
                        // Read past the end-of-archive blocks so the compressor's trailer (gzip's CRC-32) is checked too.
                        await tar.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
                        yield break;
                    }

                    var read = Convert(entry, includeSpecial);
                    if (read is not null)
                    {
                        yield return read;
                    }
                }
            }
        }
    }

    private static LayerReadEntry? Convert(TarEntry entry, bool includeSpecial)
    {
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
        {
            return null;
        }

        var path = LayerPath.CleanRead(entry.Name);
        if (path.Length == 0)
        {
            // The root itself ("./" as `tar -C dir -cf layer.tar .` writes it, or "/"): skipped, as containerd skips an
            // entry that resolves to the root. Its metadata is the writer's temporary directory's (often 0700 from
            // mktemp), never meant for the image's "/", which the runtime and the lower layers own.
            return null;
        }

        var name = LayerPath.Name(path);
        var parent = LayerPath.Parent(path);
        LayerEntryType type;
        string? linkTarget = null;
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                type = LayerEntryType.Directory;
                break;
            case TarEntryType.SymbolicLink:
                type = LayerEntryType.Symlink;
                linkTarget = entry.LinkName;
                break;
            case TarEntryType.HardLink:
                type = LayerEntryType.Hardlink;
                linkTarget = LayerPath.CleanRead(entry.LinkName);
                if (linkTarget.Length == 0)
                {
                    throw new LayerPathException(entry.Name, $"the hard link names the layer root '{entry.LinkName}'");
                }

                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                type = LayerEntryType.File;
                break;
            case TarEntryType.CharacterDevice when includeSpecial:
                type = LayerEntryType.CharacterDevice;
                break;
            case TarEntryType.BlockDevice when includeSpecial:
                type = LayerEntryType.BlockDevice;
                break;
            case TarEntryType.Fifo when includeSpecial:
                type = LayerEntryType.Fifo;
                break;
            default:
                // Devices and FIFOs are not modelled by LayerEntry; global PAX headers carry no entry.
                return null;
        }

        if (type == LayerEntryType.File && name == LayerPath.OpaqueMarker)
        {
            // At the top level the marker hides everything the lower layers hold ("" is the root).
            type = LayerEntryType.OpaqueWhiteout;
            path = parent ?? string.Empty;
        }
        else if (type == LayerEntryType.File && name.StartsWith(LayerPath.WhiteoutPrefix, StringComparison.Ordinal))
        {
            var deleted = name[LayerPath.WhiteoutPrefix.Length..];
            if (deleted is "" or "." or "..")
            {
                throw new LayerPathException(entry.Name, "the whiteout names no sibling (it would delete its own directory or one above it)");
            }

            type = LayerEntryType.Whiteout;
            path = LayerPath.Join(parent, deleted);
        }

        var xattrs = new Dictionary<string, string>(StringComparer.Ordinal);
        string? userName = null;
        string? groupName = null;
        if (entry is PosixTarEntry posix)
        {
            userName = string.IsNullOrEmpty(posix.UserName) ? null : posix.UserName;
            groupName = string.IsNullOrEmpty(posix.GroupName) ? null : posix.GroupName;
        }

        if (entry is PaxTarEntry pax)
        {
            foreach (var (key, value) in pax.ExtendedAttributes)
            {
                if (key.StartsWith(XattrPrefix, StringComparison.Ordinal))
                {
                    xattrs[key[XattrPrefix.Length..]] = value;
                }
            }
        }

        return new LayerReadEntry(
            type,
            path,
            entry.Mode,
            entry.Uid,
            entry.Gid,
            userName,
            groupName,
            type == LayerEntryType.File ? entry.Length : 0,
            linkTarget,
            entry.ModificationTime,
            xattrs,
            type == LayerEntryType.File ? entry.DataStream ?? Stream.Null : null)
        {
            DeviceMajor = type is LayerEntryType.CharacterDevice or LayerEntryType.BlockDevice && entry is PosixTarEntry device ? device.DeviceMajor : 0,
            DeviceMinor = type is LayerEntryType.CharacterDevice or LayerEntryType.BlockDevice && entry is PosixTarEntry device2 ? device2.DeviceMinor : 0,
        };
    }

    private static bool IsFormatError(Exception ex) => ex is InvalidDataException or FormatException or ZstdException or EndOfStreamException;

    /// <summary>Turns a decompressor's format errors into <see cref="OciFormatException"/>, also while entry content is read.</summary>
    private sealed class FormatCheckingStream(Stream inner, string mediaType) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            return Read(buffer.AsSpan(offset, count));
        }

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (Exception ex) when (IsFormatError(ex))
            {
                throw Corrupt(ex);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            ValidateBufferArguments(buffer, offset, count);
            return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsFormatError(ex))
            {
                throw Corrupt(ex);
            }
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private OciFormatException Corrupt(Exception ex) => new("layer", $"the blob is not a valid {mediaType} stream: {ex.Message}", ex);
    }

    /// <summary>Passes everything through except disposal, for a blob the caller keeps.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
