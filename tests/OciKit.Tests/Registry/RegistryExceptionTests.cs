using System.Net;
using System.Text;
using OciKit.Registry;

namespace OciKit.Tests.Registry;

/// <summary>What a <see cref="RegistryException"/> may quote: redacted URLs, and at most 1 KiB of redacted registry error text.</summary>
public class RegistryExceptionTests
{
    private const string Token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0ZXN0ZXIifQ.c2lnbmF0dXJlLXNlY3JldA";
    private const string Opaque = "opaque-Secret-t0ken-value";
    private const string Basic = "dGVzdGVyOnMzY3JldC1QYTU1d29yZCE=";

    [Theory]
    [InlineData("https://registry.test/v2/app/blobs/uploads/5f2c?_state=c2VjcmV0LXN0YXRl&digest=sha256:abc", "https://registry.test/v2/app/blobs/uploads/5f2c")]
    [InlineData("https://bucket.s3.amazonaws.com/blob/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=deadbeefcafe", "https://bucket.s3.amazonaws.com/blob/data")]
    [InlineData("https://user:pa55@registry.test:5000/v2/", "https://registry.test:5000/v2/")]
    [InlineData("http://registry.test/v2/app/manifests/1#fragment-secret", "http://registry.test/v2/app/manifests/1")]
    [InlineData("https://cdn.test/blob?sig=xyz&se=2030", "https://cdn.test/blob")]
    public void Redact_keeps_scheme_host_port_and_path_only(string url, string expected)
    {
        Assert.Equal(expected, RegistryException.Redact(new Uri(url)));
    }

    [Fact]
    public void Redact_drops_the_query_of_a_relative_url_and_passes_null_through()
    {
        Assert.Equal("/v2/app/blobs/uploads/5f2c", RegistryException.Redact(new Uri("/v2/app/blobs/uploads/5f2c?_state=abc", UriKind.Relative)));
        Assert.Null(RegistryException.Redact(null));
    }

    [Fact]
    public void The_exception_stores_and_names_only_the_redacted_url()
    {
        var url = new Uri("https://user:pa55word@registry.test/v2/app/blobs/uploads/5f2c?_state=c2VjcmV0LXN0YXRl&X-Amz-Signature=deadbeef");
        var error = new RegistryException("Could not upload", "PUT", url, HttpStatusCode.BadRequest);

        Assert.Equal("https://registry.test/v2/app/blobs/uploads/5f2c", error.Url);
        Assert.Contains("https://registry.test/v2/app/blobs/uploads/5f2c", error.Message, StringComparison.Ordinal);
        foreach (var secret in new[] { "pa55word", "_state", "c2VjcmV0LXN0YXRl", "deadbeef", "user:" })
        {
            Assert.DoesNotContain(secret, error.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("authorization header was Bearer " + Token, "Bearer [redacted]")]
    [InlineData("Authorization: bearer " + Opaque, "bearer [redacted]")]
    [InlineData("got Authorization: Basic " + Basic + " for tester", "Basic [redacted]")]
    [InlineData("token " + Token + " has expired", "token [redacted] has expired")]
    [InlineData("{\"access_token\":\"" + Opaque + "\"}", "\"access_token\":\"[redacted]\"")]
    [InlineData("refresh_token=" + Opaque + "&x=1", "refresh_token=[redacted]")]
    [InlineData("password: " + Opaque, "password: [redacted]")]
    [InlineData("see https://auth.test/token?account=x&password=" + Opaque + " for details", "see https://auth.test/token for details")]
    [InlineData("upload https://tester:" + Opaque + "@registry.test/v2/a/blobs/uploads/1?_state=abc failed", "upload https://registry.test/v2/a/blobs/uploads/1 failed")]
    public void RedactText_removes_credentials_tokens_and_url_queries(string text, string expected)
    {
        var redacted = RegistryException.RedactText(text);

        Assert.Contains(expected, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain(Opaque, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain(Basic, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("_state", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void RedactText_leaves_ordinary_error_text_alone()
    {
        const string text = "blob unknown to registry: sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        Assert.Equal(text, RegistryException.RedactText(text));
    }

    [Fact]
    public async Task A_registry_echoing_the_authorization_header_in_its_error_body_does_not_leak_it()
    {
        var body = $$$"""
            {"errors":[{"code":"DENIED","message":"requested access to the resource is denied (Authorization: Bearer {{{Token}}})",
            "detail":{"Authorization":["Basic {{{Basic}}}"],"url":"https://registry.test/v2/app/blobs/uploads/1?_state={{{Opaque}}}","refresh_token":"{{{Opaque}}}"}}]}
            """;
        var error = await ErrorFromAsync(HttpStatusCode.Forbidden, body);

        var denied = Assert.Single(error.Errors);
        Assert.Equal("DENIED", denied.Code);
        Assert.Contains("requested access to the resource is denied", error.Message, StringComparison.Ordinal);
        Assert.Contains("Bearer [redacted]", error.Message, StringComparison.Ordinal);
        foreach (var text in new[] { error.Message, error.ToString(), denied.Message!, denied.Detail! })
        {
            Assert.DoesNotContain(Token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Basic, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Opaque, text, StringComparison.Ordinal);
        }

        Assert.Contains("https://registry.test/v2/app/blobs/uploads/1", denied.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task At_most_1_KiB_of_the_registrys_error_text_goes_into_the_message()
    {
        // Ten errors with 500-character messages: 5000 characters of registry text in all.
        var errors = string.Join(",", Enumerable.Range(0, 10).Select(i => $$"""{"code":"UNKNOWN","message":"{{i}}{{new string('x', 499)}}"}"""));
        var error = await ErrorFromAsync(HttpStatusCode.BadRequest, $$"""{"errors":[{{errors}}]}""");

        Assert.Equal(10, error.Errors.Length);
        var quoted = error.Message[(error.Message.IndexOf("): ", StringComparison.Ordinal) + 3)..];
        Assert.Equal(RegistryException.MaxErrorText + 1, quoted.Length);
        Assert.EndsWith("…", quoted, StringComparison.Ordinal);
        Assert.StartsWith("UNKNOWN: 0xxx", quoted, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_long_error_message_is_cut_to_512_characters()
    {
        var error = await ErrorFromAsync(HttpStatusCode.BadRequest, $$"""{"errors":[{"code":"UNKNOWN","message":"{{new string('y', 5000)}}"}]}""");

        Assert.Equal(new string('y', 512) + "…", Assert.Single(error.Errors).Message);
        Assert.True(error.Message.Length < 1024, error.Message);
    }

    private static async Task<RegistryException> ErrorFromAsync(HttpStatusCode status, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://registry.test/v2/app/blobs/uploads/?mount=sha256:abc&from=other");
        using var response = new HttpResponseMessage(status) { RequestMessage = request, Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        var error = await RegistryResponses.ToExceptionAsync(response, "Could not start an upload", CancellationToken.None);
        Assert.DoesNotContain("mount=", error.Message, StringComparison.Ordinal);
        return error;
    }
}
