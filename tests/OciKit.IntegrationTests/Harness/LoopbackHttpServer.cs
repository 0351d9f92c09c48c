using System.Net;

namespace OciKit.IntegrationTests.Harness;

/// <summary>
/// An <see cref="HttpListener"/> on a free 127.0.0.1 port that hands every request to a handler: the accept loop,
/// the handling of a client that went away and the one-time close that the harness's test servers (token service,
/// fault proxy, referrers double) share.
/// </summary>
public sealed class LoopbackHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerContext, Task> _handle;
    private readonly bool _concurrent;
    private readonly Task _loop;

    /// <summary>Starts listening.</summary>
    /// <param name="handle">Answers one request.</param>
    /// <param name="concurrent">Whether requests are handled at once (else one after the other, in arrival order).</param>
    public LoopbackHttpServer(Func<HttpListenerContext, Task> handle, bool concurrent)
    {
        _handle = handle;
        _concurrent = concurrent;
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>The port.</summary>
    public int Port { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        // Close alone: Stop then Close would release the port twice, and the managed listener's second release binds
        // the port again to look its endpoint up, failing with "Address already in use" when a server started since
        // has been given that port.
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends with the listener.
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            if (_concurrent)
            {
                _ = Task.Run(() => HandleAsync(context));
            }
            else
            {
                await HandleAsync(context).ConfigureAwait(false);
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            await _handle(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or HttpRequestException or ObjectDisposedException)
        {
            // The client went away, or the upstream did: end the exchange.
            context.Response.Abort();
        }
    }
}
