using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OciKit.IntegrationTests.Harness;
using OciKit.References;
using OciKit.Registry;
using OciKit.Testing;

namespace OciKit.IntegrationTests.Registry;

/// <summary>
/// A loopback registry is probed over plain HTTP first, and a TLS one on loopback is still reached over HTTPS with every
/// rule of HTTPS: against the real <c>docker-registry</c> (plain, and TLS, whose Go server answers plain HTTP with a 400)
/// and against a TLS server that, like OpenSSL's or .NET's, drops a connection that does not start with TLS.
/// </summary>
public sealed class LoopbackSchemeTests
{
    [Fact]
    public async Task The_plain_http_registry_is_reached_without_a_tls_attempt()
    {
        await using var registry = await RegistryServer.StartAnonymousAsync();
        using var proxy = new RecordingTcpProxy(registry.Port);
        using var client = new RegistryClient(new RegistryClientOptions { Credentials = null, MaxRetries = 0 });

        await client.PingAsync(proxy.Host);
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/nothing/here:1")));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.StartsWith("http://", error.Url, StringComparison.Ordinal);
        var first = Assert.Single(await proxy.FirstBytesAsync());
        Assert.StartsWith("GET /v2/ HTTP/1.1\r\n", Encoding.ASCII.GetString(first), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_tls_registry_is_reached_over_https_after_its_400_to_plain_http()
    {
        await using var registry = await RegistryServer.StartBasicTlsAsync();
        using var proxy = new RecordingTcpProxy(registry.Port);
        using var client = new RegistryClient(new RegistryClientOptions
        {
            Credentials = (_, _) => ValueTask.FromResult<OciKit.Auth.RegistryCredential?>(OciKit.Auth.RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)),
            Tls = ImmutableDictionary<string, RegistryTlsOptions>.Empty.Add(proxy.Host, new RegistryTlsOptions([registry.Certificate!])),
            MaxRetries = 0,
        });

        await client.CheckCredentialsAsync(proxy.Host);

        // The plain-HTTP probe first (Go's TLS server answered it with a 400), then TLS only.
        var connections = await proxy.FirstBytesAsync();
        Assert.True(connections.Length >= 2, $"{connections.Length} connection(s)");
        Assert.StartsWith("GET /v2/ HTTP/1.1\r\n", Encoding.ASCII.GetString(connections[0]), StringComparison.Ordinal);
        Assert.All(connections.Skip(1), c => Assert.Equal(new byte[] { 0x16, 0x03 }, c[..2]));
    }

    [Fact]
    public async Task A_tls_registry_with_a_test_ca_certificate_is_reached_over_https()
    {
        using var ca = TestCertificates.CreateCertificateAuthority("ocikit loopback test CA");
        using var server = new TlsRegistry(TestCertificates.CreateServerCertificate(ca));
        using var client = new RegistryClient(new RegistryClientOptions
        {
            Credentials = null,
            Tls = ImmutableDictionary<string, RegistryTlsOptions>.Empty.Add(server.Host, new RegistryTlsOptions([ca])),
            MaxRetries = 0,
        });

        await client.PingAsync(server.Host);
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/app:1")));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.StartsWith($"https://{server.Host}/v2/app/manifests/1", error.Url, StringComparison.Ordinal);

        // The plain-HTTP probe, dropped by the TLS server; then TLS, carrying the HTTPS probe and the manifest request.
        Assert.Equal([(int)'G', 0x16], server.FirstBytes);
        Assert.Equal(["GET /v2/ HTTP/1.1", "GET /v2/app/manifests/1 HTTP/1.1"], server.TlsRequestLines);
    }

    [Fact]
    public async Task A_tls_registry_with_an_untrusted_certificate_fails_as_not_trusted_without_falling_back()
    {
        using var ca = TestCertificates.CreateCertificateAuthority("ocikit untrusted test CA");
        using var server = new TlsRegistry(TestCertificates.CreateServerCertificate(ca));
        using var client = new RegistryClient(new RegistryClientOptions { Credentials = null, MaxRetries = 2 });

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PingAsync(server.Host));

        Assert.Contains($"The TLS certificate of {server.Host} is not trusted", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("https://", error.Url, StringComparison.Ordinal);

        // The plain-HTTP probe, then one TLS handshake (a refused certificate is not retried), and nothing after it.
        Assert.Equal([(int)'G', 0x16], server.FirstBytes);
        Assert.Empty(server.TlsRequestLines);
    }

    /// <summary>
    /// A TCP proxy to a local port that records the first bytes each connection sends (what the client opened it with:
    /// a plain-HTTP request, or a TLS record) and forwards everything both ways untouched.
    /// </summary>
    private sealed class RecordingTcpProxy(int targetPort) : LoopbackListener
    {
        private readonly ConcurrentQueue<Task<byte[]>> _firstBytes = new();

        /// <summary>The first bytes (up to 64) of every connection accepted so far, in order.</summary>
        public async Task<byte[][]> FirstBytesAsync() => await Task.WhenAll(_firstBytes.ToArray());

        protected override async Task ServeAsync(TcpClient connection)
        {
            var first = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            _firstBytes.Enqueue(first.Task);
            using var upstream = new TcpClient();
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, targetPort, Stop.Token);
                var client = connection.GetStream();
                var server = upstream.GetStream();
                var buffer = new byte[64];
                var read = await client.ReadAsync(buffer, Stop.Token);
                first.TrySetResult(buffer[..read]);
                await server.WriteAsync(buffer.AsMemory(0, read), Stop.Token);
                var up = client.CopyToAsync(server, Stop.Token).ContinueWith(_ => upstream.Client.Shutdown(SocketShutdown.Send), TaskScheduler.Default);
                var down = server.CopyToAsync(client, Stop.Token).ContinueWith(_ => connection.Client.Shutdown(SocketShutdown.Send), TaskScheduler.Default);
                await Task.WhenAll(up, down);
            }
            finally
            {
                first.TrySetResult([]);
            }
        }
    }

    /// <summary>
    /// A registry that speaks only TLS: a connection that does not open with a TLS record (0x16) is closed, as OpenSSL's
    /// and .NET's servers do; over TLS, <c>GET /v2/</c> is answered 200 and anything else 404. Records the first byte of
    /// every connection and the request lines received over TLS.
    /// </summary>
    private sealed class TlsRegistry(X509Certificate2 certificate) : LoopbackListener
    {
        private readonly ConcurrentQueue<int> _firstBytes = new();
        private readonly ConcurrentQueue<string> _tlsRequestLines = new();

        public IReadOnlyList<int> FirstBytes => [.. _firstBytes];

        public IReadOnlyList<string> TlsRequestLines => [.. _tlsRequestLines];

        public override void Dispose()
        {
            base.Dispose();
            certificate.Dispose();
        }

        protected override async Task ServeAsync(TcpClient connection)
        {
            var peek = new byte[1];
            var got = await connection.Client.ReceiveAsync(peek, SocketFlags.Peek, Stop.Token);
            _firstBytes.Enqueue(got == 0 ? -1 : peek[0]);
            if (got == 0 || peek[0] != 0x16)
            {
                connection.Client.Close();
                return;
            }

            await using var tls = new SslStream(connection.GetStream());
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, Stop.Token);
            while (await ReadHeadAsync(tls) is { } head)
            {
                var line = head[..head.IndexOf("\r\n", StringComparison.Ordinal)];
                _tlsRequestLines.Enqueue(line);
                var (status, body) = line.StartsWith("GET /v2/ ", StringComparison.Ordinal)
                    ? ("200 OK", "{}")
                    : ("404 Not Found", "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"unknown\"}]}");
                var answer = $"HTTP/1.1 {status}\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}";
                await tls.WriteAsync(Encoding.ASCII.GetBytes(answer), Stop.Token);
            }
        }

        /// <summary>Reads one request's head (requests here have no body), or null at the end of the connection.</summary>
        private async Task<string?> ReadHeadAsync(Stream stream)
        {
            var head = new StringBuilder();
            var one = new byte[1];
            while (head.Length < 64 * 1024)
            {
                if (await stream.ReadAsync(one, Stop.Token) == 0)
                {
                    return null;
                }

                head.Append((char)one[0]);
                if (head.Length >= 4 && head.ToString(head.Length - 4, 4) == "\r\n\r\n")
                {
                    return head.ToString();
                }
            }

            return null;
        }
    }
}
