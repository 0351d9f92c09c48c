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

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A file opened for synchronous I/O is read synchronously here too. On Unix, FileStream.ReadAsync queues every
        // read to the thread pool (there is no asynchronous regular-file I/O to use), so each of TarWriter's 80 KB reads
        // would wait for a pool thread; with every core busy compressing, those waits stall the pipeline and the
        // woken pool threads spin, taking CPU from compression (benchmarks/README.md: the layer build under load).
        // Reading a regular file from the page cache is a memory copy.
        if (source is FileStream { IsAsync: false })
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }

        return ReadSourceAsync(buffer, cancellationToken);
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

    private async ValueTask<int> ReadSourceAsync(Memory<byte> buffer, CancellationToken cancellationToken)
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
