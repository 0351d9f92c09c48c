using System.Net;

namespace OciKit.IntegrationTests.Harness;

/// <summary>The one way the harness's small HTTP servers (token server, fault proxy) answer with a JSON body.</summary>
internal static class JsonResponses
{
    /// <summary>Sends <paramref name="utf8Json"/> with the status and extra headers, and closes the response.</summary>
    public static async Task SendAsync(HttpListenerResponse response, int status, byte[] utf8Json, IReadOnlyDictionary<string, string>? headers = null)
    {
        response.StatusCode = status;
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            response.AddHeader(name, value);
        }

        response.ContentType = "application/json";
        response.ContentLength64 = utf8Json.Length;
        await response.OutputStream.WriteAsync(utf8Json).ConfigureAwait(false);
        response.Close();
    }
}
