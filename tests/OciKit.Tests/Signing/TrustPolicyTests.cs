using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;
using OciKit.Tests.Registry;

namespace OciKit.Tests.Signing;

/// <summary>
/// containers-policy.json: every requirement type and identity rule read, the most specific docker scope winning,
/// each bad input a typed error naming the file, and evaluation against real cosign signatures in an in-memory registry.
/// </summary>
public sealed class TrustPolicyTests : IDisposable
{
    private const string Source = "/etc/test-policy.json";
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-policy-").FullName;
    private readonly SigningKey _signer = SigningKey.Generate(SigningKeyType.Ed25519);
    private readonly SigningKey _other = SigningKey.Generate(SigningKeyType.Ed25519);

    public void Dispose()
    {
        _signer.Dispose();
        _other.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static string KeyData(SigningKey key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key.PublicKey.ExportPem()));

    private string Signed(SigningKey key, string identity = "") =>
        $$"""{"type":"sigstoreSigned","keyData":"{{KeyData(key)}}"{{(identity.Length > 0 ? ",\"signedIdentity\":" + identity : "")}}}""";

    [Fact]
    public void Every_requirement_type_is_read()
    {
        var policy = TrustPolicy.Parse($$$$"""
            {"default":[{"type":"reject"}],
             "transports":{"docker":{
               "r.test/open":[{"type":"insecureAcceptAnything"}],
               "r.test/signed":[{{{{Signed(_signer)}}}}]},
             "docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}
            """, Source);
        Assert.Equal(PolicyRequirementType.Reject, Assert.Single(policy.RequirementsFor(ImageReference.Parse("elsewhere.test/x:1")).Requirements).Type);
        Assert.Equal(PolicyRequirementType.InsecureAcceptAnything, Assert.Single(policy.RequirementsFor(ImageReference.Parse("r.test/open:1")).Requirements).Type);
        var signed = Assert.Single(policy.RequirementsFor(ImageReference.Parse("r.test/signed:1")).Requirements);
        Assert.Equal(PolicyRequirementType.SigstoreSigned, signed.Type);
        Assert.Equal(_signer.PublicKey.Fingerprint, signed.Key!.Fingerprint);
        Assert.Equal(SignedIdentityType.MatchRepoDigestOrExact, signed.Identity!.Type);
        Assert.Equal(Source, policy.Source);
    }

    [Fact]
    public async Task A_key_path_is_read_relative_to_the_policy_file()
    {
        File.WriteAllText(Path.Combine(_dir, "signer.pub"), _signer.PublicKey.ExportPem());
        var path = Path.Combine(_dir, "policy.json");
        File.WriteAllText(path, """{"default":[{"type":"sigstoreSigned","keyPath":"signer.pub"}]}""");
        var policy = await TrustPolicy.LoadAsync(path);
        Assert.Equal(_signer.PublicKey.Fingerprint, Assert.Single(policy.RequirementsFor(ImageReference.Parse("r.test/a:1")).Requirements).Key!.Fingerprint);
    }

    [Theory]
    [InlineData("""{"type":"matchRepoDigestOrExact"}""", SignedIdentityType.MatchRepoDigestOrExact)]
    [InlineData("""{"type":"matchExact"}""", SignedIdentityType.MatchExact)]
    [InlineData("""{"type":"matchRepository"}""", SignedIdentityType.MatchRepository)]
    [InlineData("""{"type":"exactReference","dockerReference":"r.test/a:1"}""", SignedIdentityType.ExactReference)]
    [InlineData("""{"type":"exactRepository","dockerRepository":"r.test/a"}""", SignedIdentityType.ExactRepository)]
    [InlineData("""{"type":"remapIdentity","prefix":"mirror.test/ns","signedPrefix":"r.test/ns"}""", SignedIdentityType.RemapIdentity)]
    public void Every_identity_rule_is_read(string identity, SignedIdentityType type)
    {
        var policy = TrustPolicy.Parse($$"""{"default":[{{Signed(_signer, identity)}}]}""", Source);
        Assert.Equal(type, Assert.Single(policy.RequirementsFor(ImageReference.Parse("r.test/a:1")).Requirements).Identity!.Type);
    }

