using System.Globalization;
using OciKit.Primitives;

namespace OciKit.Layers;

/// <summary>How a layer blob is compressed.</summary>
public enum LayerCompression
{
    /// <summary>gzip (RFC 1952), the most widely supported; written by all cores as one standard gzip member.</summary>
    Gzip,

    /// <summary>zstd (RFC 8878), smaller and faster to decompress; needs a recent runtime to pull.</summary>
    Zstd,

    /// <summary>No compression: the blob is the tar stream itself and its digest equals the diffID.</summary>
    None,
}

/// <summary>How hard the compressor works.</summary>
public enum LayerCompressionLevel
{
    /// <summary>Fastest: zlib level 1, zstd level 1.</summary>
    Fastest,

    /// <summary>The balance: zlib level 6, zstd level 3.</summary>
    Default,

    /// <summary>Smallest: zlib level 9, zstd level 19.</summary>
    Smallest,
}

/// <summary>Which family of media types a layer descriptor uses.</summary>
public enum LayerMediaTypeFlavor
{
    /// <summary>OCI media types (<see cref="MediaTypes.OciLayerGzip"/> and siblings).</summary>
    Oci,

    /// <summary>Docker schema 2 media types (<see cref="MediaTypes.DockerLayerGzip"/> and siblings).</summary>
    Docker,
}

/// <summary>How a layer is written. Immutable; every property is validated when it is set.</summary>
public sealed record LayerOptions
{
    /// <summary>The largest gzip block size accepted (64 MiB).</summary>
    public const int MaxGzipBlockSize = 64 * 1024 * 1024;

    /// <summary>The smallest gzip block size accepted (64 KiB).</summary>
    public const int MinGzipBlockSize = 64 * 1024;

    // The largest mtime a ustar header holds (11 octal digits); later times would need PAX records for every entry.
    private static readonly DateTimeOffset MaxTimestamp = DateTimeOffset.FromUnixTimeSeconds(0x1_FFFF_FFFF);

