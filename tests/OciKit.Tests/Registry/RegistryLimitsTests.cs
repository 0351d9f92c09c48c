using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OciKit.Auth;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Tests.Registry;

/// <summary>Every JSON answer a registry or token service sends is read up to a documented size, never whole.</summary>
public sealed class RegistryLimitsTests : IDisposable
{
    private const string Password = "limits-Secret-pa55";
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-limits-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A body of <c>length</c> bytes of JSON-looking filler generated as it is read, counting what was read.</summary>
    private sealed class EndlessJson(long length) : Stream
    {
        private long _position;

        public long Served => _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, n).Fill((byte)' ');
            if (_position == 0 && n > 0)
            {
                buffer[offset] = (byte)'{';
            }

            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A registry at https://registry.test: answers /v2/ and delegates the rest.</summary>
    private sealed class StubRegistry(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = request.RequestUri!.AbsolutePath == "/v2/" ? new HttpResponseMessage(HttpStatusCode.OK) : answer(request);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }

    private static HttpResponseMessage Streamed(Stream body, bool announceLength)
    {
        var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (announceLength)
        {
            content.Headers.ContentLength = body.Length;
        }

        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private static RegistryClient Client(HttpMessageHandler inner) => new(new RegistryClientOptions
    {
        InnerHandler = inner,
        MaxRetries = 0,
        Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(RegistryCredential.FromUsernamePassword("bob", Password)),
    });

    [Fact]
    public async Task A_token_answer_is_read_up_to_1_MiB_and_no_further()
    {
        var body = new EndlessJson(2L * 1024 * 1024);
        using var client = Client(new StubRegistry(request => request.RequestUri!.Host switch
        {
            "auth.test" => Streamed(body, announceLength: false),
            _ => new HttpResponseMessage(HttpStatusCode.Unauthorized)
            {
                Headers = { WwwAuthenticate = { AuthenticationHeaderValue.Parse("Bearer realm=\"https://auth.test/token?secret=q\",service=\"svc\"") } },
            },
        }));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse("registry.test/app:1")));

        Assert.Contains("token service", error.Message, StringComparison.Ordinal);
        Assert.Contains("1048576", error.Message, StringComparison.Ordinal);
        Assert.Equal("https://auth.test/token", error.Url);
        Assert.DoesNotContain("secret=q", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        Assert.InRange(body.Served, RegistryResponses.MaxTokenBody, RegistryResponses.MaxTokenBody + (128 * 1024));
    }

    [Fact]
    public async Task A_tag_list_page_is_read_up_to_its_cap_and_no_further()
    {
        var body = new EndlessJson(RegistryResponses.MaxListPage + (2L * 1024 * 1024));
        using var client = Client(new StubRegistry(_ => Streamed(body, announceLength: false)));

        var error = await Assert.ThrowsAsync<RegistryException>(async () =>
        {
            await foreach (var _ in client.ListTagsAsync(ImageReference.Parse("registry.test/app")))
            {
            }
        });

        Assert.Contains("tags list", error.Message, StringComparison.Ordinal);
        Assert.Contains(RegistryResponses.MaxListPage.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.Equal("https://registry.test/v2/app/tags/list", error.Url);
        Assert.InRange(body.Served, RegistryResponses.MaxListPage, RegistryResponses.MaxListPage + (128 * 1024));
    }

    [Fact]
    public async Task An_announced_oversized_catalog_page_is_refused_before_reading()
    {
        var body = new EndlessJson(RegistryResponses.MaxListPage + 1);
        using var client = Client(new StubRegistry(_ =>
        {
            var response = Streamed(body, announceLength: false);
            response.Content.Headers.ContentLength = RegistryResponses.MaxListPage + 1L;
            return response;
        }));

        var error = await Assert.ThrowsAsync<RegistryException>(async () =>
        {
            await foreach (var _ in client.ListRepositoriesAsync("registry.test"))
            {
            }
        });

        Assert.Contains("repositories list", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, body.Served);
    }

    [Fact]
    public async Task A_referrers_index_is_bounded_by_the_manifest_limit()
    {
        var body = new EndlessJson(ManifestDocument.MaxSize + (1L * 1024 * 1024));
        using var client = Client(new StubRegistry(_ => Streamed(body, announceLength: false)));

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetReferrersAsync(ImageReference.Parse("registry.test/app"), Digest.ComputeSha256("x"u8)));

        Assert.Contains("referrers index", error.Message, StringComparison.Ordinal);
        Assert.InRange(body.Served, ManifestDocument.MaxSize, ManifestDocument.MaxSize + (128 * 1024));
    }

    [Fact]
    public async Task A_manifest_over_the_one_limit_is_a_registry_error_and_nothing_is_stored()
    {
        Assert.Equal(4 * 1024 * 1024, ManifestDocument.MaxSize);
        Assert.Equal(ManifestDocument.MaxSize, RegistryClient.MaxManifestSize);
        var body = new EndlessJson(ManifestDocument.MaxSize + 1L);
        using var client = Client(new StubRegistry(_ =>
        {
            var response = Streamed(body, announceLength: false);
            response.Content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciManifest);
            return response;
        }));
        var store = await OciLayout.OpenAsync(Path.Combine(_dir, "store"));
        var reference = ImageReference.Parse("registry.test/app:big");

        var error = await Assert.ThrowsAsync<RegistryException>(() => new ImageTransfer(client).PullAsync(reference, store));

        Assert.Contains("manifest registry.test/app:big", error.Message, StringComparison.Ordinal);
        Assert.Contains("4194304", error.Message, StringComparison.Ordinal);
        Assert.Empty(await store.ListImagesAsync());
        var blobs = Path.Combine(_dir, "store", "blobs");
        Assert.False(Directory.Exists(blobs) && Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task The_store_refuses_to_write_a_manifest_it_could_not_read_back()
    {
        var store = await OciLayout.OpenAsync(Path.Combine(_dir, "store"));
        var padding = new string(' ', ManifestDocument.MaxSize);
        var bytes = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[]{{padding}}}""");
        var document = ManifestDocument.Parse(bytes, MediaTypes.OciIndex);

        await Assert.ThrowsAsync<OciFormatException>(() => store.WriteManifestAsync(document));

        Assert.False(store.ContainsBlob(document.Digest));
    }
}
