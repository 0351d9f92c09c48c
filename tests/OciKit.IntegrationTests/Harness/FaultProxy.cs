using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace OciKit.IntegrationTests.Harness;

/// <summary>What a <see cref="FaultProxy"/> does to a request that matches a rule.</summary>
public abstract record Fault
{
    /// <summary>Answer with a status (and headers) instead of forwarding.</summary>
    public sealed record Status(int Code, IReadOnlyDictionary<string, string>? Headers = null) : Fault;

    /// <summary>Forward, then send only the first <paramref name="Bytes"/> of the body and drop the connection.</summary>
    public sealed record DropAfter(long Bytes) : Fault;

    /// <summary>
    /// Forward, send only the first <paramref name="Bytes"/> of the body, then send nothing more and keep the
    /// connection open until the proxy is disposed (a peer that hangs mid-transfer).
    /// </summary>
    public sealed record StallAfter(long Bytes) : Fault;

    /// <summary>Wait, then forward.</summary>
    public sealed record Delay(TimeSpan Duration) : Fault;

    /// <summary>Forward, but announce another <c>Docker-Content-Digest</c> than the registry did.</summary>
    public sealed record WrongDigestHeader : Fault;

    /// <summary>
    /// Reset the connection (TCP RST) before forwarding the request: the request never reaches the registry and the
    /// client sees "connection reset by peer", not an answer.
    /// </summary>
    public sealed record ResetBeforeForwarding : Fault;

    /// <summary>
    /// Read the request and answer <paramref name="Code"/> with an empty body, without forwarding it: a success the
    /// registry never saw, as a middlebox (or a listener "aborting" a response) can give.
    /// </summary>
    public sealed record AnswerWithoutForwarding(int Code) : Fault;

    /// <summary>Forward, and add a header to the registry's answer.</summary>
    public sealed record AddResponseHeader(string Name, string Value) : Fault;

    /// <summary>
    /// Forward, but announce a <c>Content-Length</c> <paramref name="Extra"/> bytes larger than the body, send the whole
    /// body and drop the connection (the client sees the body end early).
    /// </summary>
    public sealed record OverstateLength(long Extra) : Fault;

    /// <summary>Forward, but flip the bits of the body's first byte (a corrupt blob of the right size).</summary>
    public sealed record CorruptBody : Fault;

    /// <summary>Answer 307 Temporary Redirect to <paramref name="Location"/> (as registries send blob GETs to a CDN).</summary>
    public sealed record Redirect(Uri Location) : Fault;
}

/// <summary>A fault applied to at most <see cref="Times"/> requests matching <see cref="Match"/>.</summary>
/// <param name="Match">Which requests (method, path and query).</param>
/// <param name="Fault">What to do.</param>
/// <param name="Times">How many matching requests get the fault; later ones are forwarded untouched.</param>
public sealed record FaultRule(Func<string, string, bool> Match, Fault Fault, int Times = 1)
{
    internal int Remaining = Times;
}

/// <summary>One request as the proxy saw it.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="PathAndQuery">Path and query.</param>
/// <param name="Range">The Range header, if any.</param>
/// <param name="At">When it arrived.</param>
/// <param name="Fault">The fault applied, if any.</param>
/// <param name="HadAuthorization">Whether the request carried an Authorization header (its value is not kept).</param>
/// <param name="ContentRange">The Content-Range header (an upload chunk's offsets), if any.</param>
/// <param name="ContentLength">The declared body length, if any.</param>
public sealed record ProxiedRequest(string Method, string PathAndQuery, string? Range, DateTimeOffset At, Fault? Fault, bool HadAuthorization, string? ContentRange = null, long? ContentLength = null);

