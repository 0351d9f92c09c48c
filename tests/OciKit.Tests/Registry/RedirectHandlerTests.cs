using System.Net;
using System.Net.Http.Headers;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>The redirect handler alone, against a scripted inner handler (no network).</summary>
public class RedirectHandlerTests
{
    private const string Secret = "Bearer registry-token-s3cret";

    /// <summary>Answers by URL and records every request with its Authorization header.</summary>
    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<(HttpMethod Method, Uri Uri, string? Authorization)> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Seen.Add((request.Method, request.RequestUri!, request.Headers.Authorization?.ToString()));
            return Task.FromResult(answer(request));
        }
    }

    private static HttpResponseMessage Redirect(string location, HttpStatusCode status = HttpStatusCode.TemporaryRedirect)
        => new(status) { Headers = { Location = new Uri(location, UriKind.RelativeOrAbsolute) } };

    private static HttpMessageInvoker Chain(ScriptedHandler inner) => new(new RedirectHandler { InnerHandler = inner });

    private static HttpRequestMessage Request(HttpMethod method, string url)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(Secret);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream"));
        return request;
    }

    [Theory]
    [InlineData("https://cdn.test/blob/1")] // another host
    [InlineData("https://registry.test:8443/blob/1")] // another port
    [InlineData("http://registry.test/blob/1")] // another scheme
    public async Task A_cross_origin_redirect_drops_the_authorization(string target)
    {
        var inner = new ScriptedHandler(r => r.RequestUri!.AbsolutePath.StartsWith("/v2/", StringComparison.Ordinal)
            ? Redirect(target)
            : new HttpResponseMessage(HttpStatusCode.OK));
        using var request = Request(HttpMethod.Get, "https://registry.test/v2/app/blobs/sha256:1");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Seen.Count);
        Assert.Equal(Secret, inner.Seen[0].Authorization);
        Assert.Equal(new Uri(target), inner.Seen[1].Uri);
        Assert.Null(inner.Seen[1].Authorization);

        // Who answered: the redirect target, so the authentication handler never takes its 401 for the registry's.
        Assert.Equal(new Uri(target), response.RequestMessage!.RequestUri);
        Assert.Equal("application/octet-stream", response.RequestMessage.Headers.Accept.Single().MediaType);
    }

    [Fact]
    public async Task A_same_origin_redirect_keeps_the_authorization()
    {
        var inner = new ScriptedHandler(r => r.RequestUri!.AbsolutePath == "/v2/app/blobs/sha256:1"
            ? Redirect("/v2/app/elsewhere", HttpStatusCode.Found)
            : new HttpResponseMessage(HttpStatusCode.OK));
        using var request = Request(HttpMethod.Get, "https://registry.test/v2/app/blobs/sha256:1");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new Uri("https://registry.test/v2/app/elsewhere"), inner.Seen[1].Uri);
        Assert.Equal(Secret, inner.Seen[1].Authorization);
    }

    [Fact]
    public async Task Credentials_dropped_for_another_host_are_not_sent_again_after_it()
    {
        // A hop through another host ends the credential's journey, even when the chain comes back to the registry.
        var inner = new ScriptedHandler(r => r.RequestUri!.Host switch
        {
            "registry.test" when r.RequestUri.AbsolutePath == "/v2/start" => Redirect("https://cdn.test/hop"),
            "cdn.test" => Redirect("https://registry.test/v2/end"),
            _ => new HttpResponseMessage(HttpStatusCode.OK),
        });
        using var request = Request(HttpMethod.Get, "https://registry.test/v2/start");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new string?[] { Secret, null, null }, inner.Seen.Select(s => s.Authorization));
    }

    [Fact]
    public async Task Redirects_are_followed_at_most_ten_times()
    {
        var inner = new ScriptedHandler(r => Redirect($"https://registry.test/hop/{int.Parse(r.RequestUri!.Segments[^1], System.Globalization.CultureInfo.InvariantCulture) + 1}"));
        using var request = Request(HttpMethod.Get, "https://registry.test/hop/0");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        // The first request and ten redirects; the eleventh redirect is returned as it is.
        Assert.Equal(11, inner.Seen.Count);
        Assert.Equal(HttpStatusCode.TemporaryRedirect, response.StatusCode);
        Assert.Equal(new Uri("https://registry.test/hop/11"), response.Headers.Location);
    }

    [Theory]
    [InlineData("PUT")]
    [InlineData("POST")]
    [InlineData("PATCH")]
    [InlineData("DELETE")]
    public async Task Other_methods_than_get_and_head_are_not_followed(string method)
    {
        var inner = new ScriptedHandler(_ => Redirect("https://cdn.test/elsewhere"));
        using var request = Request(new HttpMethod(method), "https://registry.test/v2/app/blobs/uploads/1");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.TemporaryRedirect, response.StatusCode);
        Assert.Single(inner.Seen);
    }

    [Fact]
    public async Task Head_is_followed()
    {
        var inner = new ScriptedHandler(r => r.RequestUri!.Host == "registry.test" ? Redirect("https://cdn.test/blob", HttpStatusCode.SeeOther) : new HttpResponseMessage(HttpStatusCode.OK));
        using var request = Request(HttpMethod.Head, "https://registry.test/v2/app/blobs/sha256:1");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([HttpMethod.Head, HttpMethod.Head], inner.Seen.Select(s => s.Method));
    }

    [Fact]
    public async Task A_redirect_to_another_scheme_than_http_is_not_followed()
    {
        var inner = new ScriptedHandler(_ => Redirect("ftp://cdn.test/blob"));
        using var request = Request(HttpMethod.Get, "https://registry.test/v2/app/blobs/sha256:1");

        using var response = await Chain(inner).SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.TemporaryRedirect, response.StatusCode);
        Assert.Single(inner.Seen);
    }
}
