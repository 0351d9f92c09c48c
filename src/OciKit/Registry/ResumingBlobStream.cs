using System.Buffers;
using System.Net;
using OciKit.Primitives;
using OciKit.References;
using Polly;

namespace OciKit.Registry;

/// <summary>
/// A blob download as a read-only stream that resumes itself after a dropped connection: with a <c>Range</c>
/// request, or by skipping forward in a fresh download when the registry ignores ranges. The reader verifies the
/// digest; this stream only guarantees it never yields more than the descriptor's size. The resumptions follow the
/// client's <see cref="RetryPolicy"/>, with one budget for the whole download that its requests' retries share.
/// </summary>
internal sealed class ResumingBlobStream(RegistryClient client, ImageReference repository, Descriptor blob, IProgress<TransferProgress>? progress) : Stream
{
    private readonly RetryBudget _budget = client.Retry.NewBudget();
    private HttpResponseMessage? _response;
    private Stream? _body;
    private long _position;
    private int _failures;
    private Uri? _url;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => blob.Size;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position >= blob.Size || buffer.Length == 0)
        {
            return await ConfirmEndAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            try
            {
                return await ReadOnceAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (RetryPolicy.IsTransient(ex, cancellationToken))
            {
                Failed();

                // Resume (a Range request from the position reached) after the policy's delay, within the budget.
                return await client.Retry.RetryAsync(
                    Outcome.FromException<int>(ex),
                    _budget,
                    e => RetryPolicy.IsTransient(e, cancellationToken),
                    static (state, ct) => state.Stream.ResumeAsync(state.Buffer, ct),
                    (Stream: this, Buffer: buffer),
                    cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not RegistryException && RetryPolicy.IsTransient(ex, cancellationToken))
        {
            throw new RegistryException(
                $"Could not download blob {blob.Digest} of {repository} after {_failures} attempts ({_position} of {blob.Size} bytes): {ex.Message}",
                "GET", _url, null, isTransient: true, innerException: ex);
        }
    }

    /// <summary>Reads from the open download, opening it (from the position reached) first when there is none.</summary>
    private async ValueTask<int> ReadOnceAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        _body ??= await OpenAsync(cancellationToken).ConfigureAwait(false);
        var read = await _body.ReadAsync(buffer[..(int)Math.Min(buffer.Length, blob.Size - _position)], cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            throw new IOException($"The connection closed after {_position} of {blob.Size} bytes.");
        }

        _position += read;
        progress?.Report(new TransferProgress(blob.Digest, _position, blob.Size));
        return read;
    }

    /// <summary>A read after a failure: from a fresh download, opened at the position reached.</summary>
    private async ValueTask<int> ResumeAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadOnceAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            Failed();
            throw;
        }
    }

    /// <summary>After a failed read: the broken download is closed (the next read opens another), and counted.</summary>
    private void Failed()
    {
        Close(ref _body, ref _response);
        _failures++;
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
            Close(ref _body, ref _response);
        }

        base.Dispose(disposing);
    }

    private static void Close(ref Stream? body, ref HttpResponseMessage? response)
    {
        body?.Dispose();
        response?.Dispose();
        body = null;
        response = null;
    }

    private async Task<int> ConfirmEndAsync(CancellationToken cancellationToken)
    {
        // A registry that sends more than the descriptor's size is lying about the blob.
        if (_body is not null && _position >= blob.Size)
        {
            var probe = new byte[1];
            int extra;
            try
            {
                extra = await _body.ReadAsync(probe, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is IOException or HttpRequestException)
            {
                // The body ended before the Content-Length the registry announced, but after the descriptor's size,
                // which is the truth: every byte of the blob has arrived, and its reader verifies the digest.
                extra = 0;
            }

            if (extra > 0)
            {
                throw new OciFormatException("blob", $"{blob.Digest} from {repository.Name} is larger than its descriptor's size {blob.Size}.");
            }
        }

        return 0;
    }

    private async Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        var (response, ranged) = await client.GetBlobResponseAsync(repository, blob.Digest, _position, _budget, cancellationToken).ConfigureAwait(false);
        _response = response;
        _url = response.RequestMessage?.RequestUri;
        var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        if (_position > 0 && !ranged)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new RegistryException($"Unexpected answer resuming blob {blob.Digest}", "GET", null, response.StatusCode);
            }

            // The registry ignored the range: read the start again and drop it.
            var skip = _position;
            var scratch = ArrayPool<byte>.Shared.Rent(81920);
            try
            {
                while (skip > 0)
                {
                    var read = await body.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, skip)), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new IOException("The connection closed while skipping to the resume offset.");
                    }

                    skip -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }

        return body;
    }
}
