using System.Text;
using System.Text.Json.Nodes;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.IntegrationTests.Signing;

/// <summary>
/// Keys and cosign-format signatures against real peers: OpenSSL reads the key files; skopeo (containers/image with
/// <c>use-sigstore-attachments</c>) reads what <c>ocikit sign</c> wrote as sigstore signatures and carries them unchanged;
/// <c>ocikit verify</c> accepts them and refuses another key's signature, a tampered payload and a signature replayed
/// onto another digest. Debian's skopeo cannot evaluate <c>sigstoreSigned</c> policies (see the test pinning that).
/// </summary>
[Collection(RegistryCollection.Name)]
public class SigningPeerTests(RegistryFixture fixture)
{
    private string Host => fixture.Registry.Host;

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa-p256")]
    public async Task OpenSSL_reads_the_key_files_ocikit_writes(string type)
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var prefix = dir.Combine("cosign");
        var variable = "OCIKIT_TEST_PASSPHRASE_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "open sesame");
        try
        {
            (await cli.RunAsync("key", "generate", "--type", type, "--out", prefix, "--passphrase-env", variable)).Succeeded();
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        await Tool.RunCheckedAsync("openssl", ["pkey", "-pubin", "-in", prefix + ".pub", "-noout"]);
        var text = await Tool.RunCheckedAsync("openssl", ["pkey", "-in", prefix + ".key", "-passin", "pass:open sesame", "-pubout"]);
        Assert.Equal((await File.ReadAllTextAsync(prefix + ".pub")).Trim(), text.StdOut.Trim());
        var wrong = await Tool.RunAsync("openssl", ["pkey", "-in", prefix + ".key", "-passin", "pass:not it", "-noout"]);
        Assert.NotEqual(0, wrong.ExitCode);
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa-p256")]
    public async Task Ocikit_verifies_what_it_signed_and_refuses_another_key(string type)
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var repository = $"signing/accept-{type}";
        await BusyboxImage.PushAsync(fixture.Registry, repository, "v1");
        var image = $"{Host}/{repository}:v1";
        (await cli.RunAsync("key", "generate", "--type", type, "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("key", "generate", "--type", type, "--out", dir.Combine("other"))).Succeeded();

        var sign = (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), image)).Succeeded();
        Assert.Contains($"Signed {image}@{fixture.BaseDigest}", sign.StdOut, StringComparison.Ordinal);

        var verify = (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).Succeeded();
        Assert.Equal($"Verified: {image}@{fixture.BaseDigest} signed by key", verify.LastLine[..verify.LastLine.IndexOf(" sha256:", StringComparison.Ordinal)]);

        // The payload is byte for byte what cosign writes, and the layer's annotation holds its signature.
        using var client = new RegistryClient();
        var signatures = await client.GetManifestAsync(ImageReference.Parse(image).WithTag(CosignSignatures.SignatureTag(Digest.Parse(fixture.BaseDigest))));
        var layer = Assert.Single(JsonNode.Parse(signatures.Bytes.Span)!["layers"]!.AsArray())!;
        Assert.Equal(CosignSignatures.PayloadMediaType, layer["mediaType"]!.GetValue<string>());
        var payload = await DownloadAsync(client, ImageReference.Parse(image), layer);
        Assert.Equal(
            $$"""{"critical":{"identity":{"docker-reference":"{{image}}"},"image":{"docker-manifest-digest":"{{fixture.BaseDigest}}"},"type":"cosign container image signature"},"optional":null}""",
            Encoding.UTF8.GetString(payload));

        // Another key: both refuse; ocikit with a typed error naming why.
        (await cli.RunAsync("verify", "--key", dir.Combine("other.pub"), image)).FailedWith(1, "is not by key");

        // A second signature (by the other key) is added beside the first: each key now verifies its own.
        (await cli.RunAsync("sign", "--key", dir.Combine("other.key"), image)).Succeeded();
        signatures = await client.GetManifestAsync(ImageReference.Parse(image).WithTag(CosignSignatures.SignatureTag(Digest.Parse(fixture.BaseDigest))));
        Assert.Equal(2, JsonNode.Parse(signatures.Bytes.Span)!["layers"]!.AsArray().Count);
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).Succeeded();
        (await cli.RunAsync("verify", "--key", dir.Combine("other.pub"), image)).Succeeded();

