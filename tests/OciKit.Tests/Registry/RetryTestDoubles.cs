using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using OciKit.Primitives;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>
/// A clock for the retry policy that records every wait it is asked for and lets it pass at once, so tests assert the
/// delays the policy chose instead of measuring time.
/// </summary>
internal sealed class RecordingTimeProvider : TimeProvider
{
    private readonly ConcurrentQueue<TimeSpan> _waits = new();

    /// <summary>The waits asked for, in order.</summary>
    public IReadOnlyList<TimeSpan> Waits => [.. _waits];

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _waits.Enqueue(dueTime);
        }

        // The system's timer, due at once: the wait is recorded, not waited.
        return System.CreateTimer(callback, state, dueTime == Timeout.InfiniteTimeSpan ? dueTime : TimeSpan.Zero, period);
    }
}

/// <summary>Assertions on the one back-off formula.</summary>
internal static class BackoffAssert
{
    /// <summary>
    /// Each wait is the back-off of its retry number (1-based): base × 2^(n−1), capped, times a jitter in [0.5, 1). With
    /// a cap above the waits, consecutive ranges do not overlap, so each wait names its retry number.
    /// </summary>
    public static void FromTheFormula(RegistryClientOptions options, IReadOnlyList<TimeSpan> waits, int firstRetry = 1)
    {
        for (var i = 0; i < waits.Count; i++)
        {
            var full = Math.Min(options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, firstRetry + i - 1), options.RetryMaxDelay.TotalMilliseconds);
            var ms = waits[i].TotalMilliseconds;
            Assert.True(ms >= full / 2 - 0.001 && ms < full + 0.001, $"wait {i + 1} was {ms} ms, not in [{full / 2}, {full}) ms, the back-off of retry {firstRetry + i}");
        }
    }
}

/// <summary>
/// An in-memory registry at <c>https://registry.test</c> as the client's innermost handler: blob uploads (POST, PATCH
/// with Range answers, GET on the session, PUT completing with a digest check) and blob downloads (with Range), with
/// scripted faults. Records every request as "METHOD path".
/// </summary>
internal sealed class StubRegistry : HttpMessageHandler
{
    private readonly ConcurrentDictionary<string, MemoryStream> _sessions = new();
    private readonly ConcurrentDictionary<string, byte[]> _blobs = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private int _sessionCount;

    public const string Host = "registry.test";

    /// <summary>Answers a request before the registry does: a response to send instead, or null to let it through.</summary>
    public Func<HttpRequestMessage, HttpResponseMessage?>? Fault { get; set; }

    /// <summary>Every request, as "METHOD path" (the query left out).</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>How many requests had the method and a path containing the fragment.</summary>
    public int Count(string method, string pathFragment) => Requests.Count(r => r.StartsWith(method + " ", StringComparison.Ordinal) && r.Contains(pathFragment, StringComparison.Ordinal));

    /// <summary>The blob stored under a digest, if any.</summary>
    public byte[]? Blob(Digest digest) => _blobs.TryGetValue(digest.ToString(), out var bytes) ? bytes : null;

    /// <summary>Stores a blob, as if pushed before.</summary>
    public void Add(byte[] bytes) => _blobs[Digest.ComputeSha256(bytes).ToString()] = bytes;

    /// <summary>A registry error answer, with the spec's error body.</summary>
    public static HttpResponseMessage Error(HttpStatusCode status, string code, TimeSpan? retryAfter = null)
    {
        var response = new HttpResponseMessage(status)
        {
            Content = new StringContent($$"""{"errors":[{"code":"{{code}}","message":"scripted"}]}""", Encoding.UTF8, "application/json"),
        };
        if (retryAfter is { } after)
        {
            response.Headers.RetryAfter = new RetryConditionHeaderValue(after);
        }

        return response;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        _requests.Enqueue($"{request.Method} {path}");
        var response = Fault?.Invoke(request) ?? await AnswerAsync(request, path, cancellationToken);
        response.RequestMessage = request;
        return response;
    }

