using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OciKit.Auth;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>The authentication handler over the redirect handler, against a scripted inner handler (no network).</summary>
public class AuthenticationHandlerTests
{
    private const string User = "alice";
    private const string Password = "pa55-Secret-word";

    /// <summary>Answers by URL through a function and records every request with its Authorization header.</summary>
    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<(Uri Uri, string? Authorization, string Method, string Body)> Seen { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
            Seen.Add((request.RequestUri!, request.Headers.Authorization?.ToString(), request.Method.Method, body));
            var response = answer(request);
            response.RequestMessage = request;
            return response;
        }
    }

    private const string IdentityToken = "identity-REFRESH-token-42";

    private static HttpMessageInvoker Chain(ScriptedHandler inner, RegistryCredential? credential = null, RegistryClientOptions? options = null) =>
        new(new AuthenticationHandler((options ?? new RegistryClientOptions()) with
        {
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(credential ?? RegistryCredential.FromUsernamePassword(User, Password)),
        })
        { InnerHandler = new RedirectHandler { InnerHandler = inner } });

    /// <summary>A registry on a non-loopback host that challenges for a token from <paramref name="realm"/>, and accepts <c>registry-token</c>.</summary>
    private static ScriptedHandler RegistryWithRealm(string realm) => new(request =>
        request.RequestUri!.Host == "registry.test"
            ? request.Headers.Authorization?.Parameter == "registry-token"
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([4, 2]) }
                : Challenge(realm)
            : request.RequestUri.Host == new Uri(realm).Host
                ? Token("registry-token")
                : new HttpResponseMessage(HttpStatusCode.NotFound));

    public static TheoryData<string> Credentials() => ["password", "identity-token"];

    private static RegistryCredential CredentialFor(string kind) => kind == "password"
        ? RegistryCredential.FromUsernamePassword(User, Password)
        : RegistryCredential.FromIdentityToken(IdentityToken, User);

    [Theory]
    [MemberData(nameof(Credentials))]
    public async Task A_plain_http_token_realm_of_a_remote_registry_is_refused_before_any_credential_is_sent(string kind)
    {
        var inner = RegistryWithRealm("http://auth.registry.test/token");
        using var invoker = Chain(inner, CredentialFor(kind));

        using var request = BlobRequest();
        var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => invoker.SendAsync(request, CancellationToken.None));

        Assert.Equal("registry.test", error.Registry);
        Assert.Contains("http://auth.registry.test/token", error.Message, StringComparison.Ordinal);
        Assert.Contains("not HTTPS", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(IdentityToken, error.ToString(), StringComparison.Ordinal);

        // The realm was never contacted (neither Basic credentials nor a refresh token went to it), and the registry
        // itself never got an Authorization header.
        Assert.DoesNotContain(inner.Seen, s => s.Uri.Host == "auth.registry.test");
        Assert.All(inner.Seen, s => Assert.Null(s.Authorization));
        Assert.Single(inner.Seen);
    }

    [Theory]
    [MemberData(nameof(Credentials))]
    public async Task An_https_token_realm_gets_the_credentials(string kind)
    {
        var inner = RegistryWithRealm("https://auth.registry.test/token");
        using var invoker = Chain(inner, CredentialFor(kind));

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var realmRequest = Assert.Single(inner.Seen, s => s.Uri.Host == "auth.registry.test");
        Assert.Equal(Uri.UriSchemeHttps, realmRequest.Uri.Scheme);
        if (kind == "password")
        {
            Assert.Equal("GET", realmRequest.Method);
            Assert.Equal(RegistryServerBasic(), realmRequest.Authorization);
        }
        else
        {
            Assert.Equal("POST", realmRequest.Method);
            Assert.Contains("refresh_token=" + IdentityToken, realmRequest.Body, StringComparison.Ordinal);
        }

        Assert.Equal("Bearer registry-token", inner.Seen[^1].Authorization);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5001/token")]
    [InlineData("http://localhost:5001/token")]
    [InlineData("http://[::1]:5001/token")]
    public async Task A_plain_http_token_realm_on_loopback_gets_the_credentials(string realm)
    {
        var inner = RegistryWithRealm(realm);
        using var invoker = Chain(inner);

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var realmRequest = Assert.Single(inner.Seen, s => s.Uri.Host == new Uri(realm).Host);
        Assert.Equal(RegistryServerBasic(), realmRequest.Authorization);
    }

    [Fact]
    public async Task A_plain_http_token_realm_marked_insecure_gets_the_credentials()
    {
        var inner = RegistryWithRealm("http://auth.registry.test/token");
        using var invoker = Chain(inner, options: new RegistryClientOptions { InsecureRegistries = ["auth.registry.test"] });

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(inner.Seen, s => s.Uri.Host == "auth.registry.test" && s.Authorization == RegistryServerBasic());
    }

    [Fact]
    public async Task Every_scope_of_a_challenge_naming_several_is_asked_for()
    {
        // distribution lists the scopes a request needs space-separated, e.g. a mount's target and source.
        var inner = new ScriptedHandler(request => request.RequestUri!.Host switch
        {
            "registry.test" when request.Headers.Authorization?.Parameter == "wide-token" => new HttpResponseMessage(HttpStatusCode.Created),
            "registry.test" => new HttpResponseMessage(HttpStatusCode.Unauthorized)
            {
                Headers = { WwwAuthenticate = { AuthenticationHeaderValue.Parse("Bearer realm=\"https://auth.registry.test/token\",service=\"svc\",scope=\"repository:app:pull,push repository:base:pull\"") } },
            },
            "auth.registry.test" => Token(request.RequestUri.Query.Contains("scope=repository%3Abase%3Apull", StringComparison.Ordinal) ? "wide-token" : "narrow-token"),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        });
        using var invoker = Chain(inner);

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var tokenRequest = Assert.Single(inner.Seen, s => s.Uri.Host == "auth.registry.test");
        Assert.Contains("scope=repository%3Aapp%3Apull%2Cpush", tokenRequest.Uri.Query, StringComparison.Ordinal);
        Assert.Contains("scope=repository%3Abase%3Apull", tokenRequest.Uri.Query, StringComparison.Ordinal);
    }

    private static string RegistryServerBasic() => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));

    private static HttpRequestMessage BlobRequest()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "https://registry.test/v2/app/blobs/sha256:" + new string('a', 64));
        request.Options.Set(AuthenticationHandler.RegistryKey, "registry.test");
        request.Options.Set(AuthenticationHandler.ScopeKey, [TokenScope.ForRepository("app", TokenScope.Pull)]);
        return request;
    }

    private static HttpResponseMessage Challenge(string realm) => new(HttpStatusCode.Unauthorized)
    {
        Headers = { WwwAuthenticate = { AuthenticationHeaderValue.Parse($"Bearer realm=\"{realm}\",service=\"svc\",scope=\"repository:app:pull\"") } },
    };

    private static HttpResponseMessage Token(string token) => new(HttpStatusCode.OK)
    {
        Content = new StringContent($$"""{"token":"{{token}}","expires_in":300}""", Encoding.UTF8, "application/json"),
    };

    [Fact]
    public async Task A_redirect_targets_challenge_is_never_answered_with_the_registrys_credentials()
    {
        var inner = new ScriptedHandler(request => request.RequestUri!.Host switch
        {
            // The registry: a token challenge first, then a redirect to the CDN once authorized.
            "registry.test" when request.Headers.Authorization is null => Challenge("https://auth.registry.test/token"),
            "registry.test" => new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri("https://cdn.test/blob?sig=xyz") } },
            "auth.registry.test" => Token("registry-token"),

            // The CDN asks for a token from a realm of its choosing.
            "cdn.test" => Challenge("https://evil.test/token"),
            "evil.test" => Token("evil-token"),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        });
        using var invoker = Chain(inner);

        using var request = BlobRequest();
        var error = await Assert.ThrowsAsync<RegistryException>(() => invoker.SendAsync(request, CancellationToken.None));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("cdn.test", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("registry-token", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sig=xyz", error.Message, StringComparison.Ordinal);

        // The registry's own challenge was answered (so credentials were in play)...
        Assert.Contains(inner.Seen, s => s.Uri.Host == "auth.registry.test" && s.Authorization is not null && s.Authorization.StartsWith("Basic ", StringComparison.Ordinal));

        // ...but the CDN's realm was never contacted, and the CDN never saw an Authorization header.
        Assert.DoesNotContain(inner.Seen, s => s.Uri.Host == "evil.test");
        var cdnRequests = inner.Seen.Where(s => s.Uri.Host == "cdn.test").ToList();
        Assert.Single(cdnRequests);
        Assert.Null(cdnRequests[0].Authorization);
    }

    [Fact]
    public async Task The_registrys_own_challenge_is_still_answered()
    {
        var inner = new ScriptedHandler(request => request.RequestUri!.Host switch
        {
            "registry.test" when request.Headers.Authorization?.Parameter == "registry-token" => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([1, 2, 3]) },
            "registry.test" => Challenge("https://auth.registry.test/token"),
            "auth.registry.test" => Token("registry-token"),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        });
        using var invoker = Chain(inner);

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2, 3], await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_same_origin_redirect_keeps_answering_the_registrys_challenge()
    {
        var inner = new ScriptedHandler(request => request.RequestUri!.AbsolutePath switch
        {
            "/token" => Token("registry-token"),
            "/moved" when request.Headers.Authorization?.Parameter == "registry-token" => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([7]) },
            "/moved" => Challenge("https://registry.test/token"),
            _ => new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri("https://registry.test/moved") } },
        });
        using var invoker = Chain(inner);

        using var request = BlobRequest();
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(inner.Seen, s => s.Uri.AbsolutePath == "/token" && s.Authorization is not null);
    }
}
