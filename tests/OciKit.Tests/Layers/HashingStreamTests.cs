using System.Text;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Tests.Layers;

public class HashingStreamTests
{
    [Fact]
    public async Task Hashes_counts_and_passes_bytes_through()
    {
        var inner = new MemoryStream();
        var content = Encoding.UTF8.GetBytes(new string('q', 100_000));
        await using (var hashing = new HashingStream(inner))
        {
            await hashing.WriteAsync(content.AsMemory(0, 10));
            hashing.Write(content, 10, content.Length - 10);
            Assert.Equal(content.Length, hashing.BytesWritten);
            Assert.Equal(Digest.ComputeSha256(content), hashing.GetDigest());
            Assert.Throws<InvalidOperationException>(() => hashing.WriteByte(1));
        }

        Assert.Equal(content, inner.ToArray());
        Assert.True(inner.CanWrite);
    }

    [Fact]
    public void Refuses_a_read_only_inner_stream()
    {
        Assert.Throws<ArgumentException>(() => new HashingStream(new MemoryStream([], writable: false)));
    }
}

public class LargeEntryTests
{
    [Fact]
    public async Task Sizes_beyond_ustar_get_a_pax_size_record_and_a_base256_gnu_header()
    {
        const long size = 9L << 30;
        var entry = LayerEntry.File("huge.bin", size, () => new ThrowingStream());
        var output = new MemoryStream();
        await Assert.ThrowsAsync<EndOfStreamException>(() => TarLayerWriter.WriteAsync([entry], output, DateTimeOffset.UnixEpoch, default));

        var bytes = output.ToArray();
        Assert.Equal((byte)'x', bytes[156]);
        Assert.Contains("size=9663676416\n", Encoding.ASCII.GetString(bytes, 512, 512), StringComparison.Ordinal);
        var header = bytes.AsSpan(1024, 512);
        Assert.Equal("huge.bin", Encoding.ASCII.GetString(header[..8]));
        Assert.Equal(0x80, header[124]);                                   // base-256 size marker
        Assert.Equal("ustar  \0", Encoding.ASCII.GetString(header.Slice(257, 8)));   // GNU magic
    }

    private sealed class ThrowingStream : Stream
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

        public override int Read(byte[] buffer, int offset, int count) => throw new EndOfStreamException("test");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new EndOfStreamException("test");

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
