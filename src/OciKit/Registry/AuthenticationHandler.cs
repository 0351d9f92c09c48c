using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OciKit.Auth;
using OciKit.Primitives;

namespace OciKit.Registry;

/// <summary>
/// Challenge-driven registry authentication: anonymous first, then Basic or Bearer as the registry's
/// <c>WWW-Authenticate</c> asks. Bearer tokens are fetched from the realm as Docker Hub's auth service expects
/// (GET with <c>service</c> and <c>scope</c>, Basic credentials when there are some; POST with
/// <c>grant_type=refresh_token</c> for identity tokens), cached per registry and scope until they expire. The realm is
/// validated (HTTPS, or a loopback or explicitly insecure host) before any credential is sent to it.
/// </summary>
internal sealed class AuthenticationHandler : DelegatingHandler
{
    /// <summary>The scopes a request needs, set by the client on every registry request.</summary>
    public static readonly HttpRequestOptionsKey<IReadOnlyList<TokenScope>> ScopeKey = new("OciKit.Scopes");

    /// <summary>The registry (as written in references) a request goes to, for credential lookup.</summary>
    public static readonly HttpRequestOptionsKey<string> RegistryKey = new("OciKit.Registry");

    /// <summary>
    /// Set on the registry probe (<c>GET /v2/</c>): the request goes without credentials and a <c>401</c> is returned
    /// as it is (it shows a registry as well as a <c>200</c> does), its challenge only remembered so that the requests
    /// after it authorize at once. No credential, and no token fetched with one, is sent while the scheme is being
    /// settled; containers/image and go-containerregistry ping the same way.
    /// </summary>
    public static readonly HttpRequestOptionsKey<bool> ProbeKey = new("OciKit.Probe");

