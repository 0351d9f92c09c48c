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
}
