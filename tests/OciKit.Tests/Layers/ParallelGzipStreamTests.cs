using System.IO.Compression;
using OciKit.Layers;

namespace OciKit.Tests.Layers;

public class ParallelGzipStreamTests
{
    [Fact]
    public async Task Empty_input_is_a_valid_gzip_member_with_a_fixed_header()
    {
        var output = new MemoryStream();
        await using (var gzip = new ParallelGzipStream(output))
        {
        }

        var bytes = output.ToArray();
        Assert.Equal(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, bytes);
        using var gunzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        Assert.Equal(-1, gunzip.ReadByte());
    }

    [Fact]
    public void Middle_blocks_are_byte_aligned_sync_flushed_and_not_final()
    {
        var input = new byte[LayerOptions.MinGzipBlockSize * 2];
        var output = new MemoryStream();
        using (var gzip = new ParallelGzipStream(output, blockSize: LayerOptions.MinGzipBlockSize, maxDegreeOfParallelism: 2))
        {
            gzip.Write(input);
        }

        // Two full blocks are each ended with a sync flush, then an empty final block: 03 00 before the trailer.
        var bytes = output.ToArray();
        Assert.Equal(new byte[] { 0, 0, 0xff, 0xff, 3, 0 }, bytes[^14..^8]);
    }

    [Fact]
    public async Task Streams_running_at_once_on_the_shared_compression_threads_write_what_each_writes_alone()
    {
        var input = new byte[LayerOptions.MinGzipBlockSize * 7 + 1234];
        new Random(7).NextBytes(input.AsSpan(0, input.Length / 2));
        var alone = Gzip(input, maxDegreeOfParallelism: 1);

        var together = await Task.WhenAll(Enumerable.Range(1, 6).Select(dop => Task.Run(() => Gzip(input, dop))));

        Assert.All(together, output => Assert.Equal(alone, output));
    }

    [Fact]
    public void A_failing_inner_stream_surfaces_its_error_and_leaves_the_shared_threads_serving_other_streams()
    {
        var input = new byte[LayerOptions.MinGzipBlockSize * 9];
        var failing = new ParallelGzipStream(new FailAfterHeaderStream(), 1, LayerOptions.MinGzipBlockSize, 2);
        Assert.Throws<IOException>(() => failing.Write(input));
        failing.Dispose();

        Assert.Equal(Gzip(input, 1), Gzip(input, 2));
    }

    [Fact]
    public async Task The_inner_stream_is_left_open_by_default_and_closed_on_request()
    {
        var kept = new MemoryStream();
        await new ParallelGzipStream(kept).DisposeAsync();
        Assert.True(kept.CanWrite);

        var closed = new MemoryStream();
        await new ParallelGzipStream(closed, leaveOpen: false).DisposeAsync();
        Assert.False(closed.CanWrite);
    }

    [Fact]
    public void Arguments_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ParallelGzipStream(Stream.Null, compressionLevel: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ParallelGzipStream(Stream.Null, blockSize: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ParallelGzipStream(Stream.Null, maxDegreeOfParallelism: 0));
    }

    private static byte[] Gzip(byte[] input, int maxDegreeOfParallelism)
    {
        var output = new MemoryStream();
        using (var gzip = new ParallelGzipStream(output, 1, LayerOptions.MinGzipBlockSize, maxDegreeOfParallelism))
        {
            for (var offset = 0; offset < input.Length; offset += 50_000)
            {
                gzip.Write(input, offset, Math.Min(50_000, input.Length - offset));
            }
        }

        return output.ToArray();
    }

    /// <summary>Accepts the 10-byte gzip header, then fails every write.</summary>
    private sealed class FailAfterHeaderStream : MemoryStream
    {
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Length >= 10)
            {
                throw new IOException("disk full");
            }

            base.Write(buffer);
        }
    }
}
