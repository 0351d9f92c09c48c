using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Signing;

/// <summary>A signature that verified: who (the key) signed which image under which name.</summary>
/// <param name="DockerReference">The identity the payload names.</param>
/// <param name="ManifestDigest">The image's manifest digest the payload names.</param>
/// <param name="KeyFingerprint">The SHA-256 of the verifying key's SubjectPublicKeyInfo.</param>
/// <param name="Layer">The signature layer's digest (the payload blob).</param>
public sealed record VerifiedSignature(string DockerReference, Digest ManifestDigest, Digest KeyFingerprint, Digest Layer);

/// <summary>
/// Signatures in the cosign layout (cosign specs/SIGNATURE_SPEC.md, "OCI Registry"; what containers/image reads
/// with <c>use-sigstore-attachments</c>, docs/containers-registries.d.5.md): an OCI image manifest tagged
/// <c>sha256-&lt;hex&gt;.sig</c> beside the image, one layer per signature whose blob is the simple-signing payload
/// (<c>application/vnd.dev.cosign.simplesigning.v1+json</c>) and whose annotation
/// <c>dev.cosignproject.cosign/signature</c> holds the base64 signature.
/// </summary>
public static class CosignSignatures
{
    /// <summary>The media type of a signature layer.</summary>
    public const string PayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";

    /// <summary>The layer annotation holding the base64 signature.</summary>
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";

    /// <summary>The tag of an image's signatures: <c>&lt;algorithm&gt;-&lt;hex&gt;.sig</c>.</summary>
    /// <param name="manifestDigest">The image's manifest digest.</param>
    /// <returns>The tag.</returns>
    public static string SignatureTag(Digest manifestDigest)
    {
        ArgumentNullException.ThrowIfNull(manifestDigest);
        return manifestDigest.Algorithm + "-" + manifestDigest.Encoded + ".sig";
    }

    /// <summary>The reference of an image's signature manifest: its repository, tagged <see cref="SignatureTag"/> (never by digest).</summary>
    /// <param name="image">The image, by tag or digest.</param>
    /// <param name="manifestDigest">The image's manifest digest.</param>
    /// <returns>The reference.</returns>
    public static ImageReference SignatureReference(ImageReference image, Digest manifestDigest)
    {
        ArgumentNullException.ThrowIfNull(image);
        return ImageReference.Create(image.Registry, image.Repository, SignatureTag(manifestDigest));
    }

