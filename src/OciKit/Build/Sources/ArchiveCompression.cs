using System.IO.Compression;
using ICSharpCode.SharpZipLib.BZip2;
using SharpCompress.Compressors.Xz;
using ZstdSharp;

namespace OciKit.Build.Sources;

/// <summary>The compressions Docker's <c>ADD</c> recognises on a local archive, told apart by magic bytes alone.</summary>
internal enum ArchiveCompression
{
    /// <summary>No known magic: read as a plain tar stream.</summary>
    None,

    /// <summary>gzip (<c>1F 8B 08</c>).</summary>
    Gzip,

    /// <summary>bzip2 (<c>BZh</c>).</summary>
    Bzip2,

    /// <summary>xz (<c>FD 37 7A 58 5A 00</c>).</summary>
    Xz,

    /// <summary>zstd (<c>28 B5 2F FD</c>).</summary>
    Zstd,
}

/// <summary>
/// Magic-byte detection and decompression of <c>ADD</c> archives, as Docker's <c>archive.DetectCompression</c> and
/// <c>DecompressStream</c> do: the file name and extension play no part.
/// </summary>
internal static class ArchiveDecompression
{
    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B, 0x08];

    private static ReadOnlySpan<byte> Bzip2Magic => "BZh"u8;

    private static ReadOnlySpan<byte> XzMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];

    /// <summary>The compression whose magic starts <paramref name="head"/>.</summary>
    public static ArchiveCompression Detect(ReadOnlySpan<byte> head)
        => head.StartsWith(GzipMagic) ? ArchiveCompression.Gzip
            : head.StartsWith(Bzip2Magic) ? ArchiveCompression.Bzip2
            : head.StartsWith(XzMagic) ? ArchiveCompression.Xz
            : head.StartsWith(ZstdMagic) ? ArchiveCompression.Zstd
            : ArchiveCompression.None;

    /// <summary>Opens a file as its decompressed byte stream; dispose the result to close both streams.</summary>
    public static Task<DecompressedFile> OpenAsync(string path, CancellationToken cancellationToken)
        => OpenAsync(() => OpenFile(path), cancellationToken);

    /// <summary>
    /// Opens content as its decompressed byte stream. <paramref name="open"/> is called twice: once to read the
    /// magic bytes, once for the stream that is decoded, so that no stream needs to be seekable.
    /// </summary>
    public static async Task<DecompressedFile> OpenAsync(Func<Stream> open, CancellationToken cancellationToken)
    {
        var head = new byte[6];
        int read;
        var probe = open();
        await using (probe.ConfigureAwait(false))
        {
            read = await probe.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        }

        var compression = Detect(head.AsSpan(0, read));
        var raw = open();
        try
        {
            Stream stream = compression switch
            {
                ArchiveCompression.Gzip => new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true),
                ArchiveCompression.Bzip2 => new BZip2InputStream(raw) { IsStreamOwner = false },
                // SharpCompress's XZStream is a maintained managed xz decoder; the BCL has none.
                ArchiveCompression.Xz => new XZStream(raw),
                ArchiveCompression.Zstd => new DecompressionStream(raw, leaveOpen: true),
                _ => raw,
            };
            return new DecompressedFile(raw, stream, compression);
        }
        catch
        {
            await raw.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static FileStream OpenFile(string path) => new(path, new FileStreamOptions
    {
        Mode = FileMode.Open,
        Access = FileAccess.Read,
        Share = FileShare.Read,
        Options = FileOptions.SequentialScan,
    });
}

/// <summary>A file opened through its decompressor; disposing closes the decompressor and the file.</summary>
internal sealed class DecompressedFile(Stream file, Stream content, ArchiveCompression compression) : IAsyncDisposable
{
    /// <summary>The decompressed bytes.</summary>
    public Stream Content { get; } = content;

    /// <summary>The compression that was detected.</summary>
    public ArchiveCompression Compression { get; } = compression;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!ReferenceEquals(Content, file))
        {
            await Content.DisposeAsync().ConfigureAwait(false);
        }

        await file.DisposeAsync().ConfigureAwait(false);
    }
}
