using System.Net;
using System.Text;
using OciKit.Build.Sources;
using OciKit.Primitives;

namespace OciKit.Tests.Build.Sources;

public sealed class RemoteSourceTests : IDisposable
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("remote content\n");
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("ocikit-url-");

    public void Dispose() => _scratch.Delete(recursive: true);

    private sealed class FakeHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<Uri> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request.RequestUri!);
            return Task.FromResult(answer(request));
        }
    }

    private static HttpResponseMessage Ok(byte[] body, DateTimeOffset? lastModified = null)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
        response.Content.Headers.LastModified = lastModified;
        // Content-Disposition is ignored, as BuildKit's frontend names the file from the URL path.
        response.Content.Headers.ContentDisposition = new System.Net.Http.Headers.ContentDispositionHeaderValue("attachment") { FileName = "other.bin" };
        return response;
    }

    [Fact]
    public async Task Downloads_into_scratch_named_after_the_url_path_with_its_last_modified_time()
    {
        var modified = new DateTimeOffset(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);
        using var handler = new FakeHandler(_ => Ok(Body, modified));

        var file = await RemoteSource.DownloadAsync(new Uri("https://example.test/files/my%20tool.tar.gz?token=abc"), null, _scratch.FullName, handler);

        Assert.Equal("my tool.tar.gz", file.FileName);
        Assert.Equal("my tool.tar.gz", Path.GetFileName(file.Path));
        Assert.StartsWith(_scratch.FullName, file.Path, StringComparison.Ordinal);
        Assert.Equal(Body, await File.ReadAllBytesAsync(file.Path));
        Assert.Equal(modified, file.LastModified);
        Assert.Single(Directory.GetFiles(_scratch.FullName, "*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("https://example.test/", RemoteSource.UnnamedFileName)]
    [InlineData("https://example.test", RemoteSource.UnnamedFileName)]
    [InlineData("https://example.test/dir/", "dir")]
    [InlineData("https://example.test/a/b.txt#frag", "b.txt")]
    [InlineData("https://example.test/a/%C3%A9t%C3%A9.txt", "été.txt")]
    public void The_file_name_is_the_last_segment_of_the_decoded_path(string url, string expected)
        => Assert.Equal(expected, RemoteSource.FileNameOf(new Uri(url)));

    [Fact]
    public async Task A_matching_checksum_is_accepted_and_a_wrong_one_leaves_nothing_behind()
    {
        using var handler = new FakeHandler(_ => Ok(Body));
        var good = Digest.ComputeSha256(Body);
        var file = await RemoteSource.DownloadAsync(new Uri("https://example.test/f"), good, _scratch.FullName, handler);
        Assert.True(File.Exists(file.Path));
        File.Delete(file.Path);
        foreach (var dir in Directory.GetDirectories(_scratch.FullName))
        {
            Directory.Delete(dir, recursive: true);
        }

        var wrong = Digest.ComputeSha256("something else"u8);
        var ex = await Assert.ThrowsAsync<DigestMismatchException>(() => RemoteSource.DownloadAsync(new Uri("https://example.test/f"), wrong, _scratch.FullName, handler));
        Assert.Equal(wrong, ex.Expected);
        Assert.Equal(good, ex.Actual);
        Assert.Empty(Directory.GetFileSystemEntries(_scratch.FullName));
    }

    [Fact]
    public async Task Sha512_checksums_are_verified_too()
    {
        using var handler = new FakeHandler(_ => Ok(Body));
        var sha512 = Digest.Parse("sha512:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA512.HashData(Body)));
        var file = await RemoteSource.DownloadAsync(new Uri("http://example.test/f"), sha512, _scratch.FullName, handler);
        Assert.Equal(Body, await File.ReadAllBytesAsync(file.Path));
    }

    [Fact]
    public async Task An_error_status_is_a_typed_error_without_credentials_or_query()
    {
        using var handler = new FakeHandler(_ => new HttpResponseMessage(HttpStatusCode.NotFound) { ReasonPhrase = "Not Found" });

        var ex = await Assert.ThrowsAsync<RemoteSourceException>(() => RemoteSource.DownloadAsync(new Uri("https://user:s3cret@example.test/x.bin?sig=t0ken"), null, _scratch.FullName, handler));

        Assert.Equal(HttpStatusCode.NotFound, ex.StatusCode);
        Assert.Contains("404", ex.Message, StringComparison.Ordinal);
        Assert.Contains("https://example.test/x.bin", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("t0ken", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_scratch.FullName));
    }

    [Fact]
    public async Task A_network_failure_is_a_typed_error()
    {
        using var handler = new FakeHandler(_ => throw new HttpRequestException("connection refused"));
        var ex = await Assert.ThrowsAsync<RemoteSourceException>(() => RemoteSource.DownloadAsync(new Uri("https://example.test/x"), null, _scratch.FullName, handler));
        Assert.IsType<HttpRequestException>(ex.InnerException);
    }

    [Theory]
    [InlineData("git://example.test/repo")]
    [InlineData("https://example.test/org/repo.git")]
    [InlineData("https://example.test/org/repo.git#main")]
    [InlineData("ssh://git@example.test/org/repo")]
    public async Task Git_urls_are_refused_before_any_request(string url)
    {
        using var handler = new FakeHandler(_ => Ok(Body));
        var ex = await Assert.ThrowsAsync<RemoteSourceException>(() => RemoteSource.DownloadAsync(new Uri(url), null, _scratch.FullName, handler));
        Assert.True(ex.IsGitSource);
        Assert.Contains("Git", ex.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
    }

    [Theory]
    [InlineData("git@github.com:org/repo.git", true)]
    [InlineData("github.com/org/repo", true)]
    [InlineData("https://example.test/a.tar.gz", false)]
    [InlineData("https://example.test/a.github", false)]
    [InlineData("local/file.git", false)]
    public void Git_urls_are_recognised_as_BuildKit_does(string source, bool expected)
        => Assert.Equal(expected, RemoteSource.IsGitUrl(source));

    [Fact]
    public async Task Other_schemes_are_refused()
    {
        using var handler = new FakeHandler(_ => Ok(Body));
        var ex = await Assert.ThrowsAsync<RemoteSourceException>(() => RemoteSource.DownloadAsync(new Uri("ftp://example.test/f"), null, _scratch.FullName, handler));
        Assert.False(ex.IsGitSource);
        Assert.Contains("ftp", ex.Message, StringComparison.Ordinal);
    }
}
