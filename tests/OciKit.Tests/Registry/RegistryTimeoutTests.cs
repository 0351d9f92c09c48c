using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using OciKit.References;
using OciKit.Registry;
using OciKit.Testing;

namespace OciKit.Tests.Registry;

/// <summary>
/// A registry that accepts connections and never answers fails a pull in bounded time, with a typed error naming the
/// host and the timeout, and without an HTTPS attempt after the plain-HTTP one (a loopback registry's first) timed out.
/// </summary>
public sealed class RegistryTimeoutTests
{
    private static RegistryClientOptions Options() => new()
    {
        Credentials = null,
        ConnectTimeout = TimeSpan.FromSeconds(1),
        ResponseTimeout = TimeSpan.FromSeconds(1),
        MaxRetries = 1,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(50),
    };

    [Fact]
    public async Task A_loopback_server_that_never_answers_fails_on_the_response_timeout_without_trying_https()
    {
        using var server = new SilentServer();
        using var client = new RegistryClient(Options());

        var error = await Assert.ThrowsAsync<RegistryTimeoutException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/app:1")));

        Assert.Equal(RegistryTimeoutKind.Response, error.TimeoutKind);
        Assert.Equal(server.Host, error.Host);
        Assert.True(error.IsTransient);
        Assert.Null(error.StatusCode);
        Assert.Contains($"Could not reach registry {server.Host}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{server.Host} sent no response within the response timeout (ResponseTimeout, 1 s", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("http://", error.Url, StringComparison.Ordinal);

        // A loopback registry is probed over plain HTTP first: an attempt and one retry ("GET "), and no TLS ClientHello
        // (0x16) after them, since a timeout is no sign that TLS listens there. (That the HTTPS probe of a non-loopback
        // registry that times out is not followed by plain HTTP: EndpointProbeTests.)
        var first = await server.FirstBytesAsync();
        Assert.Equal(new[] { (int)'G', 'G' }, first);
    }

    [Fact]
    public void Timeouts_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegistryClient(new RegistryClientOptions { ConnectTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegistryClient(new RegistryClientOptions { ResponseTimeout = TimeSpan.FromSeconds(-1) }));
    }

    /// <summary>
    /// A TCP listener on 127.0.0.1 that accepts connections, records the first byte each sends, and never answers.
    /// </summary>
    private sealed class SilentServer : LoopbackListener
    {
        private readonly ConcurrentQueue<Task<int>> _firstBytes = new();

        /// <summary>The first byte of every connection accepted so far (-1 for one closed before sending anything).</summary>
        public async Task<int[]> FirstBytesAsync() => await Task.WhenAll(_firstBytes.ToArray());

        protected override Task ServeAsync(TcpClient connection)
        {
            var first = FirstByteAsync(connection);
            _firstBytes.Enqueue(first);
            return first;
        }

        private async Task<int> FirstByteAsync(TcpClient connection)
        {
            var buffer = new byte[1];
            try
            {
                var stream = connection.GetStream();
                if (await stream.ReadAsync(buffer, Stop.Token) == 0)
                {
                    return -1;
                }

                return buffer[0];
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return -1;
            }
        }
    }
}