/// <summary>
/// A scriptable HTTP proxy on 127.0.0.1 in front of a registry, for fault tests: it forwards requests, rewrites the
/// registry's own address in <c>Location</c> and <c>Link</c> headers to its own, and applies the first matching rule.
/// It sits alongside, not instead of, the real registry.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Host", "Content-Length",
    };

    private readonly LoopbackHttpServer _server;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromMinutes(2) };
    private readonly Uri _target;
    private readonly ConcurrentQueue<FaultRule> _rules = new();
    private readonly ConcurrentQueue<ProxiedRequest> _requests = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Starts a proxy in front of <paramref name="target"/> (an http registry).</summary>
    public FaultProxy(Uri target)
    {
        _target = target;
        _server = new LoopbackHttpServer(HandleAsync, concurrent: true);
    }

    /// <summary>The proxy's port.</summary>
    public int Port => _server.Port;

    /// <summary><c>127.0.0.1:PORT</c>, to use as the registry in references.</summary>
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Every request seen so far.</summary>
    public IReadOnlyList<ProxiedRequest> Requests => _requests.ToArray();

    /// <summary>Adds a rule; rules are tried in the order added.</summary>
    public void Add(string method, string pathContains, Fault fault, int times = 1)
        => _rules.Enqueue(new FaultRule((m, p) => m == method && p.Contains(pathContains, StringComparison.Ordinal), fault, times));

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping.Cancel();
        _server.Dispose();
        _upstream.Dispose();
        _stopping.Dispose();
    }

    private FaultRule? Take(string method, string path)
    {
        foreach (var rule in _rules)
        {
            if (rule.Match(method, path) && Interlocked.Decrement(ref rule.Remaining) >= 0)
            {
                return rule;
            }
        }

        return null;
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.PathAndQuery;
        var rule = Take(request.HttpMethod, path);
        _requests.Enqueue(new ProxiedRequest(request.HttpMethod, path, request.Headers["Range"], DateTimeOffset.UtcNow, rule?.Fault, request.Headers["Authorization"] is not null,
            request.Headers["Content-Range"], request.HasEntityBody && request.ContentLength64 >= 0 ? request.ContentLength64 : null));
        try
        {
            switch (rule?.Fault)
            {
                case Fault.Status status:
                    // Read the request's body first, as a registry does before it fails a PUT or PATCH.
                    await request.InputStream.CopyToAsync(Stream.Null).ConfigureAwait(false);
                    var body = System.Text.Encoding.UTF8.GetBytes($$"""{"errors":[{"code":"{{(status.Code == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE")}}","message":"injected by the fault proxy"}]}""");
                    await JsonResponses.SendAsync(response, status.Code, body, status.Headers).ConfigureAwait(false);
                    return;
                case Fault.ResetBeforeForwarding:
                    Reset(context);
                    return;
                case Fault.AnswerWithoutForwarding answer:
                    await request.InputStream.CopyToAsync(Stream.Null).ConfigureAwait(false);
                    response.StatusCode = answer.Code;
                    response.ContentLength64 = 0;
                    response.Close();
                    return;
                case Fault.Redirect redirect:
                    response.StatusCode = 307;
                    response.RedirectLocation = redirect.Location.ToString();
                    response.ContentLength64 = 0;
                    response.Close();
                    return;
                case Fault.Delay delay:
                    await Task.Delay(delay.Duration).ConfigureAwait(false);
                    break;
            }

            using var upstreamRequest = new HttpRequestMessage(new HttpMethod(request.HttpMethod), new Uri(_target, path));
            if (request.HasEntityBody)
            {
                var buffered = new MemoryStream();
                await request.InputStream.CopyToAsync(buffered).ConfigureAwait(false);
                buffered.Position = 0;
                upstreamRequest.Content = new StreamContent(buffered);
            }

            foreach (var key in request.Headers.AllKeys)
            {
                if (key is null || HopByHop.Contains(key))
                {
                    continue;
                }

                var values = request.Headers.GetValues(key) ?? [];
                if (!upstreamRequest.Headers.TryAddWithoutValidation(key, values) && upstreamRequest.Content is not null)
                {
                    upstreamRequest.Content.Headers.TryAddWithoutValidation(key, values);
                }
            }

            using var upstreamResponse = await _upstream.SendAsync(upstreamRequest, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            response.StatusCode = (int)upstreamResponse.StatusCode;
            foreach (var header in upstreamResponse.Headers.Concat(upstreamResponse.Content.Headers))
            {
                if (HopByHop.Contains(header.Key))
                {
                    continue;
                }

                foreach (var value in header.Value)
                {
                    var v = value.Replace(_target.Authority, Host, StringComparison.Ordinal);
                    if (header.Key.Equals("Docker-Content-Digest", StringComparison.OrdinalIgnoreCase) && rule?.Fault is Fault.WrongDigestHeader)
                    {
                        v = "sha256:" + new string('0', 64);
                    }

                    if (header.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                    {
                        response.ContentType = v;
                    }
                    else
                    {
                        response.AddHeader(header.Key, v);
                    }
                }
            }

            if (rule?.Fault is Fault.AddResponseHeader added)
            {
                response.AddHeader(added.Name, added.Value);
            }

            var length = upstreamResponse.Content.Headers.ContentLength;
            if (length is { } l)
            {
                response.ContentLength64 = l + (rule?.Fault is Fault.OverstateLength over ? over.Extra : 0);
            }

            await using var source = await upstreamResponse.Content.ReadAsStreamAsync().ConfigureAwait(false);
            if (rule?.Fault is Fault.DropAfter or Fault.StallAfter)
            {
                var buffer = new byte[rule.Fault is Fault.DropAfter drop ? drop.Bytes : ((Fault.StallAfter)rule.Fault).Bytes];
                var total = 0;
                int read;
                while (total < buffer.Length && (read = await source.ReadAsync(buffer.AsMemory(total)).ConfigureAwait(false)) > 0)
                {
                    total += read;
                }

                await response.OutputStream.WriteAsync(buffer.AsMemory(0, total)).ConfigureAwait(false);
                await response.OutputStream.FlushAsync().ConfigureAwait(false);
                if (rule.Fault is Fault.StallAfter)
                {
                    await Task.Delay(Timeout.Infinite, _stopping.Token).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
                }

                response.Abort();
                return;
            }

            if (request.HttpMethod != "HEAD" && rule?.Fault is Fault.CorruptBody)
            {
                var first = new byte[1];
                if (await source.ReadAsync(first).ConfigureAwait(false) == 1)
                {
                    first[0] ^= 0xFF;
                    await response.OutputStream.WriteAsync(first).ConfigureAwait(false);
                }
            }

            if (request.HttpMethod != "HEAD")
            {
                await source.CopyToAsync(response.OutputStream).ConfigureAwait(false);
            }

            if (rule?.Fault is Fault.OverstateLength)
            {
                await response.OutputStream.FlushAsync().ConfigureAwait(false);
                response.Abort();
                return;
            }

            response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or HttpRequestException or ObjectDisposedException or InvalidOperationException)
        {
            Reset(context);
        }
    }

    /// <summary>
    /// Drops a connection with a TCP reset. <see cref="HttpListenerResponse.Abort"/> cannot: the managed listener
    /// (Linux, macOS) closing the response stream first sends the headers not yet sent, so an "aborted" request is
    /// answered <c>200 OK</c> with an empty body. The listener's socket is not public, hence the reflection; a runtime
    /// without it gets a 500 that says so rather than a silent success.
    /// </summary>
    private static void Reset(HttpListenerContext context)
    {
        try
        {
            var connection = typeof(HttpListenerContext).GetProperty("Connection", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(context);
            if (connection?.GetType().GetField("_socket", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(connection) is Socket socket)
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
                return;
            }

            context.Response.StatusCode = 500;
            context.Response.StatusDescription = "FaultProxy cannot reset connections on this runtime";
            context.Response.Close();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException or InvalidOperationException or HttpListenerException)
        {
        }
    }
}
