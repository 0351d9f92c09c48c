using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace OciKit.Testing;

/// <summary>
/// A raw TCP server on 127.0.0.1 for tests that need what no real registry does (never answering, recording the first
/// bytes of a connection, answering by hand): accepts connections and serves each with <see cref="ServeAsync"/> until
/// it ends; disposing stops accepting and closes every connection.
/// </summary>
internal abstract class LoopbackListener : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ConcurrentBag<TcpClient> _connections = [];

    protected LoopbackListener()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Host = $"127.0.0.1:{Port}";
        _ = Task.Run(AcceptAsync);
    }

    /// <summary>Its <c>127.0.0.1:PORT</c>.</summary>
    public string Host { get; }

    /// <summary>Its port.</summary>
    public int Port { get; }

    /// <summary>Cancelled when the listener is disposed.</summary>
    protected CancellationTokenSource Stop { get; } = new();

    public virtual void Dispose()
    {
        Stop.Cancel();
        _listener.Stop();
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }

        Stop.Dispose();
    }

    /// <summary>Serves one connection; an I/O failure or cancellation ends it quietly (the peer or the test closed it).</summary>
    protected abstract Task ServeAsync(TcpClient connection);

    private async Task AcceptAsync()
    {
        while (!Stop.IsCancellationRequested)
        {
            TcpClient connection;
            try
            {
                connection = await _listener.AcceptTcpClientAsync(Stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _connections.Add(connection);
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(connection);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or System.Security.Authentication.AuthenticationException)
                {
                    // The peer or the test ended the connection.
                }
            });
        }
    }
}
