using System.Collections.Immutable;
using System.Net.Http.Headers;
using System.Text.Json;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>One repository a search found.</summary>
/// <param name="Name">The repository, for example <c>library/alpine</c> or <c>team/app</c>.</param>
/// <param name="Description">Its description (Docker Hub only).</param>
/// <param name="Stars">Its star count (Docker Hub only).</param>
/// <param name="IsOfficial">Whether it is a Docker Official Image (Docker Hub only).</param>
public sealed record SearchResult(string Name, string? Description = null, int? Stars = null, bool? IsOfficial = null);

/// <summary>
/// Searches a registry for repositories, as <c>docker search</c> does: Docker Hub through its search API
/// (<c>https://index.docker.io/v1/search</c>), any other registry by filtering its catalog
/// (<c>GET /v2/_catalog</c>, which not every registry offers).
/// </summary>
/// <param name="client">The registry client for catalogs.</param>
/// <param name="hubHandler">The HTTP handler for Docker Hub's search API; <see langword="null"/> for the default. Not disposed.</param>
public sealed class RegistrySearch(RegistryClient client, HttpMessageHandler? hubHandler = null)
{
    /// <summary>Docker Hub's search endpoint.</summary>
    public static readonly Uri DockerHubSearchUri = new("https://index.docker.io/v1/search");

    private const int MaxResponseBytes = 4 * 1024 * 1024;

    /// <summary>Splits <c>docker search</c>'s argument: <c>registry.example:5000/term</c> searches that registry, a bare term Docker Hub.</summary>
    /// <param name="query">The argument.</param>
    /// <returns>The registry and the term.</returns>
    /// <exception cref="ArgumentException">The query is empty.</exception>
    public static (string Registry, string Term) ParseQuery(string query)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var slash = query.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            var host = query[..slash];
            if (host.Contains('.', StringComparison.Ordinal) || host.Contains(':', StringComparison.Ordinal) || host == "localhost")
            {
                var registry = host is "index.docker.io" or "registry-1.docker.io" ? ImageReference.DockerHubRegistry : host;
                return (registry, query[(slash + 1)..]);
            }
        }

        return (ImageReference.DockerHubRegistry, query);
    }

    /// <summary>Searches a registry.</summary>
    /// <param name="registry">The registry, for example <c>docker.io</c> or <c>127.0.0.1:5000</c>.</param>
    /// <param name="term">The term: a repository name contains it (case-insensitive); an empty term lists the catalog.</param>
    /// <param name="limit">The most results to return.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The results, Docker Hub's in its order, a catalog's sorted by name.</returns>
    /// <exception cref="RegistryException">The registry failed or does not offer a catalog.</exception>
    /// <exception cref="OciFormatException">Docker Hub answered with something other than search results.</exception>
    public async Task<ImmutableArray<SearchResult>> SearchAsync(string registry, string term, int limit = 25, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        ArgumentNullException.ThrowIfNull(term);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (registry is ImageReference.DockerHubRegistry or "index.docker.io" or ImageReference.DockerHubApiHost)
        {
            return await SearchDockerHubAsync(term, limit, cancellationToken).ConfigureAwait(false);
        }

        var found = new List<SearchResult>();
        await foreach (var repository in client.ListRepositoriesAsync(registry, null, cancellationToken).ConfigureAwait(false))
        {
            if (repository.Contains(term, StringComparison.OrdinalIgnoreCase))
            {
                found.Add(new SearchResult(repository));
            }
        }

        return [.. found.OrderBy(static r => r.Name, StringComparer.Ordinal).Take(limit)];
    }

    private async Task<ImmutableArray<SearchResult>> SearchDockerHubAsync(string term, int limit, CancellationToken cancellationToken)
    {
        using var http = hubHandler is null ? new HttpClient() : new HttpClient(hubHandler, disposeHandler: false);
        http.Timeout = client.Options.RequestTimeout;
        var uri = new Uri($"{DockerHubSearchUri}?q={Uri.EscapeDataString(term)}&n={Math.Min(limit, 100)}");
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.UserAgent.TryParseAdd(client.Options.UserAgent);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw RegistryResponses.ToException(request, "Could not search Docker Hub", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await RegistryResponses.ToExceptionAsync(response, "Could not search Docker Hub", cancellationToken).ConfigureAwait(false);
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (bytes.Length > MaxResponseBytes)
            {
                throw new OciFormatException("Docker Hub search results", $"are larger than {MaxResponseBytes} bytes.");
            }

            try
            {
                using var json = JsonDocument.Parse(bytes);
                if (!json.RootElement.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array)
                {
                    throw new OciFormatException("Docker Hub search results", "have no 'results' array.");
                }

                return [.. results.EnumerateArray().Take(limit).Select(static r => new SearchResult(
                    r.GetProperty("name").GetString() ?? string.Empty,
                    r.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null,
                    r.TryGetProperty("star_count", out var s) && s.TryGetInt32(out var stars) ? stars : null,
                    r.TryGetProperty("is_official", out var o) && o.ValueKind is JsonValueKind.True or JsonValueKind.False ? o.GetBoolean() : null))];
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new OciFormatException("Docker Hub search results", $"are not valid: {e.Message}", e);
            }
        }
    }
}