    private async Task<HttpResponseMessage> AnswerAsync(HttpRequestMessage request, string path, CancellationToken cancellationToken)
    {
        const string uploads = "/v2/app/blobs/uploads/";
        if (path == "/v2/")
        {
            return new HttpResponseMessage(HttpStatusCode.OK);
        }

        if (path == uploads && request.Method == HttpMethod.Post)
        {
            var id = "session-" + Interlocked.Increment(ref _sessionCount);
            _sessions[id] = new MemoryStream();
            return new HttpResponseMessage(HttpStatusCode.Accepted) { Headers = { Location = new Uri(uploads + id, UriKind.Relative) } };
        }

        if (path.StartsWith(uploads, StringComparison.Ordinal))
        {
            var id = path[uploads.Length..];
            if (!_sessions.TryGetValue(id, out var session))
            {
                return Error(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            }

            if (request.Content is not null)
            {
                await request.Content.CopyToAsync(session, cancellationToken);
            }

            if (request.Method == HttpMethod.Put)
            {
                var digest = Uri.UnescapeDataString(request.RequestUri!.Query.Split("digest=")[1]);
                var bytes = session.ToArray();
                if (Digest.ComputeSha256(bytes).ToString() != digest)
                {
                    return Error(HttpStatusCode.BadRequest, "DIGEST_INVALID");
                }

                _blobs[digest] = bytes;
                _sessions.TryRemove(id, out _);
                return new HttpResponseMessage(HttpStatusCode.Created) { Headers = { { "Docker-Content-Digest", digest } } };
            }

            var held = new HttpResponseMessage(request.Method == HttpMethod.Get ? HttpStatusCode.NoContent : HttpStatusCode.Accepted)
            {
                Headers = { Location = new Uri(uploads + id, UriKind.Relative) },
            };
            held.Headers.TryAddWithoutValidation("Range", $"0-{Math.Max(0, session.Length - 1)}");
            return held;
        }

        if (path.StartsWith("/v2/app/blobs/", StringComparison.Ordinal))
        {
            if (!_blobs.TryGetValue(path["/v2/app/blobs/".Length..], out var blob))
            {
                return Error(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
            }

            var from = request.Headers.Range?.Ranges.First().From ?? 0;
            var response = new HttpResponseMessage(from > 0 ? HttpStatusCode.PartialContent : HttpStatusCode.OK)
            {
                Content = new ByteArrayContent(blob, (int)from, blob.Length - (int)from),
            };
            response.Content.Headers.ContentLength = blob.Length - from;
            if (from > 0)
            {
                response.Content.Headers.ContentRange = new ContentRangeHeaderValue(from, blob.Length - 1, blob.Length);
            }

            return response;
        }

        return Error(HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }
}

/// <summary>Content whose stream fails after some bytes, as a dropped connection does.</summary>
internal sealed class DroppingContent(byte[] bytes, int dropAfter) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(new DroppingStream(bytes, dropAfter));

    protected override bool TryComputeLength(out long length)
    {
        length = bytes.Length;
        return true;
    }

    private sealed class DroppingStream(byte[] bytes, int dropAfter) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => bytes.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= dropAfter)
            {
                throw new IOException("scripted: the connection was reset");
            }

            var n = Math.Min(count, dropAfter - _position);
            Array.Copy(bytes, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            try
            {
                return Task.FromResult(Read(buffer, offset, count));
            }
            catch (IOException ex)
            {
                return Task.FromException<int>(ex);
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Random bytes of a size, and their descriptor.</summary>
internal static class Blobs
{
    public static (byte[] Bytes, Descriptor Blob) Random(int size)
    {
        var bytes = RandomNumberGenerator.GetBytes(size);
        return (bytes, new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(bytes), size));
    }
}
