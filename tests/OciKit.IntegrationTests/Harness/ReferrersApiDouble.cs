using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace OciKit.IntegrationTests.Harness;

/// <summary>How a <see cref="ReferrersApiDouble"/> answers the referrers endpoint.</summary>
public enum ReferrersApiMode
{
    /// <summary>As a registry implementing the API that applies the <c>artifactType</c> filter and says so in <c>OCI-Filters-Applied</c>.</summary>
    Filtering,

    /// <summary>As a registry implementing the API without filtering: every referrer, no <c>OCI-Filters-Applied</c> header.</summary>
    Unfiltered,

    /// <summary>As a registry without the API (docker-registry 2.8, for one): <c>404</c>.</summary>
    NotImplemented,

    /// <summary>A <c>400</c> with a spec error body, as a registry answers a request it finds invalid.</summary>
    BadRequest,
}

/// <summary>One request the double saw.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="PathAndQuery">Path and query.</param>
/// <param name="AnsweredItself">Whether the double answered it (the referrers endpoint) rather than forwarding it.</param>
public sealed record ReferrersApiRequest(string Method, string PathAndQuery, bool AnsweredItself);

/// <summary>
/// A TEST DOUBLE, not a registry: a loopback HTTP front for a real registry (Debian's docker-registry 2.8, which lacks
/// the OCI 1.1 referrers API) that speaks only the distribution-spec referrers endpoint itself —
/// <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;[?artifactType=…]</c> answered with an OCI image index of the
/// descriptors given to <see cref="Add"/> (content type <c>application/vnd.oci.image.index.v1+json</c>, an empty index
/// for an unknown subject, and with <c>OCI-Filters-Applied: artifactType</c> when it filtered), as
/// ../shared/conformance/distribution-spec describes the endpoint (end-12a/b). Every other <c>GET</c> and
/// <c>HEAD</c> is forwarded unchanged to the registry behind it, so the referrers tag schema fallback
/// (<c>sha256-&lt;hex&gt;</c> tags) reads the real registry; writes go to the registry directly. It records every
/// request before answering or forwarding it.
/// </summary>
public sealed class ReferrersApiDouble : IDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromMinutes(1) };
    private readonly Uri _registry;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<JsonObject>> _referrers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ReferrersApiRequest> _requests = new();

    /// <summary>Starts the double on a free loopback port in front of <paramref name="registry"/> (an http registry).</summary>
    public ReferrersApiDouble(Uri registry, ReferrersApiMode mode)
    {
        _registry = registry;
        Mode = mode;
        _server = new LoopbackHttpServer(HandleAsync, concurrent: true);
    }

    /// <summary>How the referrers endpoint answers; may be changed between requests.</summary>
    public ReferrersApiMode Mode { get; set; }

    /// <summary>The port.</summary>
    public int Port => _server.Port;

    /// <summary><c>127.0.0.1:PORT</c>, to use as the registry in references.</summary>
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Every request seen so far, in arrival order.</summary>
    public IReadOnlyList<ReferrersApiRequest> Requests => _requests.ToArray();

    /// <summary>Lists a referrer of <paramref name="subject"/> (a digest) in <paramref name="repository"/>.</summary>
    public void Add(string repository, string subject, string mediaType, string digest, long size, string? artifactType)
    {
        var descriptor = new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };
        if (artifactType is not null)
        {
            descriptor["artifactType"] = artifactType;
        }

        _referrers.GetOrAdd($"{repository}@{subject}", _ => new ConcurrentQueue<JsonObject>()).Enqueue(descriptor);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _server.Dispose();
        _upstream.Dispose();
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var path = request.Url!.AbsolutePath;
        var marker = path.LastIndexOf("/referrers/", StringComparison.Ordinal);
        var isReferrers = request.HttpMethod == "GET" && path.StartsWith("/v2/", StringComparison.Ordinal) && marker > "/v2".Length;
        _requests.Enqueue(new ReferrersApiRequest(request.HttpMethod, request.Url.PathAndQuery, isReferrers));
        if (isReferrers)
        {
            await AnswerReferrersAsync(context.Response, path["/v2/".Length..marker], path[(marker + "/referrers/".Length)..], request.QueryString["artifactType"]).ConfigureAwait(false);
            return;
        }

        if (request.HttpMethod is not ("GET" or "HEAD"))
        {
            await JsonResponses.SendAsync(context.Response, 405, Encoding.UTF8.GetBytes("""{"errors":[{"code":"UNSUPPORTED","message":"the referrers API double forwards only GET and HEAD"}]}""")).ConfigureAwait(false);
            return;
        }

        using var forwarded = new HttpRequestMessage(new HttpMethod(request.HttpMethod), new Uri(_registry, request.Url.PathAndQuery));
        foreach (var name in new[] { "Accept", "Authorization", "Range" })
        {
            if (request.Headers.GetValues(name) is { } values)
            {
                forwarded.Headers.TryAddWithoutValidation(name, values);
            }
        }

        using var answer = await _upstream.SendAsync(forwarded, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        var response = context.Response;
        response.StatusCode = (int)answer.StatusCode;
        foreach (var header in answer.Headers.Concat(answer.Content.Headers))
        {
            if (header.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                response.ContentType = header.Value.First();
            }
            else if (header.Key is not ("Content-Length" or "Transfer-Encoding" or "Connection"))
            {
                response.AddHeader(header.Key, string.Join(", ", header.Value).Replace(_registry.Authority, Host, StringComparison.Ordinal));
            }
        }

        if (answer.Content.Headers.ContentLength is { } length)
        {
            response.ContentLength64 = length;
        }

        if (request.HttpMethod == "GET")
        {
            await using var body = await answer.Content.ReadAsStreamAsync().ConfigureAwait(false);
            await body.CopyToAsync(response.OutputStream).ConfigureAwait(false);
        }

        response.Close();
    }

    private async Task AnswerReferrersAsync(HttpListenerResponse response, string repository, string subject, string? artifactType)
    {
        switch (Mode)
        {
            case ReferrersApiMode.NotImplemented:
                await JsonResponses.SendAsync(response, 404, Encoding.UTF8.GetBytes("404 page not found\n")).ConfigureAwait(false);
                return;
            case ReferrersApiMode.BadRequest:
                await JsonResponses.SendAsync(response, 400, Encoding.UTF8.GetBytes("""{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}""")).ConfigureAwait(false);
                return;
        }

        var filter = Mode == ReferrersApiMode.Filtering && artifactType is not null;
        var manifests = new JsonArray();
        foreach (var descriptor in _referrers.TryGetValue($"{repository}@{subject}", out var list) ? list : [])
        {
            if (!filter || descriptor["artifactType"]?.GetValue<string>() == artifactType)
            {
                manifests.Add(descriptor.DeepClone());
            }
        }

        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = "application/vnd.oci.image.index.v1+json", ["manifests"] = manifests };
        var bytes = Encoding.UTF8.GetBytes(index.ToJsonString());
        response.StatusCode = 200;
        if (filter)
        {
            response.AddHeader("OCI-Filters-Applied", "artifactType");
        }

        response.ContentType = "application/vnd.oci.image.index.v1+json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        response.Close();
    }
}
