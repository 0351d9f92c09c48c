using System.Collections.Concurrent;
using System.Net;
using OciKit.Auth;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Registry;

/// <summary>Blob downloads redirected to another host (object storage, a CDN) never carry the registry's credentials.</summary>
public class RegistryRedirectTests
{
    [Fact]
    public async Task A_redirect_to_another_host_is_followed_without_the_authorization_header()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var pushed = ImageReference.Parse($"{registry.Host}/cdn/busybox:1");
        await BusyboxImage.PushAsync(registry, "cdn/busybox", "1");

        using var direct = new RegistryClient(new RegistryClientOptions
        {
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)),
        });
        var manifest = Images.ManifestDocument.Parse((await direct.GetManifestAsync(pushed)).Bytes);
        var layer = manifest.Manifest!.Layers[0];
        using var layerBytes = new MemoryStream();
        await direct.DownloadBlobAsync(pushed, layer, layerBytes);

        // A "CDN" on another port (another origin) that records the headers it receives and serves the blob.
        using var cdn = new HttpListener();
        var cdnPort = FreePort.Next();
        cdn.Prefixes.Add($"http://127.0.0.1:{cdnPort}/");
        cdn.Start();
        var seen = new ConcurrentQueue<string?>();
        var serve = Task.Run(async () =>
        {
            var context = await cdn.GetContextAsync();
            seen.Enqueue(context.Request.Headers["Authorization"]);
            var bytes = layerBytes.ToArray();
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        });

        using var proxy = new FaultProxy(registry.BaseUri);
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.Redirect(new Uri($"http://127.0.0.1:{cdnPort}/blobs/{layer.Digest.Encoded}?signature=abc")));
        using var client = new RegistryClient(new RegistryClientOptions
        {
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)),
        });
        var viaProxy = ImageReference.Parse($"{proxy.Host}/cdn/busybox:1");
        using var downloaded = new MemoryStream();
        await client.DownloadBlobAsync(viaProxy, layer, downloaded);
        await serve;

        Assert.Equal(layerBytes.ToArray(), downloaded.ToArray());
        Assert.Single(seen);
        Assert.Null(seen.Single());

        // The request to the registry's origin did carry credentials, so there was something to leak.
        Assert.Contains(proxy.Requests, r => r.Fault is Fault.Redirect && r.HadAuthorization);
    }

    [Fact]
    public async Task A_redirect_targets_bearer_challenge_never_gets_the_registrys_credentials()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var pushed = ImageReference.Parse($"{registry.Host}/cdn/busybox:1");
        await BusyboxImage.PushAsync(registry, "cdn/busybox", "1");
        RegistryCredentialProvider credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password));
        using var direct = new RegistryClient(new RegistryClientOptions { Credentials = credentials });
        var layer = Images.ManifestDocument.Parse((await direct.GetManifestAsync(pushed)).Bytes).Manifest!.Layers[0];

        // A hostile "CDN" on another origin: it answers every blob request with 401 and a Bearer realm on itself, and
        // records everything it receives (its own token endpoint included), Authorization headers and query strings.
        using var cdn = new HttpListener();
        var cdnPort = FreePort.Next();
        cdn.Prefixes.Add($"http://127.0.0.1:{cdnPort}/");
        cdn.Start();
        var seen = new ConcurrentQueue<(string PathAndQuery, string? Authorization)>();
        var serve = Task.Run(async () =>
        {
            while (cdn.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await cdn.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                seen.Enqueue((context.Request.Url!.PathAndQuery, context.Request.Headers["Authorization"]));
                if (context.Request.Url.AbsolutePath == "/token")
                {
                    await JsonResponses.SendAsync(context.Response, 200, """{"token":"cdn-issued-token","expires_in":300}"""u8.ToArray());
                    continue;
                }

                context.Response.AddHeader("WWW-Authenticate", $"Bearer realm=\"http://127.0.0.1:{cdnPort}/token\",service=\"cdn\",scope=\"repository:cdn/busybox:pull\"");
                await JsonResponses.SendAsync(context.Response, 401, """{"errors":[{"code":"UNAUTHORIZED","message":"cdn wants a token"}]}"""u8.ToArray());
            }
        });

        using var proxy = new FaultProxy(registry.BaseUri);
        proxy.Add("GET", $"/blobs/{layer.Digest}", new Fault.Redirect(new Uri($"http://127.0.0.1:{cdnPort}/blobs/{layer.Digest.Encoded}?signature=abc")), times: 100);
        using var client = new RegistryClient(new RegistryClientOptions { Credentials = credentials, RetryBaseDelay = TimeSpan.Zero, RetryMaxDelay = TimeSpan.Zero });
        var viaProxy = ImageReference.Parse($"{proxy.Host}/cdn/busybox:1");
        var tokensBefore = registry.TokenServer!.Requests.Count;

        using var downloaded = new MemoryStream();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.DownloadBlobAsync(viaProxy, layer, downloaded));
        cdn.Close();
        await serve;

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains($"127.0.0.1:{cdnPort}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(RegistryServer.Password, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("signature=abc", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, downloaded.Length);

        // The registry's token service was used (there was a token to leak), the CDN's realm never was: it received
        // no request at all, so neither the username nor the password reached it.
        Assert.True(registry.TokenServer.Requests.Count > tokensBefore);
        Assert.Contains(proxy.Requests, r => r.Fault is Fault.Redirect && r.HadAuthorization);
        Assert.NotEmpty(seen);
        Assert.DoesNotContain(seen, s => s.PathAndQuery.StartsWith("/token", StringComparison.Ordinal));
        Assert.All(seen, s => Assert.Null(s.Authorization));
        Assert.DoesNotContain(seen, s => s.PathAndQuery.Contains(RegistryServer.User, StringComparison.Ordinal));
    }
}
