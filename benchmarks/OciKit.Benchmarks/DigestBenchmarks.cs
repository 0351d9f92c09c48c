using BenchmarkDotNet.Attributes;
using OciKit.Primitives;

namespace OciKit.Benchmarks;

/// <summary>SHA-256 digests of in-memory content, the cost every blob pays at least once.</summary>
[MemoryDiagnoser]
[Throughput]
public class DigestBenchmarks : IThroughputBenchmark
{
    private byte[] _content = [];

    /// <summary>Content size in bytes.</summary>
    [Params(64 * 1024, 16 * 1024 * 1024)]
    public int Size { get; set; }

    /// <inheritdoc />
    public long InputBytes => Size;

    /// <summary>Fills the content with deterministic pseudo-random bytes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _content = new byte[Size];
        new Random(42).NextBytes(_content);
    }

    /// <summary>Digest of a span.</summary>
    [Benchmark]
    public Digest Sha256Span() => Digest.ComputeSha256(_content);

    /// <summary>Digest of a stream read to the end.</summary>
    [Benchmark]
    public Task<Digest> Sha256Stream() => Digest.ComputeSha256Async(new MemoryStream(_content, writable: false));
}
