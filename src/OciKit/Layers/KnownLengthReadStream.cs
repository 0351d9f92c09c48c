namespace OciKit.Layers;

/// <summary>
/// Presents a source of a declared length to <see cref="System.Formats.Tar.TarWriter"/> (which needs the length before
/// the data) and fails if the source yields fewer or more bytes, so a file that changes while it is archived cannot
/// corrupt the tar stream. Owns the source.
/// </summary>
internal sealed class KnownLengthReadStream(Stream source, long length, string path) : Stream
{
    private long _position;

    public override bool CanRead => true;

    // TarWriter asks for Length (and so CanSeek) to fill in the size field; it never seeks.
    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        var remaining = length - _position;
        if (remaining == 0)
        {
            return CheckEnd(source.Read(stackalloc byte[1]));
        }

        var n = source.Read(buffer[..(int)Math.Min(buffer.Length, remaining)]);
        return Advance(n, buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var remaining = length - _position;
        if (remaining == 0)
        {
            var probe = new byte[1];
            return CheckEnd(await source.ReadAsync(probe, cancellationToken).ConfigureAwait(false));
        }

        var n = await source.ReadAsync(buffer[..(int)Math.Min(buffer.Length, remaining)], cancellationToken).ConfigureAwait(false);
        return Advance(n, buffer.Length);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            source.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await source.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private int Advance(int n, int requested)
    {
        if (n == 0 && requested > 0)
        {
            throw new IOException($"The content of '{path}' ended after {_position} bytes, but {length} were declared (did the file change while the layer was written?).");
        }

        _position += n;
        return n;
    }

    private int CheckEnd(int extra) => extra == 0
        ? 0
        : throw new IOException($"The content of '{path}' is longer than the {length} bytes declared (did the file change while the layer was written?).");
}
