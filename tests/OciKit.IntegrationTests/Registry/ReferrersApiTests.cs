using System.Net;
using System.Text;
using System.Web;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.IntegrationTests.Registry;

/// <summary>
/// <see cref="RegistryClient.GetReferrersAsync"/> against the OCI 1.1 referrers API, spoken by
/// <see cref="ReferrersApiDouble"/> (a test double: docker-registry 2.8 lacks the endpoint) in front of the real
/// registry, which holds the referrers tag schema index the fallback reads.
/// </summary>
[Collection(RegistryCollection.Name)]
public class ReferrersApiTests(RegistryFixture fixture)
{
    private const string Repository = "referrers/api";
    private const string Sbom = "application/vnd.example.sbom";
    private const string Signature = "application/vnd.example.signature";
    private const string TagSchemaOnly = "application/vnd.example.tag-schema-only";

    private static Digest NewSubject() => Digest.ComputeSha256(Guid.NewGuid().ToByteArray());

    private static Digest Fake(string seed) => Digest.ComputeSha256(Encoding.UTF8.GetBytes(seed));

    /// <summary>Pushes, straight to the registry, an artifact referring to <paramref name="subject"/> and the <c>sha256-&lt;hex&gt;</c> tag index listing it.</summary>
    private async Task<Digest> PushTagSchemaAsync(Digest subject)
    {
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{fixture.Registry.Host}/{Repository}");
        var empty = "{}"u8.ToArray();
        var emptyDescriptor = new Descriptor(MediaTypes.OciEmpty, Digest.ComputeSha256(empty), empty.Length);
        await client.UploadBlobAsync(repo, emptyDescriptor, _ => Task.FromResult<Stream>(new MemoryStream(empty)));
        var artifact = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","artifactType":"{{TagSchemaOnly}}","config":{"mediaType":"{{MediaTypes.OciEmpty}}","digest":"{{emptyDescriptor.Digest}}","size":2},"layers":[{"mediaType":"{{MediaTypes.OciEmpty}}","digest":"{{emptyDescriptor.Digest}}","size":2}],"subject":{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{subject}}","size":1} }""");
        var artifactDigest = await client.PutManifestAsync(repo.WithDigest(Digest.ComputeSha256(artifact)), artifact, MediaTypes.OciManifest);
        var index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{artifactDigest}}","size":{{artifact.Length}},"artifactType":"{{TagSchemaOnly}}"}]}""");
        await client.PutManifestAsync(repo.WithTag($"sha256-{subject.Encoded}"), index, MediaTypes.OciIndex);
        return artifactDigest;
    }

    private static void AddApiReferrers(ReferrersApiDouble api, Digest subject)
    {
        api.Add(Repository, subject.ToString(), MediaTypes.OciManifest, Fake("sbom").ToString(), 101, Sbom);
        api.Add(Repository, subject.ToString(), MediaTypes.OciManifest, Fake("signature").ToString(), 202, Signature);
    }

    private static bool ReadsTagSchema(ReferrersApiRequest request, Digest subject)
        => request.PathAndQuery.Contains($"/manifests/sha256-{subject.Encoded}", StringComparison.Ordinal);

    [Fact]
    public async Task The_apis_answer_is_used_and_the_tag_schema_is_never_read()
    {
        var subject = NewSubject();
        await PushTagSchemaAsync(subject);
        using var api = new ReferrersApiDouble(fixture.Registry.BaseUri, ReferrersApiMode.Filtering);
        AddApiReferrers(api, subject);
        using var client = new RegistryClient();

        var referrers = await client.GetReferrersAsync(ImageReference.Parse($"{api.Host}/{Repository}"), subject);

        Assert.Equal([Fake("sbom"), Fake("signature")], referrers.Select(r => r.Digest));
        Assert.Equal([Sbom, Signature], referrers.Select(r => r.ArtifactType));
        Assert.Equal([101L, 202L], referrers.Select(r => r.Size));
        var asked = Assert.Single(api.Requests, r => r.AnsweredItself);
        Assert.Equal($"/v2/{Repository}/referrers/{subject}", asked.PathAndQuery);
        Assert.DoesNotContain(api.Requests, r => ReadsTagSchema(r, subject));
    }

    [Fact]
    public async Task An_empty_api_answer_is_an_answer_not_a_reason_to_fall_back()
    {
        var subject = NewSubject();
        await PushTagSchemaAsync(subject);
        using var api = new ReferrersApiDouble(fixture.Registry.BaseUri, ReferrersApiMode.Filtering);
        using var client = new RegistryClient();

        Assert.Empty(await client.GetReferrersAsync(ImageReference.Parse($"{api.Host}/{Repository}"), subject));
        Assert.DoesNotContain(api.Requests, r => ReadsTagSchema(r, subject));
    }

    [Theory]
    [InlineData(ReferrersApiMode.Filtering)]
    [InlineData(ReferrersApiMode.Unfiltered)]
    public async Task The_artifact_type_goes_to_the_api_and_the_client_filters_what_the_registry_did_not(ReferrersApiMode mode)
    {
        var subject = NewSubject();
        using var api = new ReferrersApiDouble(fixture.Registry.BaseUri, mode);
        AddApiReferrers(api, subject);
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{api.Host}/{Repository}");

        var referrer = Assert.Single(await client.GetReferrersAsync(repo, subject, Sbom));
        Assert.Equal(Fake("sbom"), referrer.Digest);
        Assert.Equal(Sbom, referrer.ArtifactType);
        Assert.Empty(await client.GetReferrersAsync(repo, subject, "application/vnd.example.none"));

        var asked = api.Requests.Where(r => r.AnsweredItself).ToList();
        Assert.Equal(2, asked.Count);
        Assert.Equal(Sbom, HttpUtility.ParseQueryString(new Uri("http://x" + asked[0].PathAndQuery).Query)["artifactType"]);
        Assert.StartsWith($"/v2/{Repository}/referrers/{subject}?artifactType=", asked[0].PathAndQuery, StringComparison.Ordinal);
        Assert.DoesNotContain(api.Requests, r => ReadsTagSchema(r, subject));
    }

    [Fact]
    public async Task Only_a_404_from_the_api_falls_back_to_the_tag_schema()
    {
        var subject = NewSubject();
        var artifact = await PushTagSchemaAsync(subject);
        using var api = new ReferrersApiDouble(fixture.Registry.BaseUri, ReferrersApiMode.NotImplemented);
        AddApiReferrers(api, subject);
        using var client = new RegistryClient();
        var repo = ImageReference.Parse($"{api.Host}/{Repository}");

        var referrer = Assert.Single(await client.GetReferrersAsync(repo, subject));
        Assert.Equal(artifact, referrer.Digest);
        Assert.Equal(TagSchemaOnly, referrer.ArtifactType);
        var requests = api.Requests.Where(r => r.AnsweredItself || ReadsTagSchema(r, subject)).ToList();
        Assert.Equal(2, requests.Count);
        Assert.True(requests[0].AnsweredItself);
        Assert.True(ReadsTagSchema(requests[1], subject));

        // The fallback filters too (a tag index carries no OCI-Filters-Applied).
        Assert.Empty(await client.GetReferrersAsync(repo, subject, Sbom));
        Assert.Single(await client.GetReferrersAsync(repo, subject, TagSchemaOnly));

        // Any other failure of the API is an error, not a fallback.
        api.Mode = ReferrersApiMode.BadRequest;
        var before = api.Requests.Count(r => ReadsTagSchema(r, subject));
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetReferrersAsync(repo, subject));
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.True(error.HasCode("DIGEST_INVALID"));
        Assert.Equal(before, api.Requests.Count(r => ReadsTagSchema(r, subject)));
    }
}