        // Signing again with the first key: Ed25519 is deterministic, the same signature is stored once; ECDSA's
        // randomized signature is a new one.
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), image)).Succeeded();
        signatures = await client.GetManifestAsync(ImageReference.Parse(image).WithTag(CosignSignatures.SignatureTag(Digest.Parse(fixture.BaseDigest))));
        Assert.Equal(type == "ed25519" ? 2 : 3, JsonNode.Parse(signatures.Bytes.Span)!["layers"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa-p256")]
    public async Task A_tampered_payload_is_refused(string type)
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var (repository, image) = await PushAndSignAsync(cli, dir, "tampered", type);

        // Rewrite the payload to name another tag (a new blob) and point the layer at it, keeping the signature.
        using var client = new RegistryClient();
        var reference = ImageReference.Parse(image);
        var sigReference = reference.WithTag(CosignSignatures.SignatureTag(Digest.Parse(fixture.BaseDigest)));
        var manifest = JsonNode.Parse((await client.GetManifestAsync(sigReference)).Bytes.Span)!;
        var layer = manifest["layers"]![0]!;
        var payload = Encoding.UTF8.GetString(await DownloadAsync(client, reference, layer));
        var tampered = Encoding.UTF8.GetBytes(payload.Replace(":v1\"", ":v2\"", StringComparison.Ordinal));
        Assert.NotEqual(payload, Encoding.UTF8.GetString(tampered));
        using (var content = new MemoryStream(tampered))
        {
            var uploaded = await client.UploadBlobAsync(sigReference, content, CosignSignatures.PayloadMediaType);
            layer["digest"] = uploaded.Digest.ToString();
            layer["size"] = uploaded.Size;
        }

        await client.PutManifestAsync(sigReference, Encoding.UTF8.GetBytes(manifest.ToJsonString()), MediaTypes.OciManifest);

        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).FailedWith(1, "is not by key");
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa-p256")]
    public async Task A_signature_replayed_onto_an_image_retagged_to_another_digest_is_refused(string type)
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var (repository, image) = await PushAndSignAsync(cli, dir, "retagged", type);

        // v1 now names another manifest (the same blobs, one annotation more); the old signature manifest is copied to
        // the new digest's signature tag, as an attacker replaying it would.
        using var client = new RegistryClient();
        var reference = ImageReference.Parse(image);
        var original = await client.GetManifestAsync(reference);
        var other = JsonNode.Parse(original.Bytes.Span)!;
        other["annotations"] = new JsonObject { ["test.retagged"] = "yes" };
        var otherDigest = await client.PutManifestAsync(reference, Encoding.UTF8.GetBytes(other.ToJsonString()), original.MediaType);
        Assert.NotEqual(original.Digest, otherDigest);
        var signatures = await client.GetManifestAsync(reference.WithTag(CosignSignatures.SignatureTag(original.Digest)));
        await client.PutManifestAsync(reference.WithTag(CosignSignatures.SignatureTag(otherDigest)), signatures.Bytes, signatures.MediaType);

        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).FailedWith(1, $"not the image's {otherDigest}");

        // By digest, the original image still verifies; signed by digest, the identity is the repository alone.
        var byDigest = $"{Host}/{repository}@{original.Digest}";
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), byDigest)).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), $"{Host}/{repository}@{otherDigest}")).Succeeded();
        var verified = (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).Succeeded();
        Assert.StartsWith($"Verified: {Host}/{repository}@{otherDigest} signed by key sha256:", verified.LastLine, StringComparison.Ordinal);
    }

    /// <summary>Pushes busybox to <c>signing/NAME-TYPE:v1</c> and signs it with a new key of the type (<c>signer.key</c>).</summary>
    private async Task<(string Repository, string Image)> PushAndSignAsync(CliRun cli, TempDir dir, string name, string type)
    {
        var repository = $"signing/{name}-{type}";
        await BusyboxImage.PushAsync(fixture.Registry, repository, "v1");
        var image = $"{Host}/{repository}:v1";
        (await cli.RunAsync("key", "generate", "--type", type, "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), image)).Succeeded();
        return (repository, image);
    }

    private static async Task<byte[]> DownloadAsync(RegistryClient client, ImageReference reference, JsonNode layer)
    {
        using var buffer = new MemoryStream();
        var descriptor = new Descriptor(layer["mediaType"]!.GetValue<string>(), Digest.Parse(layer["digest"]!.GetValue<string>()), layer["size"]!.GetValue<long>());
        await client.DownloadBlobAsync(reference, descriptor, buffer);
        return buffer.ToArray();
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa-p256")]
    public async Task Skopeo_reads_ocikit_signatures_as_sigstore_attachments_and_carries_them_unchanged(string type)
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var (repository, image) = await PushAndSignAsync(cli, dir, "carried", type);

        // containers/image with use-sigstore-attachments (containers-registries.d(5)) reads the "sha256-<hex>.sig"
        // manifest, parses each layer as a sigstore signature (payload, media type, signature annotation) and writes
        // them again beside the copy: what it wrote must be OciKit's payload and signature, byte for byte.
        var copy = $"{Host}/signing/carried-copy-{type}:v1";
        var result = await SkopeoCopyAsync(dir, """{"default":[{"type":"insecureAcceptAnything"}]}""", $"docker://{image}", $"docker://{copy}", "--dest-tls-verify=false");
        Assert.True(result.ExitCode == 0, result.StdErr);

        using var client = new RegistryClient();
        var tag = CosignSignatures.SignatureTag(Digest.Parse(fixture.BaseDigest));
        var source = Assert.Single(JsonNode.Parse((await client.GetManifestAsync(ImageReference.Parse(image).WithTag(tag))).Bytes.Span)!["layers"]!.AsArray())!;
        var carried = Assert.Single(JsonNode.Parse((await client.GetManifestAsync(ImageReference.Parse(copy).WithTag(tag))).Bytes.Span)!["layers"]!.AsArray())!;
        Assert.Equal(source["mediaType"]!.GetValue<string>(), carried["mediaType"]!.GetValue<string>());
        Assert.Equal(source["digest"]!.GetValue<string>(), carried["digest"]!.GetValue<string>());
        var signature = carried["annotations"]![CosignSignatures.SignatureAnnotation]!.GetValue<string>();
        Assert.Equal(source["annotations"]![CosignSignatures.SignatureAnnotation]!.GetValue<string>(), signature);
        var payload = await DownloadAsync(client, ImageReference.Parse(copy), carried);
        var key = await KeyFiles.ReadVerificationKeyAsync(dir.Combine("signer.pub"));
        Assert.True(key.Verify(payload, Convert.FromBase64String(signature)));

        // The carried signature still names the source repository: under the copy's name it is refused.
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), copy)).FailedWith(1, $"not the repository {Host}/signing/carried-copy-{type}");
    }

    /// <summary>
    /// Debian 12's skopeo 1.9.3 (containers/image 5.23.1 as packaged by Debian) is built with sigstore support
    /// patched out: a <c>sigstoreSigned</c> policy requirement fails with "Debian-local change: sigstore disabled"
    /// whatever the signature, and <c>--sign-by-sigstore-private-key</c> fails the same way (so the reverse direction, skopeo
    /// signing and OciKit verifying, cannot be tested with this peer). This pins that, so the day the peer
    /// can check sigstore signatures this test fails and the policy-based acceptance and refusal tests replace it.
    /// </summary>
    [Fact]
    public async Task Debian_skopeo_cannot_evaluate_sigstoreSigned_policies()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var repository = "signing/policy";
        await BusyboxImage.PushAsync(fixture.Registry, repository, "v1");
        (await cli.RunAsync("key", "generate", "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), $"{Host}/{repository}:v1")).Succeeded();
        var policy = $$$$$$"""
            {"default":[{"type":"reject"}],"transports":{"docker":{"{{{{{{Host}}}}}}/{{{{{{repository}}}}}}":[{"type":"sigstoreSigned","keyPath":"{{{{{{dir.Combine("signer.pub")}}}}}}","signedIdentity":{"type":"matchRepoDigestOrExact"}}]}}}
            """;
        var result = await SkopeoCopyAsync(dir, policy, $"docker://{Host}/{repository}:v1", $"oci:{dir.Combine("out")}");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Debian-local change: sigstore disabled", result.StdErr, StringComparison.Ordinal);

        // Nor can it sign: the sigstore signer is the same patched-out code (it fails before even reading the key).
        await File.WriteAllTextAsync(dir.Combine("passphrase"), "unused");
        var sign = await SkopeoCopyAsync(
            dir,
            """{"default":[{"type":"insecureAcceptAnything"}]}""",
            $"docker://{Host}/{repository}:v1",
            $"docker://{Host}/{repository}-skopeo-signed:v1",
            "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key",
            dir.Combine("signer.key"),
            "--sign-passphrase-file",
            dir.Combine("passphrase"));
        Assert.NotEqual(0, sign.ExitCode);
        Assert.Contains("creating signature: Debian-local change: sigstore disabled", sign.StdErr, StringComparison.Ordinal);
    }

    private Task<ToolResult> SkopeoCopyAsync(TempDir dir, string policyJson, string source, string destination, params string[] options)
    {
        var policy = dir.Combine("policy-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(policy, policyJson);
        var registries = dir.Combine("registries.d");
        Directory.CreateDirectory(registries);
        File.WriteAllText(Path.Combine(registries, "ocikit-test.yaml"), $"docker:\n  {Host}:\n    use-sigstore-attachments: true\n");
        return Tool.RunAsync("skopeo", ["copy", "--policy", policy, "--registries.d", registries, "--src-tls-verify=false", .. options, source, destination]);
    }
}
