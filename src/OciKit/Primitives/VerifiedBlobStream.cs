using System.Security.Cryptography;

namespace OciKit.Primitives;

/// <summary>
/// Reads a blob and checks it against its descriptor as it goes: the read that reaches the descriptor's size fails if
/// the digest differs, a stream that ends early or runs on fails on its size. Owns the inner stream unless told to leave it open.
/// The one verifying read: the seam's sources, and the container root file system's layer extraction, read through it.
/// </summary>
internal sealed class VerifiedBlobStream : Stream
{
    private readonly Stream _inner;
    private readonly Descriptor _blob;
    private readonly string _where;
    private readonly Func<DigestMismatchException, Exception> _mismatch;
    private readonly IncrementalHash _hash;
    private long _position;
    private readonly bool _bounded;
    private bool _verified;
    private readonly bool _leaveOpen;

    /// <param name="inner">The bytes; owned.</param>
    /// <param name="blob">The descriptor they must match.</param>
    /// <param name="where">Where they come from, for messages.</param>
    /// <param name="mismatch">Turns a mismatch into the error to throw (a registry's, say); default the mismatch itself.</param>
    /// <param name="bounded">Never read past the descriptor's size (the inner stream goes on with other data: a tar's next entry).</param>
    /// <param name="leaveOpen">Leave <paramref name="inner"/> open when this stream is disposed.</param>
    public VerifiedBlobStream(Stream inner, Descriptor blob, string where, Func<DigestMismatchException, Exception>? mismatch = null, bool bounded = false, bool leaveOpen = false)
    {
        _leaveOpen = leaveOpen;
        _bounded = bounded;
        _inner = inner;
        _blob = blob;
        _where = where;
        _mismatch = mismatch ?? (e => e);
        _hash = blob.Digest.Algorithm switch
        {
            Digest.Sha256Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            Digest.Sha512Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
            _ => throw new NotSupportedException($"Digest algorithm '{blob.Digest.Algorithm}' cannot be verified."),
        };
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _blob.Size;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        buffer = Bound(buffer);
        return Advance(buffer, _inner.Read(buffer));
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_bounded && buffer.Length > _blob.Size - _position)
        {
            buffer = buffer[..(int)(_blob.Size - _position)];
        }

        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Advance(buffer.Span, read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

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
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }

            _hash.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_leaveOpen)
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
        }

        _hash.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private Span<byte> Bound(Span<byte> buffer) =>
        _bounded && buffer.Length > _blob.Size - _position ? buffer[..(int)(_blob.Size - _position)] : buffer;

    private int Advance(Span<byte> buffer, int read)
    {
        if (read == 0)
        {
            if (buffer.Length > 0 && _position < _blob.Size)
            {
                throw new OciFormatException($"blob {_blob.Digest}", $"ends after {_position} bytes in {_where}, not the {_blob.Size} its descriptor says.");
            }

            Check();
            return 0;
        }

        if (_position + read > _blob.Size)
        {
            throw new OciFormatException($"blob {_blob.Digest}", $"is longer in {_where} than the {_blob.Size} bytes its descriptor says.");
        }

        _hash.AppendData(buffer[..read]);
        _position += read;
        Check();
        return read;
    }

    private void Check()
    {
        if (_position == _blob.Size && !_verified)
        {
            _verified = true;
            var actual = Digest.Parse(_blob.Digest.Algorithm + ":" + Convert.ToHexStringLower(_hash.GetHashAndReset()));
            if (!actual.Equals(_blob.Digest))
            {
                throw _mismatch(new DigestMismatchException($"blob {_blob.Digest} in {_where}", _blob.Digest, actual));
            }
        }
    }
}
