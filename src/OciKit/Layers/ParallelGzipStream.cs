using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace OciKit.Layers;

/// <summary>
/// A write-only stream that gzips what is written to it on several cores and emits <b>one</b> standard gzip member
/// (<see href="https://www.rfc-editor.org/rfc/rfc1952">RFC 1952</see>): a fixed 10-byte header (no name, no mtime),
/// one deflate stream, the CRC-32 and the length of all the data.
/// </summary>
/// <remarks>
/// Written by hand because no .NET library writes a parallel, deterministic gzip member (pigz does this in C).
/// The input is cut into blocks of a fixed size; each block is deflated on its own by zlib-ng (no shared dictionary)
/// and ended with a sync flush, which leaves it byte-aligned and ending in <c>00 00 ff ff</c>
/// (<see href="https://www.rfc-editor.org/rfc/rfc1951#section-3.2.4">RFC 1951, 3.2.4</see>); only the last block is
/// final. The output therefore depends on the input, the level and the block size, never on the degree of
/// parallelism. Each block's CRC-32 is computed where it is compressed and the CRCs are combined in order for the
/// trailer, so the writing thread only copies into blocks and writes out. At most <c>maxDegreeOfParallelism</c>
/// blocks are compressed at once (on compression threads the process shares) and at most twice that many are queued
/// or waiting to be written, so memory stays bounded whatever the input size. Call <see cref="Stream.DisposeAsync"/>
/// (or <see cref="Stream.Dispose()"/>) to write the last block and the trailer.
/// </remarks>
public sealed class ParallelGzipStream : Stream
{
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): fixed, so the bytes never depend on the host.
    private static readonly byte[] Header = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff];

    // A final, empty fixed-Huffman block: what deflate writes when the last block holds no data.
    private static readonly byte[] EmptyFinalBlock = [0x03, 0x00];

    // zlib's gzip wrapper: a 10-byte header (no name, comment or extra field) and an 8-byte trailer (CRC-32, ISIZE).
    private const int GzipHeaderLength = 10;
    private const int GzipTrailerLength = 8;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly int _level;
    private readonly int _blockSize;
    private readonly int _workers;

    // Blocks queued or being compressed: twice the workers, so a worker that finishes finds its next block waiting
    // even when the writing thread is slow to be scheduled (the machine may be busy with other work).
    private readonly int _maxInFlight;
    private readonly Queue<Task<CompressedBlock>> _pending = new();
    private TaskScheduler? _scheduler;

    // The CRC-32 of the blocks written so far, and the factor that appends a full block's CRC to it.
    private uint _crc;
    private readonly uint _blockShift;
    private byte[]? _block;
    private int _blockLength;
    private long _length;
    private bool _headerWritten;
    private bool _finished;
    private bool _disposed;

    // Set while a write is under way and left set if it throws: a stream that failed midway is not finished on dispose.
    private bool _faulted;

    /// <summary>Creates the stream.</summary>
    /// <param name="inner">Where the gzip bytes go.</param>
    /// <param name="compressionLevel">The zlib level, 1 (fastest) to 9 (smallest).</param>
    /// <param name="blockSize">The uncompressed block size, 64 KiB to 64 MiB; part of the output's identity.</param>
    /// <param name="maxDegreeOfParallelism">How many blocks may be compressed at once, 1 to 64.</param>
    /// <param name="leaveOpen">Whether <paramref name="inner"/> stays open when this stream is disposed (default: it does).</param>
    public ParallelGzipStream(Stream inner, int compressionLevel = 6, int blockSize = 1024 * 1024, int maxDegreeOfParallelism = 1, bool leaveOpen = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThan(compressionLevel, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(compressionLevel, 9);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, LayerOptions.MinGzipBlockSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blockSize, LayerOptions.MaxGzipBlockSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegreeOfParallelism, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDegreeOfParallelism, 64);
        _inner = inner;
        _leaveOpen = leaveOpen;
        _level = compressionLevel;
        _blockSize = blockSize;
        _workers = maxDegreeOfParallelism;
        _maxInFlight = 2 * maxDegreeOfParallelism;
        _blockShift = Crc32Combine.ShiftFor(blockSize);
    }

    /// <inheritdoc />
    public override bool CanRead => false;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => !_finished && !_disposed;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureWritable();
        _faulted = true;
        if (!_headerWritten)
        {
            _inner.Write(Header);
            _headerWritten = true;
        }

        _length += buffer.Length;
        while (!buffer.IsEmpty)
        {
            var n = Fill(buffer);
            buffer = buffer[n..];
            if (_blockLength == _blockSize)
            {
                Submit(final: false);

                // The waits are on CPU-bound compression tasks this stream started, never on I/O.
                while (_pending.Count >= _maxInFlight)
                {
                    WriteOldest();
                }
            }
        }

        _faulted = false;
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        _faulted = true;
        if (!_headerWritten)
        {
            await _inner.WriteAsync(Header, cancellationToken).ConfigureAwait(false);
            _headerWritten = true;
        }

        _length += buffer.Length;
        while (!buffer.IsEmpty)
        {
            var n = Fill(buffer.Span);
            buffer = buffer[n..];
            if (_blockLength == _blockSize)
            {
                Submit(final: false);
                while (_pending.Count >= _maxInFlight)
                {
                    await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        _faulted = false;
    }

    /// <summary>Writes the last block and the trailer; afterwards nothing more can be written. Called by dispose.</summary>
    /// <param name="cancellationToken">Cancels the writes.</param>
    /// <returns>A task that completes when the gzip member is complete.</returns>
    public async Task FinishAsync(CancellationToken cancellationToken = default)
    {
        if (_finished)
        {
            return;
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        _faulted = true;
        if (!_headerWritten)
        {
            await _inner.WriteAsync(Header, cancellationToken).ConfigureAwait(false);
            _headerWritten = true;
        }

        Submit(final: true);
        while (_pending.Count > 0)
        {
            await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        }

        await _inner.WriteAsync(Trailer(), cancellationToken).ConfigureAwait(false);
        _finished = true;
        _faulted = false;
    }

    /// <summary>Writes the last block and the trailer synchronously; afterwards nothing more can be written.</summary>
    public void Finish()
    {
        if (_finished)
        {
            return;
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        _faulted = true;
        if (!_headerWritten)
        {
            _inner.Write(Header);
            _headerWritten = true;
        }

        Submit(final: true);
        while (_pending.Count > 0)
        {
            WriteOldest();
        }

        _inner.Write(Trailer());
        _finished = true;
        _faulted = false;
    }

    /// <summary>Flushes the inner stream. Buffered input stays buffered: a flush never changes the output bytes.</summary>
    public override void Flush() => _inner.Flush();

    /// <inheritdoc cref="Flush"/>
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            try
            {
                if (!_faulted)
                {
                    Finish();
                }
            }
            finally
            {
                Release();
                if (!_leaveOpen)
                {
                    _inner.Dispose();
                }
            }
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            try
            {
                if (!_faulted)
                {
                    await FinishAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                Release();
                if (!_leaveOpen)
                {
                    await _inner.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        GC.SuppressFinalize(this);
    }

    private static CompressedBlock Compress(byte[] input, int length, int level, bool final)
    {
        if (length == 0)
        {
            // Only the last block can be empty: what deflate would write for it is known without starting one, and the
            // CRC-32 of no bytes is 0.
            return new CompressedBlock(input, null, EmptyFinalBlock, crc: 0, length);
        }

        var output = new PooledBufferStream(length + (length >> 3) + 64);
        try
        {
            // Each block is compressed as a gzip member of its own, whose deflate data is byte for byte what raw
            // deflate writes: the wrapper costs 18 bytes and lets zlib-ng compute the block's CRC-32 while it copies
            // the input into its window, instead of in a second pass over the block.
            long flushedLength;
            using (var gzip = new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
            {
                gzip.Write(input, 0, length);
                if (!final)
                {
                    // A sync flush ends the block byte-aligned with an empty stored block (00 00 ff ff).
                    gzip.Flush();
                }

                flushedLength = output.Length;
            }

            var member = output.WrittenMemory;
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(member.Span[^GzipTrailerLength..]);

            // Not final: disposing wrote a final empty block after the flush, and only what precedes it belongs to the
            // middle of the stream. Final: everything up to the member's trailer.
            var end = final ? member.Length - GzipTrailerLength : (int)flushedLength;
            return new CompressedBlock(input, output, member[GzipHeaderLength..end], crc, length);
        }
        catch
        {
            output.Dispose();
            ArrayPool<byte>.Shared.Return(input);
            throw;
        }
    }

    private int Fill(ReadOnlySpan<byte> source)
    {
        _block ??= ArrayPool<byte>.Shared.Rent(_blockSize);
        var n = Math.Min(source.Length, _blockSize - _blockLength);
        source[..n].CopyTo(_block.AsSpan(_blockLength));
        _blockLength += n;
        return n;
    }

    private void Submit(bool final)
    {
        var block = _block ?? ArrayPool<byte>.Shared.Rent(0);
        var length = _blockLength;
        var level = _level;
        _block = null;
        _blockLength = 0;
        _scheduler ??= NewScheduler(_workers);

        // Continuations run on the thread pool, never inline on a compression thread.
        _pending.Enqueue(Task.Factory.StartNew(
            () => Compress(block, length, level, final),
            CancellationToken.None,
            TaskCreationOptions.DenyChildAttach | TaskCreationOptions.RunContinuationsAsynchronously,
            _scheduler));
    }

    private void WriteOldest()
    {
        using var block = _pending.Dequeue().GetAwaiter().GetResult();
        _inner.Write(block.Data.Span);
        AppendCrc(block);
    }

    private async Task WriteOldestAsync(CancellationToken cancellationToken)
    {
        using var block = await _pending.Dequeue().ConfigureAwait(false);
        await _inner.WriteAsync(block.Data, cancellationToken).ConfigureAwait(false);
        AppendCrc(block);
    }

    private static TaskScheduler NewScheduler(int workers)
    {
        CompressionThreads.Shared.Reserve(workers);
        return new ConcurrentExclusiveSchedulerPair(CompressionThreads.Shared, workers).ConcurrentScheduler;
    }

    private void AppendCrc(in CompressedBlock block)
    {
        var shift = block.Length == _blockSize ? _blockShift : Crc32Combine.ShiftFor(block.Length);
        _crc = Crc32Combine.Combine(_crc, block.Crc, shift);
    }

    private byte[] Trailer()
    {
        var trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), unchecked((uint)_length));
        return trailer;
    }

    private void Release()
    {
        _disposed = true;
        _finished = true;
        while (_pending.Count > 0)
        {
            var task = _pending.Dequeue();
            try
            {
                task.GetAwaiter().GetResult().Dispose();
            }
            catch (Exception) when (task.IsFaulted)
            {
                // Already reported through the write that failed; only the buffers are returned here.
            }
        }

        if (_block is not null)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = null;
        }
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished)
        {
            throw new InvalidOperationException("The gzip member is finished; nothing more can be written.");
        }
    }

    /// <summary>A compressed block with the buffers it holds, which go back to the pool when it is disposed.</summary>
    /// <remarks>
    /// Disposed on the writing thread: a buffer returned on a compression thread would sit in that thread's cache of the
    /// shared pool, out of the writer's reach.
    /// </remarks>
    private readonly struct CompressedBlock(byte[] input, PooledBufferStream? output, ReadOnlyMemory<byte> data, uint crc, int length) : IDisposable
    {
        public ReadOnlyMemory<byte> Data => data;

        /// <summary>The CRC-32 of the uncompressed block.</summary>
        public uint Crc => crc;

        /// <summary>The uncompressed length.</summary>
        public int Length => length;

        public void Dispose()
        {
            output?.Dispose();
            ArrayPool<byte>.Shared.Return(input);
        }
    }
}
