using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using OciKit.Layers;
using ZstdSharp;

namespace OciKit.Benchmarks;

/// <summary>SHA-256 through <see cref="HashingStream"/> in 1 MiB writes, the cost every layer pays twice.</summary>
[MemoryDiagnoser]
[Throughput]
public class HashingBenchmarks : IThroughputBenchmark
{
    private byte[] _input = [];

    /// <inheritdoc />
    public long InputBytes => _input.Length;

    /// <summary>Loads the input.</summary>
    [GlobalSetup]
    public void Setup() => _input = LayerBenchmarkData.Slice();

    /// <summary>Streams the input through a hashing stream into <see cref="Stream.Null"/>.</summary>
    [Benchmark]
    public Primitives.Digest Sha256Streaming()
    {
        using var hashing = new HashingStream(Stream.Null);
        for (var offset = 0; offset < _input.Length; offset += 1024 * 1024)
        {
            hashing.Write(_input, offset, Math.Min(1024 * 1024, _input.Length - offset));
        }

        return hashing.GetDigest();
    }
}

/// <summary>Serial <see cref="GZipStream"/> against <see cref="ParallelGzipStream"/> at the same zlib level.</summary>
[MemoryDiagnoser]
[Throughput]
public class CompressionBenchmarks : IThroughputBenchmark
{
    private byte[] _input = [];

    /// <inheritdoc />
    public long InputBytes => _input.Length;

    /// <summary>The zlib level: 1 (fastest), 6 (default), 9 (smallest).</summary>
    [Params(1, 6, 9)]
    public int Level { get; set; }

    /// <summary>Loads the input.</summary>
    [GlobalSetup]
    public void Setup() => _input = LayerBenchmarkData.Slice();

    /// <summary>One GZipStream, one core.</summary>
    [Benchmark(Baseline = true)]
    public long SerialGZipStream()
    {
        var counter = new CountingStream();
        using (var gzip = new GZipStream(counter, new ZLibCompressionOptions { CompressionLevel = Level }, leaveOpen: true))
        {
            gzip.Write(_input);
        }

        return counter.Count;
    }

    /// <summary>Our gzip member writer on every core, 1 MiB blocks.</summary>
    [Benchmark]
    public long ParallelGzip()
    {
        var counter = new CountingStream();
        using (var gzip = new ParallelGzipStream(counter, Level, 1024 * 1024, Environment.ProcessorCount))
        {
            gzip.Write(_input);
        }

        return counter.Count;
    }
}

/// <summary>zstd (ZstdSharp) as layers use it: multithreaded on every core.</summary>
[MemoryDiagnoser]
[Throughput]
public class ZstdBenchmarks : IThroughputBenchmark
{
    private byte[] _input = [];

    /// <inheritdoc />
    public long InputBytes => _input.Length;

    /// <summary>The zstd level: 1 (fastest) and 3 (default); 19 (smallest) runs at a few MB/s and is left out to keep runs short.</summary>
    [Params(1, 3)]
    public int Level { get; set; }

    /// <summary>Loads the input.</summary>
    [GlobalSetup]
    public void Setup() => _input = LayerBenchmarkData.Slice();

    /// <summary>zstd of the slice.</summary>
    [Benchmark]
    public long Zstd()
    {
        var counter = new CountingStream();
        using (var zstd = new CompressionStream(counter, Level, leaveOpen: true))
        {
            zstd.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, Environment.ProcessorCount);
            zstd.Write(_input);
        }

        return counter.Count;
    }
}

/// <summary>
/// Whole layers from the .NET runtime folder: the tar alone, the default gzip layer, and the gzip compression alone
/// of the same tar (the whole build should stay within 1.2× of compression alone).
/// </summary>
[MemoryDiagnoser]
[Throughput]
public class LayerBuildBenchmarks : IThroughputBenchmark
{
    private byte[] _tar = [];

    /// <inheritdoc />
    public long InputBytes => _tar.Length;

    /// <summary>Builds the uncompressed tar once, outside the measurements.</summary>
    [GlobalSetup]
    public void Setup() => _tar = LayerBenchmarkData.RuntimeTar;

    /// <summary>Compression alone: the default parallel gzip of the already-built tar.</summary>
    [Benchmark(Baseline = true)]
    public long GzipOfTarAlone()
    {
        var counter = new CountingStream();
        using (var gzip = new ParallelGzipStream(counter, LayerOptions.Default.ZlibLevelForBenchmarks(), LayerOptions.Default.GzipBlockSize, LayerOptions.Default.MaxDegreeOfParallelism))
        {
            gzip.Write(_tar);
        }

        return counter.Count;
    }

    /// <summary>Tar writing from disk plus its SHA-256, no compression.</summary>
    [Benchmark]
    public async Task<LayerInfo> TarFromDirectory()
        => await LayerWriter.WriteDirectoryAsync(LayerBenchmarkData.RuntimeDirectory, new CountingStream(), new LayerOptions { Compression = LayerCompression.None });

    /// <summary>The whole default layer: walk, tar, diffID, parallel gzip, digest.</summary>
    [Benchmark]
    public async Task<LayerInfo> GzipLayerFromDirectory()
        => await LayerWriter.WriteDirectoryAsync(LayerBenchmarkData.RuntimeDirectory, new CountingStream());
}

/// <summary>A write-only sink that only counts, so benchmarks measure compression rather than memory copies.</summary>
internal sealed class CountingStream : Stream
{
    public long Count { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => Count;

    public override long Position
    {
        get => Count;
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Count += count;

    public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Count += buffer.Length;
        return ValueTask.CompletedTask;
    }
}

internal static class LayerOptionsBenchmarkExtensions
{
    public static int ZlibLevelForBenchmarks(this LayerOptions options) => options.ZlibLevel;
}