    [Theory]
    // image, signed docker-reference, rule, accepted
    [InlineData("r.test/a:1", "r.test/a:1", SignedIdentityType.MatchRepoDigestOrExact, true)]
    [InlineData("r.test/a:1", "r.test/a:2", SignedIdentityType.MatchRepoDigestOrExact, false)]
    [InlineData("r.test/a:1", "r.test/a", SignedIdentityType.MatchRepoDigestOrExact, false)]
    [InlineData("r.test/a@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "r.test/a:9", SignedIdentityType.MatchRepoDigestOrExact, true)]
    [InlineData("r.test/a@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "r.test/b:9", SignedIdentityType.MatchRepoDigestOrExact, false)]
    [InlineData("r.test/a:1", "r.test/a:1", SignedIdentityType.MatchExact, true)]
    [InlineData("r.test/a@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "r.test/a", SignedIdentityType.MatchExact, false)]
    [InlineData("r.test/a:1", "r.test/a:2", SignedIdentityType.MatchRepository, true)]
    [InlineData("r.test/a:1", "r.test/ab:1", SignedIdentityType.MatchRepository, false)]
    public void Identity_rules_relate_the_signed_reference_to_the_image(string image, string signed, SignedIdentityType type, bool accepted)
        => Assert.Equal(accepted, new SignedIdentity(type).Matches(ImageReference.Parse(image), signed));

    [Fact]
    public void Exact_rules_ignore_the_image_name_and_compare_with_the_policy()
    {
        var image = ImageReference.Parse("mirror.test/anything:7");
        Assert.True(new SignedIdentity(SignedIdentityType.ExactReference, Reference: "r.test/a:1").Matches(image, "r.test/a:1"));
        Assert.False(new SignedIdentity(SignedIdentityType.ExactReference, Reference: "r.test/a:1").Matches(image, "r.test/a:2"));
        Assert.True(new SignedIdentity(SignedIdentityType.ExactRepository, Reference: "r.test/a").Matches(image, "r.test/a:2"));
        Assert.False(new SignedIdentity(SignedIdentityType.ExactRepository, Reference: "r.test/a").Matches(image, "r.test/b:2"));
    }

    [Fact]
    public void Remap_identity_replaces_a_whole_prefix_then_matches_repo_digest_or_exact()
    {
        var remap = new SignedIdentity(SignedIdentityType.RemapIdentity, Prefix: "mirror.test/ns", SignedPrefix: "r.test/team");
        Assert.True(remap.Matches(ImageReference.Parse("mirror.test/ns/app:1"), "r.test/team/app:1"));
        Assert.False(remap.Matches(ImageReference.Parse("mirror.test/ns/app:1"), "mirror.test/ns/app:2"));
        // "mirror.test/ns" is not a prefix of "mirror.test/nsx/app": the image keeps its own name.
        Assert.False(remap.Matches(ImageReference.Parse("mirror.test/nsx/app:1"), "r.test/teamx/app:1"));
        Assert.True(remap.Matches(ImageReference.Parse("mirror.test/nsx/app:1"), "mirror.test/nsx/app:1"));
    }

    [Theory]
    [InlineData("r.test/team/app:1", "transports.docker[\"r.test/team/app:1\"]")]
    [InlineData("r.test/team/app:2", "transports.docker[\"r.test/team/app\"]")]
    [InlineData("r.test/team/other:1", "transports.docker[\"r.test/team\"]")]
    [InlineData("r.test/solo:1", "transports.docker[\"r.test\"]")]
    [InlineData("elsewhere.test/x:1", "transports.docker[\"\"]")]
    public void The_most_specific_docker_scope_wins(string image, string scope)
    {
        var policy = TrustPolicy.Parse("""
            {"default":[{"type":"reject"}],
             "transports":{"docker":{
               "":[{"type":"insecureAcceptAnything"}],
               "r.test":[{"type":"reject"}],
               "r.test/team":[{"type":"insecureAcceptAnything"}],
               "r.test/team/app":[{"type":"reject"}],
               "r.test/team/app:1":[{"type":"insecureAcceptAnything"}]}}}
            """, Source);
        Assert.Equal(scope, policy.RequirementsFor(ImageReference.Parse(image)).Scope);
    }

    [Fact]
    public void Without_a_docker_scope_the_default_applies()
    {
        var policy = TrustPolicy.Parse("""{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"r.test":[{"type":"reject"}]}}}""", Source);
        Assert.Equal("default", policy.RequirementsFor(ImageReference.Parse("other.test/a:1")).Scope);
        Assert.Equal("transports.docker[\"r.test\"]", policy.RequirementsFor(ImageReference.Parse("r.test/a:1")).Scope);
    }

    public static TheoryData<string, string> BadPolicies => new()
    {
        { "not json", "not JSON" },
        { "[]", "not a JSON object" },
        { """{"transports":{}}""", "no 'default'" },
        { """{"default":[]}""", "non-empty list" },
        { """{"default":[{"type":"acceptEverything"}]}""", "unknown type 'acceptEverything'" },
        { """{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}""", "'signedBy'" },
        { """{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent/k.pub","keyData":"AAAA"}]}""", "both 'keyPath' and 'keyData'" },
        { """{"default":[{"type":"sigstoreSigned"}]}""", "neither 'keyPath' nor 'keyData'" },
        { """{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent/k.pub"}]}""", "cannot be read" },
        { """{"default":[{"type":"sigstoreSigned","keyData":"not base64!"}]}""", "not base64" },
        { """{"default":[{"type":"sigstoreSigned","keyData":"aGVsbG8="}]}""", "keyData" },
        { """{"default":[{"type":"sigstoreSigned","keyData":"aGVsbG8=","fulcio":{}}]}""", "unknown or unsupported field 'fulcio'" },
        { """{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"*.r.test":[{"type":"reject"}]}}}""", "docker scope '*.r.test'" },
        { """{"default":[{"type":"insecureAcceptAnything"}],"extra":1}""", "unknown field 'extra'" },
    };

    [Theory]
    [MemberData(nameof(BadPolicies))]
    public void Bad_input_is_a_caller_error_naming_the_file_and_the_problem(string json, string problem)
    {
        var error = Assert.Throws<TrustPolicyException>(() => TrustPolicy.Parse(json, Source));
        Assert.Contains(Source, error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Equal(FailureKind.Caller, error.Kind);
    }

    [Theory]
    [InlineData("""{"type":"matchAnything"}""", "unknown type 'matchAnything'")]
    [InlineData("""{"type":"exactReference","dockerReference":"r.test/a"}""", "not a reference with a tag or digest")]
    [InlineData("""{"type":"exactRepository","dockerRepository":"r.test/a:1"}""", "not a repository without tag or digest")]
    [InlineData("""{"type":"remapIdentity","prefix":"m.test"}""", "needs both 'prefix' and 'signedPrefix'")]
    [InlineData("""{"type":"matchRepository","extra":true}""", "unknown or unsupported field 'extra'")]
    public void A_bad_identity_rule_is_a_caller_error(string identity, string problem)
    {
        var error = Assert.Throws<TrustPolicyException>(() => TrustPolicy.Parse($$"""{"default":[{{Signed(_signer, identity)}}]}""", Source));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreadable_policy_file_names_the_file()
    {
        var path = Path.Combine(_dir, "absent.json");
        var error = await Assert.ThrowsAsync<TrustPolicyException>(() => TrustPolicy.LoadAsync(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_default_policy_is_the_users_file_else_the_system_file_else_an_error_naming_both()
    {
        var home = Path.Combine(_dir, "home");
        var system = Path.Combine(_dir, "etc-policy.json");
        var user = TrustPolicy.UserPolicyPath(home);
        Assert.Equal(Path.Combine(home, ".config", "containers", "policy.json"), user);

        var missing = await Assert.ThrowsAsync<TrustPolicyException>(() => TrustPolicy.LoadDefaultAsync(home, system, CancellationToken.None));
        Assert.Contains(user, missing.Message, StringComparison.Ordinal);
        Assert.Contains(system, missing.Message, StringComparison.Ordinal);
        Assert.Equal(FailureKind.Caller, missing.Kind);

        File.WriteAllText(system, """{"default":[{"type":"reject"}]}""");
        var fromSystem = await TrustPolicy.LoadDefaultAsync(home, system, CancellationToken.None);
        Assert.Equal(system, fromSystem.Source);
        Assert.Equal(PolicyRequirementType.Reject, Assert.Single(fromSystem.RequirementsFor(ImageReference.Parse("r.test/a:1")).Requirements).Type);

        Directory.CreateDirectory(Path.GetDirectoryName(user)!);
        File.WriteAllText(user, """{"default":[{"type":"insecureAcceptAnything"}]}""");
        var fromUser = await TrustPolicy.LoadDefaultAsync(home, system, CancellationToken.None);
        Assert.Equal(user, fromUser.Source);
        Assert.Equal(PolicyRequirementType.InsecureAcceptAnything, Assert.Single(fromUser.RequirementsFor(ImageReference.Parse("r.test/a:1")).Requirements).Type);

        // An invalid user file is an error, not a silent fall back to the system file.
        File.WriteAllText(user, "{");
        var invalid = await Assert.ThrowsAsync<TrustPolicyException>(() => TrustPolicy.LoadDefaultAsync(home, system, CancellationToken.None));
        Assert.Contains(user, invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admit_pins_the_accepted_digest_and_a_refusal_names_the_image()
    {
        using var registry = new ManifestRegistry();
        using var client = registry.Client();
        var image = ImageReference.Parse($"{StubRegistry.Host}/app:v1");
        var digest = registry.PushImage("v1");
        await CosignSignatures.SignAsync(client, image, _signer);

        var admitted = await TrustPolicy.Parse($$"""{"default":[{{Signed(_signer)}}]}""", Source).AdmitAsync(image, client);
        Assert.Equal(digest, admitted.Digest);
        Assert.Equal(image.Name, admitted.Name);

        var refused = await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => TrustPolicy.Parse("""{"default":[{"type":"reject"}]}""", Source).AdmitAsync(image, client));
        Assert.Equal(image.ToString(), refused.Image);
        Assert.Equal("default", refused.Scope);
    }

    [Fact]
    public async Task A_signature_by_the_policy_key_is_accepted_and_another_key_is_refused_naming_the_scope()
    {
        using var registry = new ManifestRegistry();
        using var client = registry.Client();
        var image = ImageReference.Parse($"{StubRegistry.Host}/app:v1");
        var digest = registry.PushImage("v1");
        await CosignSignatures.SignAsync(client, image, _signer);

        var accepting = TrustPolicy.Parse($$$$"""{"default":[{"type":"reject"}],"transports":{"docker":{"{{{{StubRegistry.Host}}}}/app":[{{{{Signed(_signer)}}}}]}}}""", Source);
        Assert.Equal($"transports.docker[\"{StubRegistry.Host}/app\"]", await accepting.EvaluateAsync(image, digest, client));

        var refusing = TrustPolicy.Parse($$"""{"default":[{{Signed(_other)}}]}""", Source);
        var error = await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => refusing.EvaluateAsync(image, digest, client));
        Assert.Equal("default", error.Scope);
        Assert.Equal(image.ToString(), error.Image);
        Assert.Contains("is not by key", error.Message, StringComparison.Ordinal);
        Assert.Equal(FailureKind.Content, error.Kind);
    }

    [Fact]
    public async Task Every_requirement_of_the_scope_must_hold()
    {
        using var registry = new ManifestRegistry();
        using var client = registry.Client();
        var image = ImageReference.Parse($"{StubRegistry.Host}/app:v1");
        var digest = registry.PushImage("v1");
        await CosignSignatures.SignAsync(client, image, _signer);

        var both = TrustPolicy.Parse($$"""{"default":[{{Signed(_signer)}},{{Signed(_other)}}]}""", Source);
        await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => both.EvaluateAsync(image, digest, client));
        var anyPlusSigned = TrustPolicy.Parse($$"""{"default":[{"type":"insecureAcceptAnything"},{{Signed(_signer)}}]}""", Source);
        Assert.Equal("default", await anyPlusSigned.EvaluateAsync(image, digest, client));
    }

    [Fact]
    public async Task A_signature_whose_identity_the_rule_refuses_is_refused_and_one_it_accepts_is_accepted()
    {
        using var registry = new ManifestRegistry();
        using var client = registry.Client();
        var digest = registry.PushImage("v1");
        registry.Tag("v2", digest);
        // Signed as app:v1; pulled as app:v2 (same digest).
        await CosignSignatures.SignAsync(client, ImageReference.Parse($"{StubRegistry.Host}/app:v1"), _signer);
        var v2 = ImageReference.Parse($"{StubRegistry.Host}/app:v2");

        var exact = TrustPolicy.Parse($$"""{"default":[{{Signed(_signer)}}]}""", Source);
        var error = await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => exact.EvaluateAsync(v2, digest, client));
        Assert.Contains("MatchRepoDigestOrExact", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{StubRegistry.Host}/app:v1'", error.Message, StringComparison.Ordinal);

        var repository = TrustPolicy.Parse($$"""{"default":[{{Signed(_signer, """{"type":"matchRepository"}""")}}]}""", Source);
        Assert.Equal("default", await repository.EvaluateAsync(v2, digest, client));
    }

    [Fact]
    public async Task Reject_refuses_and_an_unsigned_image_is_refused_by_sigstore_signed()
    {
        using var registry = new ManifestRegistry();
        using var client = registry.Client();
        var image = ImageReference.Parse($"{StubRegistry.Host}/app:v1");
        var digest = registry.PushImage("v1");

        var reject = TrustPolicy.Parse("""{"default":[{"type":"reject"}]}""", Source);
        var refused = await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => reject.EvaluateAsync(image, digest, client));
        Assert.Contains("scope default", refused.Message, StringComparison.Ordinal);
        Assert.Empty(registry.Requests);

        var signed = TrustPolicy.Parse($$"""{"default":[{{Signed(_signer)}}]}""", Source);
        var unsigned = await Assert.ThrowsAsync<TrustPolicyRefusedException>(() => signed.EvaluateAsync(image, digest, client));
        Assert.Contains("it has no signatures", unsigned.Message, StringComparison.Ordinal);
    }

    /// <summary>The blob store of <see cref="StubRegistry"/> plus manifests of repository <c>app</c> by tag and digest.</summary>
    private sealed class ManifestRegistry : IDisposable
    {
        private readonly ConcurrentDictionary<string, (byte[] Bytes, string MediaType)> _manifests = new();

        public ManifestRegistry() => Stub.Fault = Manifests;

        public StubRegistry Stub { get; } = new();

        public IReadOnlyList<string> Requests => Stub.Requests;

        public RegistryClient Client() => new(new RegistryClientOptions { Credentials = null, InnerHandler = Stub });

        public Digest PushImage(string tag)
        {
            var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
            Stub.Add(config);
            var manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{Digest.ComputeSha256(config)}}","size":{{config.Length}}},"layers":[]}""");
            var digest = Digest.ComputeSha256(manifest);
            _manifests[digest.ToString()] = (manifest, MediaTypes.OciManifest);
            Tag(tag, digest);
            return digest;
        }

        public void Tag(string tag, Digest digest) => _manifests[tag] = _manifests[digest.ToString()];

        public void Dispose() => Stub.Dispose();

        private HttpResponseMessage? Manifests(HttpRequestMessage request)
        {
            const string prefix = "/v2/app/manifests/";
            var path = request.RequestUri!.AbsolutePath;
            if (!path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return null;
            }

            var name = Uri.UnescapeDataString(path[prefix.Length..]);
            if (request.Method == HttpMethod.Put)
            {
                var bytes = request.Content!.ReadAsByteArrayAsync().GetAwaiter().GetResult();
                var digest = Digest.ComputeSha256(bytes);
                var entry = (bytes, request.Content.Headers.ContentType?.MediaType ?? MediaTypes.OciManifest);
                _manifests[digest.ToString()] = entry;
                _manifests[name] = entry;
                return new HttpResponseMessage(HttpStatusCode.Created) { Headers = { { "Docker-Content-Digest", digest.ToString() } } };
            }

            if (!_manifests.TryGetValue(name, out var found))
            {
                return StubRegistry.Error(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
            }

            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(request.Method == HttpMethod.Head ? [] : found.Bytes) };
            response.Content.Headers.ContentType = new MediaTypeHeaderValue(found.MediaType);
            response.Content.Headers.ContentLength = found.Bytes.Length;
            response.Headers.Add("Docker-Content-Digest", Digest.ComputeSha256(found.Bytes).ToString());
            return response;
        }
    }
}
