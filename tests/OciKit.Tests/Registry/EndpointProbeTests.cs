using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using OciKit.Auth;
using OciKit.References;
using OciKit.Registry;
using OciKit.Testing;

namespace OciKit.Tests.Registry;

/// <summary>
/// Which scheme a registry is probed with first: plain HTTP for a loopback registry (HTTPS when that does not answer as
/// a registry, never after a timeout), HTTPS for every other one, insecure or not; and which failure is reported when
/// both probes fail.
/// </summary>
public sealed class EndpointProbeTests
{
    private static readonly string[] ProbeOrderHttpThenHttps = ["http://localhost:5000/v2/", "https://localhost:5000/v2/"];

    private static RegistryClientOptions Options(HttpMessageHandler inner, int maxRetries = 2) => new()
    {
        InnerHandler = inner,
        Credentials = null,
        MaxRetries = maxRetries,
        TimeProvider = new RecordingTimeProvider(),
    };

    private static HttpRequestException Refused() => new(HttpRequestError.ConnectionError, "Connection refused", new SocketException((int)SocketError.ConnectionRefused));

    private static HttpRequestException NotTls() => new(HttpRequestError.SecureConnectionError, "The SSL connection could not be established", new AuthenticationException("wrong version number"));

    private static HttpResponseMessage Status(HttpStatusCode status, string body = "") => new(status) { Content = new StringContent(body) };

    [Fact]
    public async Task A_plain_http_loopback_registry_is_reached_without_a_tls_attempt()
    {
        using var server = new PlainHttpRegistry();
        using var client = new RegistryClient(new RegistryClientOptions { Credentials = null, MaxRetries = 0 });

        await client.PingAsync(server.Host);
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/app:1")));

        // The request after the probe went over plain HTTP too, to the same server.
        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.StartsWith($"http://{server.Host}/v2/app/manifests/1", error.Url, StringComparison.Ordinal);

        // Every connection opened with a plain-HTTP request, the first one with the probe; none with a TLS record (0x16 0x03).
        var connections = server.FirstBytes;
        Assert.NotEmpty(connections);
        Assert.StartsWith("GET /v2/ HTTP/1.1\r\n", Encoding.ASCII.GetString(connections[0]), StringComparison.Ordinal);
        Assert.All(connections, first => Assert.NotEqual(0x16, first[0]));
        Assert.Equal(["GET /v2/ HTTP/1.1", "GET /v2/app/manifests/1 HTTP/1.1"], server.RequestLines);
    }

