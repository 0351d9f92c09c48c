using System.Collections.Immutable;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OciKit.Auth;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Registry;

/// <summary>The client's authentication against the real registry in Basic/TLS and Docker Hub-style token modes.</summary>
public class RegistryAuthTests
{
    private static readonly string[] Secrets =
    [
        RegistryServer.Password,
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}")),
        "wrong-password-123",
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:wrong-password-123")),
    ];

    private static RegistryClientOptions Options(RegistryServer registry, RegistryCredential? credential) => new()
    {
        Credentials = (_, _) => ValueTask.FromResult(credential),
        Tls = registry.Certificate is null
            ? ImmutableDictionary<string, RegistryTlsOptions>.Empty
            : ImmutableDictionary<string, RegistryTlsOptions>.Empty.Add(registry.Host, new RegistryTlsOptions([registry.Certificate])),
        MaxRetries = 1,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(50),
    };

    private static async Task<Digest> PushBusyboxAsync(RegistryClient client, ImageReference target)
    {
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        var blobs = new LayoutBlobs(dir.Path);
        var (manifest, descriptor) = blobs.Manifest();
        foreach (var blob in blobs.Blobs(manifest))
        {
            await client.UploadBlobAsync(target, blob, _ => Task.FromResult<Stream>(File.OpenRead(blobs.BlobPath(blob.Digest))));
        }

        return await client.PutManifestAsync(target, manifest, descriptor.MediaType);
    }

    private static void AssertNoSecret(Exception error, RegistryServer? registry = null, params string[] more)
    {
        var text = error.ToString();
        var issued = registry?.TokenServer?.IssuedSecrets ?? [];
        if (registry?.TokenServer is not null)
        {
            Assert.NotEmpty(issued);
        }

        foreach (var secret in Secrets.Concat(issued).Concat(more))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }

        // The signature part of any JWT, in case one was issued but not recorded.
        Assert.DoesNotMatch(@"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]{16,}", text);
    }

    [Fact]
    public async Task Basic_over_tls_pushes_with_credentials_and_explains_each_refusal()
    {
        await using var registry = await RegistryServer.StartBasicTlsAsync();
        var target = ImageReference.Parse($"{registry.Host}/secure/busybox:1");

        using (var client = new RegistryClient(Options(registry, RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password))))
        {
            var digest = await PushBusyboxAsync(client, target);
            Assert.Equal(digest, (await client.GetManifestAsync(target)).Digest);
        }

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"--creds={RegistryServer.User}:{RegistryServer.Password}", $"docker://{target}"]);
        Assert.Contains("\"Digest\"", inspect.StdOut, StringComparison.Ordinal);

        using (var anonymous = new RegistryClient(Options(registry, null)))
        {
            var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => anonymous.GetManifestAsync(target));
            Assert.Contains("requires credentials", error.Message, StringComparison.Ordinal);
        }

        using (var wrong = new RegistryClient(Options(registry, RegistryCredential.FromUsernamePassword(RegistryServer.User, "wrong-password-123"))))
        {
            var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => wrong.GetManifestAsync(target));
            Assert.Contains("refused", error.Message, StringComparison.Ordinal);
            AssertNoSecret(error);
        }

        using (var untrusting = new RegistryClient(new RegistryClientOptions { Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)), MaxRetries = 0 }))
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => untrusting.GetManifestAsync(target));
            Assert.Contains("not trusted", error.Message, StringComparison.Ordinal);
            AssertNoSecret(error);
        }
    }

    [Fact]
    public async Task Token_flow_pulls_anonymously_pushes_with_credentials_and_caches_tokens()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var target = ImageReference.Parse($"{registry.Host}/hub/busybox:1");

        using (var client = new RegistryClient(Options(registry, RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password))))
        {
            await PushBusyboxAsync(client, target);
        }

        // One token per distinct scope set, reused for every blob and the manifest.
        var pushTokens = registry.TokenServer!.Requests.Count(r => r.User == RegistryServer.User && r.Status == 200);
        Assert.InRange(pushTokens, 1, 3);

        using (var anonymous = new RegistryClient(Options(registry, null)))
        {
            var manifest = await anonymous.GetManifestAsync(target);
            Assert.Equal(MediaTypes.OciManifest, manifest.MediaType);
            Assert.Contains(registry.TokenServer.Requests, r => r.User is null && r.Scopes.Contains("repository:hub/busybox:pull"));

            // The policy gives anonymous users pull only: pushing is refused, clearly.
            var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => PushBusyboxAsync(anonymous, target.WithTag("2")));
            Assert.Contains(registry.Host, error.Message, StringComparison.Ordinal);
        }

        using (var wrong = new RegistryClient(Options(registry, RegistryCredential.FromUsernamePassword(RegistryServer.User, "wrong-password-123"))))
        {
            var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => wrong.GetManifestAsync(target));
            Assert.Contains("refused the credentials", error.Message, StringComparison.Ordinal);
            AssertNoSecret(error);
        }
    }

    [Fact]
    public async Task A_token_for_a_scope_the_server_does_not_grant_is_reported_as_refused()
    {
        // tester may pull everything but push only under "team/".
        await using var registry = await RegistryServer.StartTokenAsync((user, access) =>
            user == RegistryServer.User && access.Name.StartsWith("team/", StringComparison.Ordinal) ? ["pull", "push"] : ["pull"]);
        using var client = new RegistryClient(Options(registry, RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password)));

        await PushBusyboxAsync(client, ImageReference.Parse($"{registry.Host}/team/allowed:1"));
        var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => PushBusyboxAsync(client, ImageReference.Parse($"{registry.Host}/other/denied:1")));
        Assert.Contains("refused the request", error.Message, StringComparison.Ordinal);
        Assert.Contains("UNAUTHORIZED", error.Message, StringComparison.Ordinal);

        // The client held a token (pull on other/denied) when the registry refused: neither it nor any other leaks.
        Assert.Contains(registry.TokenServer!.Requests, r => r.User == RegistryServer.User && r.Scopes.Contains("repository:other/denied:pull,push"));
        AssertNoSecret(error, registry);
    }

    [Fact]
    public async Task Identity_token_is_exchanged_through_the_oauth_refresh_grant()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        using var http = new HttpClient();
        using var login = await http.PostAsync(new Uri(registry.TokenServer!.Realm), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["service"] = RegistryServer.TokenService, ["client_id"] = "ocikit-tests",
            ["access_type"] = "offline", ["username"] = RegistryServer.User, ["password"] = RegistryServer.Password,
        }));
        var refresh = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("refresh_token").GetString()!;

        using var client = new RegistryClient(Options(registry, RegistryCredential.FromIdentityToken(refresh)));
        await PushBusyboxAsync(client, ImageReference.Parse($"{registry.Host}/identity/busybox:1"));
        Assert.Contains(registry.TokenServer.Requests, r => r.Method == "POST" && r.User == RegistryServer.User && r.Status == 200
            && r.Scopes.Any(s => s.Contains("push", StringComparison.Ordinal)));

        // A refresh token the service does not know is refused, and the message quotes neither it nor any issued one.
        const string unknownRefresh = "unknown-REFRESH-token-0123456789";
        using var stale = new RegistryClient(Options(registry, RegistryCredential.FromIdentityToken(unknownRefresh)));
        var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => PushBusyboxAsync(stale, ImageReference.Parse($"{registry.Host}/identity/busybox:2")));
        Assert.Contains("refused the credentials", error.Message, StringComparison.Ordinal);
        Assert.Contains(refresh, registry.TokenServer.IssuedSecrets);
        AssertNoSecret(error, registry, unknownRefresh, refresh);
    }

    [Fact]
    public async Task A_cross_repository_mount_on_a_token_registry_asks_one_token_for_target_push_and_source_pull()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var credential = RegistryCredential.FromUsernamePassword(RegistryServer.User, RegistryServer.Password);
        using (var direct = new RegistryClient(Options(registry, credential)))
        {
            await PushBusyboxAsync(direct, ImageReference.Parse($"{registry.Host}/source/busybox:1"));
        }

        // The mount goes through a proxy, which records every request before forwarding it.
        using var proxy = new FaultProxy(registry.BaseUri);
        using var client = new RegistryClient(Options(registry, credential));
        var target = ImageReference.Parse($"{proxy.Host}/target/app");
        using var dir = new TempDir();
        BusyboxImage.WriteOciLayout(dir.Path);
        var blobs = new LayoutBlobs(dir.Path);
        var layers = blobs.Blobs(blobs.Manifest().Bytes).ToList();
        var tokensBefore = registry.TokenServer!.Requests.Count;
        foreach (var blob in layers)
        {
            var outcome = await client.UploadBlobAsync(target, blob, _ => throw new InvalidOperationException("a mounted blob is never read"), mountFrom: "source/busybox");
            Assert.Equal(BlobUploadOutcome.Mounted, outcome);
        }

        var tokens = registry.TokenServer.Requests.Skip(tokensBefore).ToList();
        Assert.Contains(tokens, r => r.User == RegistryServer.User && r.Status == 200
            && r.Scopes.Contains("repository:target/app:pull,push") && r.Scopes.Contains("repository:source/busybox:pull"));

        // Each blob: one mount request, answered without a prior refusal (the token had both scopes), and no upload.
        var requests = proxy.Requests;
        Assert.Equal(layers.Count, requests.Count(r => r.Method == "POST" && r.PathAndQuery.Contains("mount=", StringComparison.Ordinal)));
        Assert.All(requests.Where(r => r.Method == "POST"), r => Assert.True(r.HadAuthorization, r.PathAndQuery));
        Assert.DoesNotContain(requests, r => r.Method == "PATCH");
        Assert.DoesNotContain(requests, r => r.Method == "PUT" && r.ContentLength is > 0);
        foreach (var blob in layers)
        {
            Assert.Equal(blob.Size, await client.HeadBlobAsync(target, blob.Digest));
        }
    }
}
