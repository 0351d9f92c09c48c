using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Web;
using OciKit.Auth;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>
/// The token scopes a cross-repository mount asks for, against a scripted token registry that grants exactly what is
/// asked and, like distribution, refuses a request whose token lacks one of the scopes it needs.
/// </summary>
public class MountScopeTests
{
    private static readonly Digest Blob = Digest.ComputeSha256("mounted layer"u8.ToArray());

    /// <summary>A token registry on <c>registry.test</c> with its realm on <c>auth.test</c>; the token lists its scopes.</summary>
    private sealed class TokenRegistry : HttpMessageHandler
    {
        public List<IReadOnlyList<string>> TokenRequests { get; } = [];

        public List<(string Method, string PathAndQuery, HttpStatusCode Status)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            HttpResponseMessage response;
            if (uri.Host == "auth.test")
            {
                var scopes = HttpUtility.ParseQueryString(uri.Query).GetValues("scope") ?? [];
                TokenRequests.Add(scopes);
                var token = "t." + Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join(' ', scopes)));
                response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent($$"""{"token":"{{token}}","expires_in":300}""") };
            }
            else
            {
                var needed = Needed(request.Method, uri);
                var granted = request.Headers.Authorization is { Scheme: "Bearer", Parameter: { } p }
                    ? Encoding.UTF8.GetString(Convert.FromBase64String(p[2..])).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(TokenScope.Parse).ToList()
                    : null;
                if (granted is null || !needed.All(n => granted.Any(g => g.Covers(n))))
                {
                    response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
                    var scope = needed.Count == 0 ? string.Empty : $",scope=\"{TokenScope.FormatList(needed)}\"";
                    response.Headers.WwwAuthenticate.Add(AuthenticationHeaderValue.Parse($"Bearer realm=\"https://auth.test/token\",service=\"registry.test\"{scope}"));
                }
                else
                {
                    response = Answer(request.Method, uri);
                }

                Requests.Add((request.Method.Method, uri.PathAndQuery, response.StatusCode));
            }

            response.RequestMessage = request;
            return Task.FromResult(response);
        }

        private static List<TokenScope> Needed(HttpMethod method, Uri uri)
        {
            var parts = uri.AbsolutePath.Split("/blobs/", 2);
            if (parts.Length < 2)
            {
                return [];
            }

            var repository = parts[0]["/v2/".Length..];
            var scopes = new List<TokenScope> { method == HttpMethod.Head || method == HttpMethod.Get ? TokenScope.ForRepository(repository, TokenScope.Pull) : TokenScope.ForRepository(repository, TokenScope.Pull, TokenScope.Push) };
            if (HttpUtility.ParseQueryString(uri.Query)["from"] is { } from)
            {
                scopes.Add(TokenScope.ForRepository(from, TokenScope.Pull));
            }

            return scopes;
        }

        private static HttpResponseMessage Answer(HttpMethod method, Uri uri)
        {
            if (method == HttpMethod.Head)
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new ByteArrayContent([]) };
            }

            if (method == HttpMethod.Post && uri.Query.Contains("mount=", StringComparison.Ordinal))
            {
                var created = new HttpResponseMessage(HttpStatusCode.Created) { Content = new ByteArrayContent([]) };
                created.Headers.Location = new Uri($"{uri.AbsolutePath.Replace("uploads/", string.Empty, StringComparison.Ordinal)}{Blob}", UriKind.Relative);
                return created;
            }

            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        }
    }

    [Fact]
    public async Task A_mount_asks_for_push_on_the_target_and_pull_on_the_source_in_one_token()
    {
        var registry = new TokenRegistry();
        using var client = new RegistryClient(new RegistryClientOptions
        {
            InnerHandler = registry,
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword("tester", "pw")),
            MaxRetries = 0,
        });
        var target = ImageReference.Parse("registry.test/team/app");

        var outcome = await client.UploadBlobAsync(
            target, new Descriptor(MediaTypes.OciLayer, Blob, 13), _ => throw new InvalidOperationException("a mounted blob is never read"), mountFrom: "base/busybox");

        Assert.Equal(BlobUploadOutcome.Mounted, outcome);
        Assert.Contains(registry.TokenRequests, scopes => scopes.Order(StringComparer.Ordinal).SequenceEqual(["repository:base/busybox:pull", "repository:team/app:pull,push"]));

        // The token was asked for before the mount was tried: the POST went out once and was not refused first.
        var mount = Assert.Single(registry.Requests, r => r.Method == "POST");
        Assert.Equal(HttpStatusCode.Created, mount.Status);
        Assert.Contains($"mount={Uri.EscapeDataString(Blob.ToString())}", mount.PathAndQuery, StringComparison.Ordinal);
        Assert.Contains("from=base%2Fbusybox", mount.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mounting_from_the_target_repository_itself_is_a_plain_upload_without_a_source_scope()
    {
        var registry = new TokenRegistry();
        using var client = new RegistryClient(new RegistryClientOptions { InnerHandler = registry, Credentials = null, MaxRetries = 0 });
        var target = ImageReference.Parse("registry.test/team/app");

        // The scripted registry opens no upload session (200, no Location): the client reports that, after asking.
        await Assert.ThrowsAsync<RegistryException>(() => client.UploadBlobAsync(
            target, new Descriptor(MediaTypes.OciLayer, Blob, 13), _ => throw new InvalidOperationException("not reached"), mountFrom: "team/app"));

        var post = Assert.Single(registry.Requests, r => r.Method == "POST" && r.Status != HttpStatusCode.Unauthorized);
        Assert.DoesNotContain("mount=", post.PathAndQuery, StringComparison.Ordinal);
        Assert.DoesNotContain(registry.TokenRequests, scopes => scopes.Any(s => s.Contains("base/", StringComparison.Ordinal) || s.Split(' ').Count(x => x.StartsWith("repository:", StringComparison.Ordinal)) > 1));
        Assert.Contains(registry.TokenRequests, scopes => scopes.SequenceEqual(["repository:team/app:pull,push"]));
    }
}
