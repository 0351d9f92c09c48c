using System.Text;

namespace OciKit.Build;

/// <summary>
/// Where a RUN command's standard output and error go: split into lines as they arrive, each reported (secret values
/// masked) and the last ones kept for the error message of a failing command. Both streams may write concurrently.
/// </summary>
internal sealed class RunOutput : Stream
{
    /// <summary>How many of the last lines a failure message shows.</summary>
    public const int KeptLines = 10;

    private const int MaxLineLength = 16 * 1024;

    private readonly Action<string> _report;
    private readonly IReadOnlyList<string> _masked;
    private readonly Queue<string> _last = new();
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private readonly StringBuilder _line = new();
    private readonly Lock _gate = new();

    /// <param name="report">Receives each complete line, without its line break.</param>
    /// <param name="masked">Values that must never be shown (secrets); each occurrence becomes <c>****</c>.</param>
    public RunOutput(Action<string> report, IReadOnlyList<string> masked)
    {
        _report = report;
        _masked = [.. masked.Where(m => m.Length > 0).OrderByDescending(m => m.Length)];
    }

    /// <summary>The last lines written (at most <see cref="KeptLines"/>), secrets masked.</summary>
    public IReadOnlyList<string> LastLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _last];
            }
        }
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            var chars = new char[_decoder.GetCharCount(buffer, flush: false)];
            var n = _decoder.GetChars(buffer, chars, flush: false);
            foreach (var c in chars.AsSpan(0, n))
            {
                if (c == '\n')
                {
                    EndLine();
                }
                else if (c != '\r')
                {
                    _line.Append(c);
                    if (_line.Length >= MaxLineLength)
                    {
                        EndLine();
                    }
                }
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Reports what is left of an unterminated last line.</summary>
    public override void Flush()
    {
        lock (_gate)
        {
            if (_line.Length > 0)
            {
                EndLine();
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void EndLine()
    {
        var line = _line.ToString();
        _line.Clear();
        foreach (var secret in _masked)
        {
            line = line.Replace(secret, "****", StringComparison.Ordinal);
        }

        _last.Enqueue(line);
        if (_last.Count > KeptLines)
        {
            _last.Dequeue();
        }

        _report(line);
    }
}
