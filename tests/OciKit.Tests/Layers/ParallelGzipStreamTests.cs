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
}