    private static readonly TimeSpan MinimumTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);
    private readonly RegistryClientOptions _options;

    public AuthenticationHandler(RegistryClientOptions options)
    {
        _options = options;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var host = request.RequestUri!.Authority;
        request.Options.TryGetValue(RegistryKey, out var registry);
        registry ??= host;
        request.Options.TryGetValue(ScopeKey, out var scopes);
        scopes ??= [];

        if (request.Options.TryGetValue(ProbeKey, out var probe) && probe)
        {
            var answer = ThrowIfRedirectTargetChallenges(await base.SendAsync(request, cancellationToken).ConfigureAwait(false), request, registry);
            if (answer.StatusCode == HttpStatusCode.Unauthorized && PickChallenge(answer) is { } seen)
            {
                _challenges[host] = seen;
            }

            return answer;
        }

        if (request.Headers.Authorization is null && _challenges.TryGetValue(host, out var known))
        {
            request.Headers.Authorization = await AuthorizeAsync(known, registry, scopes, refresh: false, cancellationToken).ConfigureAwait(false);
        }

        var response = ThrowIfRedirectTargetChallenges(await base.SendAsync(request, cancellationToken).ConfigureAwait(false), request, registry);
        if (response.StatusCode != HttpStatusCode.Unauthorized || request.Content is not (null or ByteArrayContent))
        {
            return response;
        }

        var challenge = PickChallenge(response);
        if (challenge is null)
        {
            return response;
        }

        if (challenge.IsBearer && challenge.Scope is { } asked && asked.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } items
            && items.All(item => TokenScope.TryParse(item, out _)))
        {
            // The registry names the scopes it wants, space-separated as distribution lists them (possibly wider, e.g.
            // after insufficient_scope, or a mount's source repository): ask for both.
            scopes = TokenScope.Merge([.. scopes, .. TokenScope.ParseList(asked)]);
        }

        var hadAuthorization = request.Headers.Authorization is not null;
        _challenges[host] = challenge;
        var authorization = await AuthorizeAsync(challenge, registry, scopes, refresh: true, cancellationToken).ConfigureAwait(false);
        if (authorization is null || (hadAuthorization && challenge.IsBasic))
        {
            // No credentials to offer, or Basic credentials were refused: the caller reports the 401.
            return response;
        }

        response.Dispose();
        request.Headers.Authorization = authorization;
        return ThrowIfRedirectTargetChallenges(await base.SendAsync(request, cancellationToken).ConfigureAwait(false), request, registry);
    }

    /// <summary>
    /// Fails a request whose <c>401</c> comes from the host a redirect sent it to (object storage, a CDN), not from
    /// the registry.
    /// </summary>
    /// <remarks>
    /// That challenge is the redirect target's, and its realm is that host's choice: answering it with the
    /// registry's credentials would hand the password to whoever the redirect named, and the token returned would then
    /// be sent to the registry. So it is never answered, not even anonymously, and the request fails with a
    /// <see cref="RegistryException"/> (401) naming the redirect host. go-containerregistry and containers/image
    /// behave alike: their transports authenticate only requests to the registry's own host, a redirect to another
    /// host goes without <c>Authorization</c>, and the distribution spec gives redirect targets no part in the
    /// registry's token authentication (a pre-signed URL carries its own authorization).
    /// </remarks>
    private static HttpResponseMessage ThrowIfRedirectTargetChallenges(HttpResponseMessage response, HttpRequestMessage request, string registry)
    {
        if (response.StatusCode != HttpStatusCode.Unauthorized
            || response.RequestMessage?.RequestUri is not { } answeredBy
            || RedirectHandler.SameOrigin(answeredBy, request.RequestUri!))
        {
            return response;
        }

        response.Dispose();
        throw new RegistryException(
            $"{registry} redirected the request to {answeredBy.Authority}, which asks for credentials; the registry's credentials are never sent to another host",
            request.Method.Method,
            answeredBy,
            HttpStatusCode.Unauthorized);
    }

    private static AuthChallenge? PickChallenge(HttpResponseMessage response)
    {
        var values = response.Headers.WwwAuthenticate.Select(h => h.ToString()).ToList();
        if (values.Count == 0 || !AuthChallenge.TryParse(string.Join(", ", values), out var challenges))
        {
            return null;
        }

        return challenges.FirstOrDefault(c => c.IsBearer) ?? challenges.FirstOrDefault(c => c.IsBasic);
    }

    private async Task<AuthenticationHeaderValue?> AuthorizeAsync(AuthChallenge challenge, string registry, IReadOnlyList<TokenScope> scopes, bool refresh, CancellationToken cancellationToken)
    {
        var credential = _options.Credentials is null ? null : await _options.Credentials(registry, cancellationToken).ConfigureAwait(false);
        if (challenge.IsBasic)
        {
            return credential is { Kind: RegistryCredentialKind.UsernamePassword }
                ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")))
                : null;
        }

        if (credential is { Kind: RegistryCredentialKind.RegistryToken })
        {
            return new AuthenticationHeaderValue("Bearer", credential.RegistryToken);
        }

        var key = registry + "|" + TokenScope.FormatList(scopes);
        if (!refresh && _tokens.TryGetValue(key, out var cached) && cached.ExpiresAt > DateTimeOffset.UtcNow)
        {
            return new AuthenticationHeaderValue("Bearer", cached.Token);
        }

        var token = await FetchTokenAsync(challenge, registry, scopes, credential, cancellationToken).ConfigureAwait(false);
        _tokens[key] = token;
        return new AuthenticationHeaderValue("Bearer", token.Token);
    }

    private async Task<CachedToken> FetchTokenAsync(AuthChallenge challenge, string registry, IReadOnlyList<TokenScope> scopes, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        if (challenge.Realm is not { } realmText || !Uri.TryCreate(realmText, UriKind.Absolute, out var realm))
        {
            throw new RegistryAuthenticationException(registry, "the registry's Bearer challenge has no valid realm");
        }

        if (realm.Scheme != Uri.UriSchemeHttps && !(realm.Scheme == Uri.UriSchemeHttp && RegistryEndpoints.MayUsePlainHttp(realm.Authority, _options)))
        {
            throw new RegistryAuthenticationException(registry, $"the token realm {RegistryException.Redact(realm)} is not HTTPS; credentials are not sent to it");
        }

        HttpRequestMessage request;
        if (credential is { Kind: RegistryCredentialKind.IdentityToken })
        {
            var form = new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = credential.IdentityToken!,
                ["client_id"] = "ocikit",
            };
            if (challenge.Service is { } service)
            {
                form["service"] = service;
            }

            if (scopes.Count > 0)
            {
                form["scope"] = TokenScope.FormatList(scopes);
            }

            request = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        }
        else
        {
            var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] : string.Empty);
            if (challenge.Service is { } service)
            {
                Append(query, "service", service);
            }

            foreach (var scope in scopes)
            {
                Append(query, "scope", scope.ToString());
            }

            var builder = new UriBuilder(realm) { Query = query.ToString() };
            request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            if (credential is { Kind: RegistryCredentialKind.UsernamePassword })
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));
            }
        }

        using (request)
        {
            HttpResponseMessage response;
            try
            {
                response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw RegistryResponses.ToException(request, $"Could not get a token for {registry}", ex);
            }

            using (response)
            {
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    throw new RegistryAuthenticationException(registry, credential is null
                        ? "the token service refused anonymous access"
                        : "the token service refused the credentials");
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw await RegistryResponses.ToExceptionAsync(response, $"The token service for {registry} failed", cancellationToken).ConfigureAwait(false);
                }

                return await ParseTokenAsync(response, registry, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task<CachedToken> ParseTokenAsync(HttpResponseMessage response, string registry, CancellationToken cancellationToken)
    {
        try
        {
            var body = await RegistryResponses.ReadLimitedAsync(response, RegistryResponses.MaxTokenBody, $"token service's answer for {registry}", cancellationToken).ConfigureAwait(false);
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var token = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
                : root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            if (string.IsNullOrEmpty(token))
            {
                throw new RegistryAuthenticationException(registry, "the token service answered without a token");
            }

            var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0
                ? TimeSpan.FromSeconds(seconds)
                : MinimumTokenLifetime;
            if (lifetime < MinimumTokenLifetime)
            {
                lifetime = MinimumTokenLifetime;
            }

            // Renew a little early so a token never expires in flight.
            return new CachedToken(token, DateTimeOffset.UtcNow + lifetime - TimeSpan.FromSeconds(10));
        }
        catch (JsonException ex)
        {
            throw new RegistryAuthenticationException(registry, "the token service's answer is not JSON", ex);
        }
    }

    private static void Append(StringBuilder query, string key, string value)
    {
        if (query.Length > 0)
        {
            query.Append('&');
        }

        query.Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value));
    }

    private sealed record CachedToken(string Token, DateTimeOffset ExpiresAt);
}