    private readonly DateTimeOffset? _timestamp;
    private readonly int _maxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 64);
    private readonly int _gzipBlockSize = 1024 * 1024;
    private readonly int _uid;
    private readonly int _gid;

    /// <summary>The options every default argument uses.</summary>
    public static LayerOptions Default { get; } = new();

    /// <summary>The compression of the blob (default gzip).</summary>
    public LayerCompression Compression { get; init; } = LayerCompression.Gzip;

    /// <summary>
    /// The compression level (default <see cref="LayerCompressionLevel.Default"/>, zlib 6 / zstd 3).
    /// </summary>
    /// <remarks>
    /// Why zlib 6: on the 82 MB tar of a .NET runtime folder (see <c>benchmarks/README.md</c>) level 1 costs 0.90 CPU-s
    /// for 44.9 MB, level 6 1.52 CPU-s for 36.4 MB (19% smaller for 1.7× the CPU), level 9 3.64 CPU-s for 35.1 MB
    /// (3.6% smaller for 2.4× the CPU). Level 6 is where the size curve flattens, it is what Docker and BuildKit
    /// write, and with parallel blocks it compresses at about 125 MB/s on two cores.
    /// </remarks>
    public LayerCompressionLevel CompressionLevel { get; init; } = LayerCompressionLevel.Default;

    /// <summary>The media type family of the resulting descriptor (default OCI).</summary>
    public LayerMediaTypeFlavor MediaTypeFlavor { get; init; } = LayerMediaTypeFlavor.Oci;

    /// <summary>
    /// The modification time of every entry. When <see langword="null"/> (the default) the <c>SOURCE_DATE_EPOCH</c>
    /// environment variable is used if set, else the Unix epoch. Sub-second parts are dropped.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The time is before the Unix epoch or beyond what a tar header holds.</exception>
    public DateTimeOffset? Timestamp
    {
        get => _timestamp;
        init => _timestamp = value is null || (value >= DateTimeOffset.UnixEpoch && value <= MaxTimestamp)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "The timestamp must lie between the Unix epoch and 2242.");
    }

    /// <summary>How many blocks are compressed at once (default the processor count); the output does not depend on it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not between 1 and 64.</exception>
    public int MaxDegreeOfParallelism
    {
        get => _maxDegreeOfParallelism;
        init => _maxDegreeOfParallelism = value is >= 1 and <= 64
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "The degree of parallelism must be between 1 and 64.");
    }

    /// <summary>
    /// The size of the uncompressed blocks gzip compresses independently (default 1 MiB). It is part of the output's
    /// identity: the same input gives the same bytes for the same block size, whatever the parallelism.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not between 64 KiB and 64 MiB.</exception>
    public int GzipBlockSize
    {
        get => _gzipBlockSize;
        init => _gzipBlockSize = value is >= MinGzipBlockSize and <= MaxGzipBlockSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "The gzip block size must be between 64 KiB and 64 MiB.");
    }

    /// <summary>The owner id of the entries the writer makes itself (missing parents, directory walks); default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Uid
    {
        get => _uid;
        init => _uid = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A uid is never negative.");
    }

    /// <summary>The group id of the entries the writer makes itself (missing parents, directory walks); default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Gid
    {
        get => _gid;
        init => _gid = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A gid is never negative.");
    }

    /// <summary>The media type of a layer written with these options.</summary>
    public string MediaType => (Compression, MediaTypeFlavor) switch
    {
        (LayerCompression.Gzip, LayerMediaTypeFlavor.Oci) => MediaTypes.OciLayerGzip,
        (LayerCompression.Zstd, LayerMediaTypeFlavor.Oci) => MediaTypes.OciLayerZstd,
        (LayerCompression.None, LayerMediaTypeFlavor.Oci) => MediaTypes.OciLayer,
        (LayerCompression.Gzip, _) => MediaTypes.DockerLayerGzip,
        (LayerCompression.Zstd, _) => MediaTypes.DockerLayerZstd,
        _ => MediaTypes.DockerLayer,
    };

    /// <summary>The entry time to use: <see cref="Timestamp"/>, else <c>SOURCE_DATE_EPOCH</c>, else the Unix epoch.</summary>
    /// <exception cref="OciFormatException"><c>SOURCE_DATE_EPOCH</c> is set but not a valid number of seconds.</exception>
    internal DateTimeOffset ResolveTimestamp()
    {
        if (Timestamp is { } given)
        {
            return DateTimeOffset.FromUnixTimeSeconds(given.ToUnixTimeSeconds());
        }

        var env = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrWhiteSpace(env))
        {
            return DateTimeOffset.UnixEpoch;
        }

        return long.TryParse(env.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= MaxTimestamp.ToUnixTimeSeconds()
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new OciFormatException("SOURCE_DATE_EPOCH", $"'{env}' is not a non-negative number of seconds that fits a tar header.");
    }

    /// <summary>
    /// Everything besides the entries that decides a layer's bytes, for cache keys that may be shared between machines:
    /// codec, level, media type family, entry time, gzip block size, default owner, and the compressor's identity (the
    /// OciKit version and the zlib or zstd library that compresses). The degree of parallelism is left out: it does
    /// not change the output.
    /// </summary>
    internal string CacheIdentity => string.Create(
        CultureInfo.InvariantCulture,
        $"{Compression}/{CompressionLevel}/{MediaTypeFlavor}/{ResolveTimestamp().ToUnixTimeSeconds()}/{(Compression == LayerCompression.Gzip ? GzipBlockSize : 0)}/{Uid}:{Gid}/{CompressorIdentity.Of(Compression)}");

    internal int ZlibLevel => CompressionLevel switch
    {
        LayerCompressionLevel.Fastest => 1,
        LayerCompressionLevel.Smallest => 9,
        _ => 6,
    };

    internal int ZstdLevel => CompressionLevel switch
    {
        LayerCompressionLevel.Fastest => 1,
        LayerCompressionLevel.Smallest => 19,
        _ => 3,
    };
}
