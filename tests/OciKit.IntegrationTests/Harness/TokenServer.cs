using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OciKit.IntegrationTests.Harness;

/// <summary>One access grant in a token: <c>repository:NAME:ACTIONS</c>.</summary>
/// <param name="Type">Resource type, usually <c>repository</c>.</param>
/// <param name="Name">Resource name, for example <c>library/busybox</c>.</param>
/// <param name="Actions">Granted actions, for example <c>pull</c>, <c>push</c>.</param>
public sealed record TokenAccess(string Type, string Name, IReadOnlyList<string> Actions)
{
    /// <summary>Parses a scope string <c>type:name:action1,action2</c> (the name may contain <c>:</c> for a port).</summary>
    public static TokenAccess? Parse(string scope)
    {
        var first = scope.IndexOf(':', StringComparison.Ordinal);
        var last = scope.LastIndexOf(':');
        if (first <= 0 || last <= first)
        {
            return null;
        }

        return new TokenAccess(scope[..first], scope[(first + 1)..last], scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary>A token request the server received, for assertions.</summary>
/// <param name="Method">GET or POST.</param>
/// <param name="Service">The <c>service</c> parameter.</param>
/// <param name="Scopes">The requested scopes, as sent.</param>
/// <param name="User">The authenticated user, or null for anonymous.</param>
/// <param name="Status">The HTTP status answered.</param>
public sealed record TokenRequest(string Method, string? Service, IReadOnlyList<string> Scopes, string? User, int Status);

/// <summary>
/// A token server as Docker Hub's auth service behaves: <c>GET /token?service=…&amp;scope=…</c> (anonymous or with
/// Basic credentials) and the OAuth2 <c>POST /token</c> form (password and refresh_token grants). It issues ES256 JWTs
/// signed by a leaf certificate chained to a test CA, with the chain in the <c>x5c</c> header; the registry is
/// configured to trust the CA, so it verifies the tokens itself.
/// </summary>
public sealed class TokenServer : IDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly X509Certificate2 _signer;
    private readonly ConcurrentQueue<TokenRequest> _requests = new();
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new();
    private readonly ConcurrentQueue<string> _issued = new();

    /// <summary>Starts the server on a free loopback port.</summary>
    /// <param name="rootCertificate">The CA the registry trusts (<c>rootcertbundle</c>).</param>
    /// <param name="service">The service name tokens are issued for (the JWT <c>aud</c>).</param>
    /// <param name="issuer">The JWT <c>iss</c>.</param>
    /// <param name="users">Known users and their passwords.</param>
    /// <param name="policy">Which actions a user (null: anonymous) gets on a requested resource.</param>
    public TokenServer(X509Certificate2 rootCertificate, string service, string issuer, IReadOnlyDictionary<string, string> users, Func<string?, TokenAccess, IReadOnlyList<string>> policy)
    {
        _signer = TestCertificates.CreateSigningCertificate(rootCertificate, "ocikit test token signer");
        Service = service;
        Issuer = issuer;
        Users = users;
        Policy = policy;
        _server = new LoopbackHttpServer(HandleAsync, concurrent: false);
    }

    /// <summary>The loopback port.</summary>
    public int Port => _server.Port;

    /// <summary>The realm URL the registry sends clients to.</summary>
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>The service name (JWT audience).</summary>
    public string Service { get; }

    /// <summary>The JWT issuer.</summary>
    public string Issuer { get; }

    /// <summary>Known users and passwords.</summary>
    public IReadOnlyDictionary<string, string> Users { get; }

    /// <summary>The grant policy.</summary>
    public Func<string?, TokenAccess, IReadOnlyList<string>> Policy { get; }

    /// <summary>Every request received so far.</summary>
    public IReadOnlyList<TokenRequest> Requests => _requests.ToArray();

    /// <summary>Every secret the server handed out so far (access tokens and refresh tokens), for no-leak assertions.</summary>
    public IReadOnlyList<string> IssuedSecrets => _issued.ToArray();

    /// <summary>Issues a token directly (as the HTTP endpoint would) for a user and scopes, applying the policy.</summary>
    public string IssueToken(string? user, IEnumerable<string> scopes)
    {
        var access = new JsonArray();
        foreach (var scope in scopes)
        {
            if (TokenAccess.Parse(scope) is not { } requested)
            {
                continue;
            }

            var granted = Policy(user, requested).Intersect(requested.Actions, StringComparer.Ordinal).ToArray();
            if (granted.Length > 0)
            {
                access.Add(new JsonObject
                {
                    ["type"] = requested.Type,
                    ["name"] = requested.Name,
                    ["actions"] = new JsonArray(granted.Select(a => (JsonNode)a!).ToArray()),
                });
            }
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var signingKey = _signer.GetECDsaPrivateKey()!;
        var header = new JsonObject
        {
            ["typ"] = "JWT",
            ["alg"] = "ES256",
            ["x5c"] = new JsonArray(Convert.ToBase64String(_signer.RawData)),
        };
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = user ?? string.Empty,
            ["aud"] = Service,
            ["exp"] = now + 300,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(8)),
            ["access"] = access,
        };
        var signingInput = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        // JWS ES256 wants the raw r||s signature, which is .NET's default (IEEE P1363) format.
        var signature = signingKey.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256);
        return signingInput + "." + Base64Url(signature);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _server.Dispose();
        _signer.Dispose();
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (request.Url?.AbsolutePath != "/token")
        {
            await RespondAsync(response, 404, new JsonObject { ["error"] = "not found" }).ConfigureAwait(false);
            return;
        }

        string? service;
        List<string> scopes;
        string? user = null;
        bool authenticated;
        var offline = false;
        if (request.HttpMethod == "POST")
        {
            // OAuth2 form, as docker login --identity-token flows use it.
            using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
            var form = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync().ConfigureAwait(false));
            service = form["service"];
            scopes = (form["scope"] ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            offline = form["access_type"] == "offline";
            switch (form["grant_type"])
            {
                case "password":
                    user = form["username"];
                    authenticated = user is not null && Users.TryGetValue(user, out var pw) && pw == form["password"];
                    break;
                case "refresh_token":
                    authenticated = form["refresh_token"] is { } rt && _refreshTokens.TryGetValue(rt, out user);
                    break;
                default:
                    await RespondAsync(response, 400, new JsonObject { ["error"] = "unsupported_grant_type" }).ConfigureAwait(false);
                    _requests.Enqueue(new TokenRequest("POST", service, scopes, null, 400));
                    return;
            }

            if (!authenticated)
            {
                _requests.Enqueue(new TokenRequest("POST", service, scopes, null, 401));
                await RespondAsync(response, 401, new JsonObject { ["error"] = "invalid_grant" }).ConfigureAwait(false);
                return;
            }
        }
        else
        {
            service = request.QueryString["service"];
            scopes = request.QueryString.GetValues("scope")?.SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList() ?? [];
            offline = request.QueryString["offline_token"] == "true";
            var authorization = request.Headers["Authorization"];
            if (authorization is not null)
            {
                if (!TryBasic(authorization, out user, out var password) || !Users.TryGetValue(user, out var expected) || expected != password)
                {
                    _requests.Enqueue(new TokenRequest("GET", service, scopes, null, 401));
                    response.AddHeader("WWW-Authenticate", "Basic realm=\"ocikit-test\"");
                    await RespondAsync(response, 401, new JsonObject { ["details"] = "incorrect username or password" }).ConfigureAwait(false);
                    return;
                }
            }
        }

        if (service != Service)
        {
            _requests.Enqueue(new TokenRequest(request.HttpMethod, service, scopes, user, 400));
            await RespondAsync(response, 400, new JsonObject { ["details"] = $"unknown service '{service}'" }).ConfigureAwait(false);
            return;
        }

        var token = IssueToken(user, scopes);
        _issued.Enqueue(token);
        var body = new JsonObject
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = 300,
            ["issued_at"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        };
        if (offline && user is not null)
        {
            var refresh = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            _refreshTokens[refresh] = user;
            _issued.Enqueue(refresh);
            body["refresh_token"] = refresh;
        }

        _requests.Enqueue(new TokenRequest(request.HttpMethod, service, scopes, user, 200));
        await RespondAsync(response, 200, body).ConfigureAwait(false);
    }

    private static bool TryBasic(string header, out string user, out string password)
    {
        user = password = string.Empty;
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                return false;
            }

            user = decoded[..colon];
            password = decoded[(colon + 1)..];
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static async Task RespondAsync(HttpListenerResponse response, int status, JsonObject body)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        await JsonResponses.SendAsync(response, status, bytes).ConfigureAwait(false);
    }
}
