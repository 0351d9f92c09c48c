using System.Net;
using System.Text;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

public class RegistrySearchTests
{
    /// <summary>Answers every request with one canned response and records what was asked; no network.</summary>
    private sealed class FakeHandler(HttpStatusCode status, string body) : HttpMessageHandler
    {
        public List<HttpRequestMessage> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request);
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json"), RequestMessage = request });
        }
    }

    private const string HubAnswer = """
        {"num_pages":1,"num_results":2,"page_size":25,"query":"alpine","results":[
          {"name":"alpine","description":"A minimal Docker image\nbased on Alpine","star_count":11000,"is_official":true,"is_automated":false},
          {"name":"someone/alpine-tools","description":"","star_count":3,"is_official":false}
        ]}
        """;

    [Theory]
    [InlineData("alpine", "docker.io", "alpine")]
    [InlineData("library/alpine", "docker.io", "library/alpine")]
    [InlineData("localhost:5000/team", "localhost:5000", "team")]
    [InlineData("registry.example/app", "registry.example", "app")]
    [InlineData("localhost/app", "localhost", "app")]
    [InlineData("index.docker.io/alpine", "docker.io", "alpine")]
    public void Queries_name_the_registry_as_docker_search_does(string query, string registry, string term) =>
        Assert.Equal((registry, term), RegistrySearch.ParseQuery(query));

    [Fact]
    public async Task Docker_hub_is_searched_through_its_search_api()
    {
        using var handler = new FakeHandler(HttpStatusCode.OK, HubAnswer);
        using var client = new RegistryClient(new RegistryClientOptions { InnerHandler = handler, Credentials = null });
        var results = await new RegistrySearch(client, handler).SearchAsync("docker.io", "alp ine", limit: 10);

        var request = Assert.Single(handler.Requests);
        Assert.Equal("https://index.docker.io/v1/search?q=alp%20ine&n=10", request.RequestUri!.AbsoluteUri);
        Assert.Equal(
            [new SearchResult("alpine", "A minimal Docker image\nbased on Alpine", 11000, true), new SearchResult("someone/alpine-tools", "", 3, false)],
            results.ToArray());
        Assert.Single(await new RegistrySearch(client, handler).SearchAsync("index.docker.io", "alpine", limit: 1));
    }

    [Fact]
    public async Task Docker_hub_errors_and_malformed_answers_are_typed()
    {
        using var client = new RegistryClient(new RegistryClientOptions { Credentials = null });
        using (var failing = new FakeHandler(HttpStatusCode.TooManyRequests, """{"message":"slow down"}"""))
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => new RegistrySearch(client, failing).SearchAsync("docker.io", "x"));
            Assert.Equal(HttpStatusCode.TooManyRequests, error.StatusCode);
        }

        using (var malformed = new FakeHandler(HttpStatusCode.OK, """{"results":"no"}"""))
        {
            await Assert.ThrowsAsync<OciFormatException>(() => new RegistrySearch(client, malformed).SearchAsync("docker.io", "x"));
        }

        using (var notJson = new FakeHandler(HttpStatusCode.OK, "<html>"))
        {
            await Assert.ThrowsAsync<OciFormatException>(() => new RegistrySearch(client, notJson).SearchAsync("docker.io", "x"));
        }

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => new RegistrySearch(client).SearchAsync("docker.io", "x", limit: 0));
    }

    [Fact]
    public async Task Other_registries_are_searched_through_their_catalog()
    {
        using var handler = new FakeHandler(HttpStatusCode.OK, """{"repositories":["base/busybox","team/app","team/busybox-tools"]}""");
        using var client = new RegistryClient(new RegistryClientOptions { InnerHandler = handler, Credentials = null });
        var results = await new RegistrySearch(client).SearchAsync("127.0.0.1:5000", "BUSY");
        Assert.Equal([new SearchResult("base/busybox"), new SearchResult("team/busybox-tools")], results.ToArray());
        Assert.Contains(handler.Requests, r => r.RequestUri!.AbsolutePath == "/v2/_catalog");
    }
}
