using System.Net;

namespace OciKit.Registry;

/// <summary>
/// Follows redirects of GET and HEAD requests (registries send blob downloads to object storage or a CDN). A redirect
/// to another host is followed without the <c>Authorization</c> header, so registry credentials never reach it; the
/// response's <see cref="HttpResponseMessage.RequestMessage"/> is the request last sent, so the authentication handler
/// can tell a redirect target's <c>401</c> (never answered with the registry's credentials) from the registry's.
/// </summary>
internal sealed class RedirectHandler : DelegatingHandler
{
    private const int MaxRedirects = 10;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var current = request;
        for (var i = 0; i < MaxRedirects && IsRedirect(response.StatusCode) && response.Headers.Location is { } location
            && (current.Method == HttpMethod.Get || current.Method == HttpMethod.Head); i++)
        {
            var target = location.IsAbsoluteUri ? location : new Uri(current.RequestUri!, location);
            if (target.Scheme != Uri.UriSchemeHttps && target.Scheme != Uri.UriSchemeHttp)
            {
                break;
            }

            var next = new HttpRequestMessage(current.Method, target) { Version = current.Version };
            foreach (var header in current.Headers)
            {
                if (header.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && !SameOrigin(request.RequestUri!, target))
                {
                    continue;
                }

                next.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            foreach (var option in current.Options)
            {
                ((IDictionary<string, object?>)next.Options)[option.Key] = option.Value;
            }

            response.Dispose();
            if (!ReferenceEquals(current, request))
            {
                current.Dispose();
            }

            current = next;
            response = await base.SendAsync(current, cancellationToken).ConfigureAwait(false);
        }

        // Who answered: the authentication handler above must not take a redirect target's 401 for the registry's.
        response.RequestMessage ??= current;
        return response;
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>Whether two URLs have the same scheme, host and port.</summary>
    internal static bool SameOrigin(Uri a, Uri b) => Uri.Compare(a, b, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
}
