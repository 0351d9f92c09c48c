using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.HarnessTests;

/// <summary>Proves the registry harness: each auth mode behaves as the real distribution server does.</summary>
public class RegistryServerTests
{
    [Fact]
    public async Task Anonymous_registry_answers_v2_with_200()
    {
        await using var registry = await RegistryServer.StartAnonymousAsync();
        using var client = registry.CreateHttpClient();
        using var response = await client.GetAsync("v2/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-Api-Version").Single());
        Assert.Equal("http", registry.BaseUri.Scheme);
    }

    [Fact]
    public async Task Basic_tls_registry_rejects_anonymous_and_accepts_credentials()
    {
        await using var registry = await RegistryServer.StartBasicTlsAsync();
        Assert.Equal("https", registry.BaseUri.Scheme);
        using var client = registry.CreateHttpClient();

        using (var anonymous = await client.GetAsync("v2/"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            var challenge = Assert.Single(anonymous.Headers.WwwAuthenticate);
            Assert.Equal("Basic", challenge.Scheme);
            Assert.Contains("realm=\"ocikit-test\"", challenge.Parameter, StringComparison.Ordinal);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "v2/"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("tester:wrong"u8.ToArray()));
            using var response = await client.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "v2/");
        request.Headers.Authorization = RegistryServer.BasicAuthorization();
        using var ok = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Basic_tls_registry_is_not_trusted_by_a_default_client()
    {
        await using var registry = await RegistryServer.StartBasicTlsAsync();
        using var client = new HttpClient { BaseAddress = registry.BaseUri };
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("v2/"));
    }

    [Fact]
    public async Task Token_registry_challenges_and_accepts_a_token_issued_for_the_scope()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var tokens = registry.TokenServer!;

        // skopeo, a real client, pushes through the Bearer flow with credentials.
        await BusyboxImage.PushAsync(registry, "team/busybox");
        Assert.Contains(tokens.Requests, r => r.User == RegistryServer.User && r.Status == 200
            && r.Scopes.Any(s => s.Contains("team/busybox", StringComparison.Ordinal) && s.Contains("push", StringComparison.Ordinal)));

        using var client = registry.CreateHttpClient();
        using var challenged = await client.GetAsync("v2/team/busybox/tags/list");
        Assert.Equal(HttpStatusCode.Unauthorized, challenged.StatusCode);
        var challenge = Assert.Single(challenged.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        var parameters = ParseChallenge(challenge.Parameter!);
        Assert.Equal(tokens.Realm, parameters["realm"]);
        Assert.Equal(RegistryServer.TokenService, parameters["service"]);
        Assert.Equal("repository:team/busybox:pull", parameters["scope"]);

        // Anonymous token request to the realm, as Docker Hub allows for pulls.
        using var tokenResponse = await client.GetAsync(new Uri($"{parameters["realm"]}?service={parameters["service"]}&scope={Uri.EscapeDataString(parameters["scope"])}"));
        Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
        using var json = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync());
        var token = json.RootElement.GetProperty("token").GetString();
        Assert.Equal(token, json.RootElement.GetProperty("access_token").GetString());
        Assert.Equal(300, json.RootElement.GetProperty("expires_in").GetInt32());

        using var authorized = new HttpRequestMessage(HttpMethod.Get, "v2/team/busybox/tags/list");
        authorized.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var listed = await client.SendAsync(authorized);
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.Contains("\"latest\"", await listed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_registry_refuses_a_token_for_another_scope_and_anonymous_push()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        using var client = registry.CreateHttpClient();

        var otherScope = registry.TokenServer!.IssueToken(null, ["repository:other/repo:pull"]);
        using var wrongScope = new HttpRequestMessage(HttpMethod.Get, "v2/team/app/tags/list");
        wrongScope.Headers.Authorization = new AuthenticationHeaderValue("Bearer", otherScope);
        using var refused = await client.SendAsync(wrongScope);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("insufficient_scope", refused.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);

        // An anonymous token asks for push but the policy grants only pull: starting an upload is refused.
        var pullOnly = registry.TokenServer.IssueToken(null, ["repository:team/app:pull,push"]);
        using var upload = new HttpRequestMessage(HttpMethod.Post, "v2/team/app/blobs/uploads/");
        upload.Headers.Authorization = new AuthenticationHeaderValue("Bearer", pullOnly);
        using var denied = await client.SendAsync(upload);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);

        // Wrong credentials at the realm are refused by the token server.
        using var badLogin = new HttpRequestMessage(HttpMethod.Get, new Uri($"{registry.TokenServer.Realm}?service={RegistryServer.TokenService}&scope=repository:team/app:push"));
        badLogin.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("tester:nope"u8.ToArray()));
        using var badLoginResponse = await client.SendAsync(badLogin);
        Assert.Equal(HttpStatusCode.Unauthorized, badLoginResponse.StatusCode);
    }

    [Fact]
    public async Task A_missing_tool_fails_with_a_message_naming_the_set_up()
    {
        var error = await Assert.ThrowsAsync<ToolFailedException>(() => Tool.RunAsync("ocikit-no-such-tool-xyz", []));
        Assert.Contains("ocikit-no-such-tool-xyz", error.Message, StringComparison.Ordinal);
        Assert.Contains("./test.sh", error.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> ParseChallenge(string parameter)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parameter.Split("\",", StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            result[part[..eq].Trim()] = part[(eq + 1)..].Trim().Trim('"');
        }

        return result;
    }
}

/// <summary>The OAuth2 POST flow of the token server (password grant, then refresh token), as Docker clients use it.</summary>
public class TokenServerOAuthTests
{
    [Fact]
    public async Task Password_grant_returns_a_refresh_token_that_later_yields_access_tokens()
    {
        await using var registry = await RegistryServer.StartTokenAsync();
        var realm = new Uri(registry.TokenServer!.Realm);
        using var client = new HttpClient();

        using var first = await client.PostAsync(realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["service"] = RegistryServer.TokenService, ["client_id"] = "ocikit-tests",
            ["access_type"] = "offline", ["username"] = RegistryServer.User, ["password"] = RegistryServer.Password,
            ["scope"] = "repository:team/app:pull,push",
        }));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var firstJson = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        var refresh = firstJson.RootElement.GetProperty("refresh_token").GetString()!;

        using var second = await client.PostAsync(realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["service"] = RegistryServer.TokenService, ["client_id"] = "ocikit-tests",
            ["refresh_token"] = refresh, ["scope"] = "repository:team/app:pull,push",
        }));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        using var secondJson = JsonDocument.Parse(await second.Content.ReadAsStringAsync());
        var token = secondJson.RootElement.GetProperty("access_token").GetString();

        // The registry accepts the refreshed token for a push-scoped request (starting an upload).
        using var registryClient = registry.CreateHttpClient();
        using var upload = new HttpRequestMessage(HttpMethod.Post, "v2/team/app/blobs/uploads/");
        upload.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var accepted = await registryClient.SendAsync(upload);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

        using var badRefresh = await client.PostAsync(realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["service"] = RegistryServer.TokenService, ["refresh_token"] = "forged",
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, badRefresh.StatusCode);
    }
}