    /// <summary>
    /// Signs an image in its registry: resolves its manifest digest, signs the payload naming it (as
    /// <see cref="SimpleSigningPayload.For"/>) and adds the signature to the image's signature manifest, keeping
    /// the signatures already there (the same signature twice is stored once).
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="reference">The image, by tag or digest.</param>
    /// <param name="key">The signing key.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The signed payload and the digest of the signature manifest.</returns>
    /// <exception cref="RegistryException">The registry refused a request or the image is not there.</exception>
    /// <remarks>
    /// Adding a signature reads the signature manifest, appends a layer and puts it back: two signers of the same
    /// image at the same moment can lose one signature (the registry protocol has no conditional PUT; cosign has the
    /// same window). ECDSA signatures are randomized, so signing twice with one ECDSA key stores two signatures;
    /// Ed25519 is deterministic and stores one.
    /// </remarks>
    public static async Task<(SimpleSigningPayload Payload, Digest SignatureManifest)> SignAsync(RegistryClient client, ImageReference reference, SigningKey key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(key);
        var image = await client.GetManifestAsync(reference, cancellationToken).ConfigureAwait(false);
        var payload = SimpleSigningPayload.For(reference, image.Digest);
        var payloadBytes = payload.ToJson();
        var signature = Convert.ToBase64String(key.Sign(payloadBytes));
        var signatures = SignatureReference(reference, image.Digest);

        var layers = new JsonArray();
        if (await GetSignatureManifestAsync(client, signatures, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            foreach (var layer in existing["layers"]?.AsArray() ?? [])
            {
                layers.Add(layer?.DeepClone());
            }
        }

        using (var content = new MemoryStream(payloadBytes, writable: false))
        {
            await client.UploadBlobAsync(signatures, content, PayloadMediaType, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var payloadDigest = Digest.ComputeSha256(payloadBytes);
        var duplicate = layers.Any(layer => layer?["digest"]?.GetValue<string>() == payloadDigest.ToString()
            && layer["annotations"]?[SignatureAnnotation]?.GetValue<string>() == signature);
        if (!duplicate)
        {
            layers.Add((JsonNode)new JsonObject
            {
                ["mediaType"] = PayloadMediaType,
                ["size"] = payloadBytes.Length,
                ["digest"] = payloadDigest.ToString(),
                ["annotations"] = new JsonObject { [SignatureAnnotation] = signature },
            });
        }

        var config = ConfigFor(layers);
        using (var content = new MemoryStream(config, writable: false))
        {
            await client.UploadBlobAsync(signatures, content, MediaTypes.OciConfig, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = new JsonObject
            {
                ["mediaType"] = MediaTypes.OciConfig,
                ["size"] = config.Length,
                ["digest"] = Digest.ComputeSha256(config).ToString(),
            },
            ["layers"] = layers,
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString(Relaxed));
        var put = await client.PutManifestAsync(signatures, manifestBytes, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
        return (payload, put);
    }

    /// <summary>
    /// Verifies an image's signatures against a public key: for each layer of its signature manifest, the payload
    /// blob must have the layer's digest, name the image's manifest digest and a reference in the image's repository,
    /// and carry a signature the key verifies.
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="reference">The image, by tag or digest.</param>
    /// <param name="key">The public key.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The valid signatures (at least one).</returns>
    /// <exception cref="SignatureVerificationException">There is no valid signature; the exception lists why each failed.</exception>
    /// <exception cref="RegistryException">The registry refused a request or the image is not there.</exception>
    public static Task<IReadOnlyList<VerifiedSignature>> VerifyAsync(RegistryClient client, ImageReference reference, VerificationKey key, CancellationToken cancellationToken = default)
        => VerifyAsync(client, reference, key, reference?.Name, cancellationToken);

    /// <summary>
    /// As <see cref="VerifyAsync(RegistryClient, ImageReference, VerificationKey, CancellationToken)"/>, with the
    /// repository the payloads must name given: an image copied with its signatures (<c>copy --attachments</c>) keeps
    /// payloads naming the repository it was signed in.
    /// </summary>
    /// <param name="client">The registry client.</param>
    /// <param name="reference">The image, by tag or digest.</param>
    /// <param name="key">The public key.</param>
    /// <param name="signedRepository">The repository the signatures must name (a tag or digest in it is ignored).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The valid signatures (at least one).</returns>
    /// <exception cref="SignatureVerificationException">There is no valid signature; the exception lists why each failed.</exception>
    /// <exception cref="RegistryException">The registry refused a request or the image is not there.</exception>
    public static Task<IReadOnlyList<VerifiedSignature>> VerifyAsync(RegistryClient client, ImageReference reference, VerificationKey key, ImageReference signedRepository, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signedRepository);
        return VerifyAsync(client, reference, key, signedRepository.Name, cancellationToken);
    }

    // A null requiredRepository leaves the payload's identity to the caller (a trust policy's signedIdentity rule).
    internal static async Task<IReadOnlyList<VerifiedSignature>> VerifyAsync(RegistryClient client, ImageReference reference, VerificationKey key, string? requiredRepository, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(key);
        var image = await client.GetManifestAsync(reference, cancellationToken).ConfigureAwait(false);
        var signatures = SignatureReference(reference, image.Digest);
        var manifest = await GetSignatureManifestAsync(client, signatures, cancellationToken).ConfigureAwait(false);
        var valid = new List<VerifiedSignature>();
        var reasons = new List<string>();
        var index = 0;
        foreach (var layer in manifest?["layers"]?.AsArray() ?? [])
        {
            index++;
            try
            {
                if (await CheckLayerAsync(client, signatures, requiredRepository, image.Digest, key, layer, cancellationToken).ConfigureAwait(false) is { } ok)
                {
                    valid.Add(ok);
                }
                else
                {
                    reasons.Add($"signature {index} is not by key {key.Fingerprint}");
                }
            }
            catch (SignatureLayerException e)
            {
                reasons.Add($"signature {index}: {e.Message}");
            }
        }

        return valid.Count > 0 ? valid : throw new SignatureVerificationException(reference.ToString(), reasons);
    }

    private static async Task<VerifiedSignature?> CheckLayerAsync(RegistryClient client, ImageReference signatures, string? requiredRepository, Digest manifestDigest, VerificationKey key, JsonNode? layer, CancellationToken cancellationToken)
    {
        string? mediaType, digestText, signatureText;
        long size;
        try
        {
            mediaType = layer?["mediaType"]?.GetValue<string>();
            digestText = layer?["digest"]?.GetValue<string>();
            size = layer?["size"]?.GetValue<long>() ?? -1;
            signatureText = layer?["annotations"]?[SignatureAnnotation]?.GetValue<string>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new SignatureLayerException("its layer descriptor is malformed");
        }

        if (mediaType != PayloadMediaType)
        {
            throw new SignatureLayerException($"its media type is '{mediaType}', not '{PayloadMediaType}'");
        }

        if (signatureText is null)
        {
            throw new SignatureLayerException($"it has no '{SignatureAnnotation}' annotation");
        }

        if (!Digest.TryParse(digestText, out var digest) || size is < 0 or > SimpleSigningPayload.MaxSize)
        {
            throw new SignatureLayerException("its payload descriptor has no valid digest or a size outside 0..1 MiB");
        }

        byte[] payloadBytes;
        using (var buffer = new MemoryStream())
        {
            try
            {
                await client.DownloadBlobAsync(signatures, new Descriptor(mediaType, digest, size), buffer, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryDigestMismatchException)
            {
                throw new SignatureLayerException($"its payload does not have the digest {digest}");
            }

            payloadBytes = buffer.ToArray();
        }

        // Checked here as well as by the download, so the payload that is verified is the one the layer names.
        if (!digest.Matches(payloadBytes))
        {
            throw new SignatureLayerException($"its payload does not have the digest {digest}");
        }

        SimpleSigningPayload payload;
        try
        {
            payload = SimpleSigningPayload.Parse(payloadBytes);
        }
        catch (OciFormatException e)
        {
            throw new SignatureLayerException(e.Message);
        }

        if (payload.ManifestDigest != manifestDigest)
        {
            throw new SignatureLayerException($"it signs {payload.ManifestDigest}, not the image's {manifestDigest}");
        }

        if (!ImageReference.TryParse(payload.DockerReference, out var identity) || (requiredRepository is not null && identity.Name != requiredRepository))
        {
            throw new SignatureLayerException($"it names '{payload.DockerReference}', not the repository {requiredRepository}");
        }

        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(signatureText);
        }
        catch (FormatException)
        {
            throw new SignatureLayerException("its signature annotation is not base64");
        }

        return key.Verify(payloadBytes, signature)
            ? new VerifiedSignature(payload.DockerReference, payload.ManifestDigest, key.Fingerprint, digest)
            : null;
    }

    private static async Task<JsonNode?> GetSignatureManifestAsync(RegistryClient client, ImageReference signatures, CancellationToken cancellationToken)
    {
        ManifestContent content;
        try
        {
            content = await client.GetManifestAsync(signatures, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(content.Bytes.Span) is JsonObject manifest && manifest["layers"] is null or JsonArray
                ? manifest
                : throw new OciFormatException($"signature manifest {signatures}", "it is not a JSON object with a 'layers' array.");
        }
        catch (JsonException e)
        {
            throw new OciFormatException($"signature manifest {signatures}", "it is not JSON.", e);
        }
    }

    // The image configuration cosign's signature images have (go-containerregistry's empty image with one layer per
    // signature appended): empty architecture and os, the zero time, one history entry and one diff_id per layer
    // (the payload layers are uncompressed, so each diff_id is the layer's digest).
    private static byte[] ConfigFor(JsonArray layers)
    {
        var diffIds = new JsonArray();
        var history = new JsonArray();
        foreach (var layer in layers)
        {
            diffIds.Add((JsonNode?)JsonValue.Create(layer?["digest"]?.GetValue<string>()));
            history.Add((JsonNode)new JsonObject { ["created"] = "0001-01-01T00:00:00Z" });
        }

        var config = new JsonObject
        {
            ["architecture"] = string.Empty,
            ["created"] = "0001-01-01T00:00:00Z",
            ["history"] = history,
            ["os"] = string.Empty,
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds },
            ["config"] = new JsonObject(),
        };
        return Encoding.UTF8.GetBytes(config.ToJsonString(Relaxed));
    }

    // Base64 signatures keep their '+' and '/' rather than \u002B escapes (both are valid JSON; this reads as cosign's).
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private sealed class SignatureLayerException(string message) : Exception(message);
}