    [Theory]
    [InlineData("localhost:5000")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("127.1.2.3")]
    public async Task A_loopback_registry_that_answers_plain_http_is_probed_once_without_credentials(string registry)
    {
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http"
            ? new HttpResponseMessage(HttpStatusCode.Unauthorized) { Headers = { WwwAuthenticate = { AuthenticationHeaderValue.Parse("Basic realm=\"registry\"") } } }
            : throw new InvalidOperationException("HTTPS must not be tried"));
        using var client = new RegistryClient(Options(inner) with
        {
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword("user", "pa55")),
        });

        await client.PingAsync(registry);

        // The probe carries no credentials, even when the registry asks for some (a 401 shows a registry as a 200 does).
        var probe = Assert.Single(inner.Seen);
        Assert.Equal($"http://{registry}/v2/", probe.Uri);
        Assert.Null(probe.Authorization);

        // The challenge is remembered: the next request authorizes at once, over the scheme the probe chose.
        await Assert.ThrowsAsync<RegistryAuthenticationException>(() => client.CheckCredentialsAsync(registry));
        Assert.Equal($"http://{registry}/v2/", inner.Seen[1].Uri);
        Assert.StartsWith("Basic ", inner.Seen[1].Authorization, StringComparison.Ordinal);
        Assert.DoesNotContain(inner.Seen, s => s.Uri.StartsWith("https://", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_loopback_tls_registry_answering_plain_http_with_400_is_then_reached_over_https()
    {
        // Go's TLS server answers a plain-HTTP request with this 400.
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http"
            ? Status(HttpStatusCode.BadRequest, "Client sent an HTTP request to an HTTPS server.\n")
            : Status(r.RequestUri.AbsolutePath == "/v2/" ? HttpStatusCode.OK : HttpStatusCode.NotFound));
        using var client = new RegistryClient(Options(inner));

        await client.PingAsync("localhost:5000");
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse("localhost:5000/app:1")));

        Assert.Equal(ProbeOrderHttpThenHttps, inner.Seen.Take(2).Select(s => s.Uri));
        Assert.StartsWith("https://localhost:5000/v2/app/manifests/1", error.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_loopback_front_that_redirects_plain_http_to_https_is_reached_over_https()
    {
        // As Caddy does for localhost: plain HTTP is only a redirect to HTTPS.
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http"
            ? new HttpResponseMessage(HttpStatusCode.PermanentRedirect) { Headers = { Location = new Uri($"https://localhost:5000{r.RequestUri.PathAndQuery}") } }
            : Status(r.RequestUri.AbsolutePath == "/v2/" ? HttpStatusCode.OK : HttpStatusCode.NotFound));
        using var client = new RegistryClient(Options(inner));

        await client.PingAsync("localhost:5000");
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse("localhost:5000/app:1")));

        // The redirect answered the plain-HTTP probe; the endpoint is HTTPS, so later requests go there directly.
        Assert.Equal(ProbeOrderHttpThenHttps, inner.Seen.Take(2).Select(s => s.Uri));
        Assert.StartsWith("https://localhost:5000/v2/app/manifests/1", error.Url, StringComparison.Ordinal);
        Assert.DoesNotContain(inner.Seen.Skip(1), s => s.Uri.StartsWith("http://", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connection_failure_of_the_plain_http_probe_is_not_retried_and_https_is_probed()
    {
        // A TLS server that drops a connection whose first bytes are not TLS.
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http"
            ? throw new HttpRequestException(HttpRequestError.ResponseEnded, "The response ended prematurely.", new IOException("reset"))
            : Status(HttpStatusCode.OK));
        using var client = new RegistryClient(Options(inner, maxRetries: 3));

        await client.PingAsync("localhost:5000");

        Assert.Equal(ProbeOrderHttpThenHttps, inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_transient_status_of_the_plain_http_probe_is_retried_over_plain_http()
    {
        // A plain-HTTP registry that is starting up: it speaks HTTP, so its 503 is retried as for any request.
        var answers = 0;
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http" && Interlocked.Increment(ref answers) == 1
            ? Status(HttpStatusCode.ServiceUnavailable)
            : r.RequestUri.Scheme == "http" ? Status(HttpStatusCode.OK) : throw NotTls());
        using var client = new RegistryClient(Options(inner));

        await client.PingAsync("localhost:5000");

        Assert.Equal(["http://localhost:5000/v2/", "http://localhost:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_timeout_of_the_plain_http_probe_ends_the_probing_without_https()
    {
        // SocketsHttpHandler's connect timeout: an OperationCanceledException around a TimeoutException.
        var inner = new ScriptedTransport(r => throw new OperationCanceledException("connect timed out", new TimeoutException()));
        using var client = new RegistryClient(Options(inner, maxRetries: 1));

        var error = await Assert.ThrowsAsync<RegistryTimeoutException>(() => client.PingAsync("localhost:5000"));

        Assert.Equal(RegistryTimeoutKind.Connect, error.TimeoutKind);
        Assert.Contains("Could not reach registry localhost:5000", error.Message, StringComparison.Ordinal);

        // An attempt and its retry (timeouts are retried), both plain HTTP: a timeout is no sign of TLS.
        Assert.Equal(["http://localhost:5000/v2/", "http://localhost:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task When_nothing_listens_the_error_is_the_plain_http_probes_and_names_the_registry()
    {
        var inner = new ScriptedTransport(_ => throw Refused());
        using var client = new RegistryClient(Options(inner, maxRetries: 0));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync("localhost:5000"));

        Assert.Contains("Could not reach registry localhost:5000", error.Message, StringComparison.Ordinal);
        Assert.Contains("Connection refused", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("http://localhost:5000/v2/", error.Url, StringComparison.Ordinal);
        Assert.Equal(ProbeOrderHttpThenHttps, inner.Seen.Select(s => s.Uri));

        // The failure is not cached: the next call probes again.
        await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync("localhost:5000"));
        Assert.Equal(4, inner.Seen.Count);
    }

    [Fact]
    public async Task A_plain_http_server_that_is_not_a_registry_is_reported_by_its_answer()
    {
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http" ? Status(HttpStatusCode.NotFound, "no such page") : throw NotTls());
        using var client = new RegistryClient(Options(inner));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync("localhost:5000"));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Contains("localhost:5000 does not answer as an OCI registry", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("http://", error.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tls_server_that_is_not_a_registry_is_reported_by_its_https_answer()
    {
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "http"
            ? Status(HttpStatusCode.BadRequest, "Client sent an HTTP request to an HTTPS server.\n")
            : Status(HttpStatusCode.NotFound, "no such page"));
        using var client = new RegistryClient(Options(inner));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync("localhost:5000"));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Contains("localhost:5000 does not answer as an OCI registry", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("https://", error.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registry_that_starts_between_the_probes_is_found_over_plain_http()
    {
        // Nothing listened for the plain-HTTP probe; by the HTTPS probe a plain-HTTP registry answers (not with TLS).
        var plain = 0;
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "https" ? throw NotTls()
            : Interlocked.Increment(ref plain) == 1 ? throw Refused() : Status(HttpStatusCode.OK));
        using var client = new RegistryClient(Options(inner));

        await client.PingAsync("localhost:5000");

        Assert.Equal([.. ProbeOrderHttpThenHttps, "http://localhost:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_plain_http_registry_that_dropped_the_probes_connection_is_found_over_plain_http()
    {
        // The plain-HTTP probe's connection is reset (not retried: it may be TLS); HTTPS then shows no TLS is there.
        var plain = 0;
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "https" ? throw NotTls()
            : Interlocked.Increment(ref plain) == 1 ? throw new HttpRequestException(HttpRequestError.Unknown, "reset", new IOException("Connection reset by peer")) : Status(HttpStatusCode.OK));
        using var client = new RegistryClient(Options(inner));

        await client.PingAsync("localhost:5000");

        Assert.Equal([.. ProbeOrderHttpThenHttps, "http://localhost:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_non_loopback_insecure_registry_is_still_probed_over_https_first()
    {
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "https" ? throw NotTls() : Status(HttpStatusCode.OK));
        using var client = new RegistryClient(Options(inner) with { InsecureRegistries = ["registry.test:5000"] });

        await client.PingAsync("registry.test:5000");

        Assert.Equal(["https://registry.test:5000/v2/", "http://registry.test:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_non_loopback_insecure_registry_whose_https_times_out_is_not_tried_over_plain_http()
    {
        var inner = new ScriptedTransport(_ => throw new OperationCanceledException("connect timed out", new TimeoutException()));
        using var client = new RegistryClient(Options(inner, maxRetries: 0) with { InsecureRegistries = ["registry.test:5000"] });

        var error = await Assert.ThrowsAsync<RegistryTimeoutException>(() => client.PingAsync("registry.test:5000"));

        Assert.Equal(RegistryTimeoutKind.Connect, error.TimeoutKind);
        Assert.Equal(["https://registry.test:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    [Fact]
    public async Task A_non_loopback_registry_that_is_not_insecure_is_never_tried_over_plain_http()
    {
        var inner = new ScriptedTransport(r => r.RequestUri!.Scheme == "https" ? throw NotTls() : Status(HttpStatusCode.OK));
        using var client = new RegistryClient(Options(inner, maxRetries: 0));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync("registry.test:5000"));

        Assert.Contains("Could not reach registry registry.test:5000", error.Message, StringComparison.Ordinal);
        Assert.Equal(["https://registry.test:5000/v2/"], inner.Seen.Select(s => s.Uri));
    }

    /// <summary>The client's innermost handler: records each request (URL and <c>Authorization</c>) and answers by a script.</summary>
    private sealed class ScriptedTransport(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        private readonly ConcurrentQueue<(string Uri, string? Authorization)> _seen = new();

        public IReadOnlyList<(string Uri, string? Authorization)> Seen => [.. _seen];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _seen.Enqueue((request.RequestUri!.ToString(), request.Headers.Authorization?.ToString()));
            try
            {
                var response = answer(request);
                response.RequestMessage = request;
                return Task.FromResult(response);
            }
            catch (Exception ex)
            {
                return Task.FromException<HttpResponseMessage>(ex);
            }
        }
    }

    /// <summary>
    /// A plain-HTTP registry on a raw <see cref="TcpListener"/> on 127.0.0.1: records the first bytes of every connection
    /// and every request line, answers <c>GET /v2/</c> with 200 and any other request with 404 (keeping the connection).
    /// </summary>
    private sealed class PlainHttpRegistry : LoopbackListener
    {
        private readonly ConcurrentQueue<byte[]> _firstBytes = new();
        private readonly ConcurrentQueue<string> _requestLines = new();

        /// <summary>The first bytes each connection sent (up to its first request's end).</summary>
        public IReadOnlyList<byte[]> FirstBytes => [.. _firstBytes];

        public IReadOnlyList<string> RequestLines => [.. _requestLines];

        protected override async Task ServeAsync(TcpClient connection)
        {
            var stream = connection.GetStream();
            var first = true;
            while (await ReadHeadAsync(stream) is { } head)
            {
                if (first)
                {
                    _firstBytes.Enqueue(head);
                    first = false;
                }

                if (head[0] == 0x16)
                {
                    connection.Client.Shutdown(SocketShutdown.Both);
                    return;
                }

                var text = Encoding.ASCII.GetString(head);
                var line = text[..text.IndexOf("\r\n", StringComparison.Ordinal)];
                _requestLines.Enqueue(line);
                var (status, body) = line.StartsWith("GET /v2/ ", StringComparison.Ordinal)
                    ? ("200 OK", "{}")
                    : ("404 Not Found", "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"unknown\"}]}");
                var answer = $"HTTP/1.1 {status}\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), Stop.Token);
            }
        }

        /// <summary>Reads one request's head (requests here have no body), or null at the end of the connection.</summary>
        private async Task<byte[]?> ReadHeadAsync(NetworkStream stream)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 64 * 1024)
            {
                if (await stream.ReadAsync(one, Stop.Token) == 0)
                {
                    return null;
                }

                head.Add(one[0]);
                if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
                {
                    return [.. head];
                }

                if (head.Count == 1 && one[0] == 0x16)
                {
                    // A TLS ClientHello: recorded, and the connection closed.
                    return [.. head];
                }
            }

            return null;
        }
    }
}
