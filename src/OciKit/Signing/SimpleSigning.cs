using System.Text.Json;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Signing;

/// <summary>
/// The "simple signing" payload a cosign signature signs (cosign specs/SIGNATURE_SPEC.md, "Payload"; the same
/// <c>critical</c> structure as containers/image docs/containers-signature.5.md, with the type
/// <c>cosign container image signature</c>): which image (its manifest digest) under which name.
/// </summary>
/// <param name="DockerReference">The signed identity: the repository, with the tag the signer named (<c>critical.identity.docker-reference</c>).</param>
/// <param name="ManifestDigest">The signed image's manifest digest (<c>critical.image.docker-manifest-digest</c>).</param>
public sealed record SimpleSigningPayload(string DockerReference, Digest ManifestDigest)
{
    /// <summary>The <c>critical.type</c> of a cosign signature payload.</summary>
    public const string CosignType = "cosign container image signature";

    /// <summary>The largest payload read back (a real one is a few hundred bytes).</summary>
    public const int MaxSize = 1 << 20;

    /// <summary>
    /// The payload as cosign writes it: compact JSON with the keys in the order
    /// <c>critical</c> (<c>identity</c>, <c>image</c>, <c>type</c>), <c>optional</c> (null).
    /// </summary>
    /// <returns>The UTF-8 bytes that are signed and stored as the signature layer.</returns>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("critical");
            writer.WriteStartObject("identity");
            writer.WriteString("docker-reference", DockerReference);
            writer.WriteEndObject();
            writer.WriteStartObject("image");
            writer.WriteString("docker-manifest-digest", ManifestDigest.ToString());
            writer.WriteEndObject();
            writer.WriteString("type", CosignType);
            writer.WriteEndObject();
            writer.WriteNull("optional");
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>The payload to sign for an image: <paramref name="reference"/>'s repository with its tag when it names one, and the digest.</summary>
    /// <param name="reference">The image as the signer named it.</param>
    /// <param name="manifestDigest">Its resolved manifest digest.</param>
    /// <returns>The payload.</returns>
    public static SimpleSigningPayload For(ImageReference reference, Digest manifestDigest)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(manifestDigest);
        return new SimpleSigningPayload(reference.Tag is { } tag ? reference.Name + ":" + tag : reference.Name, manifestDigest);
    }

    /// <summary>Reads a payload, insisting on the cosign type and the two critical fields.</summary>
    /// <param name="json">The payload bytes.</param>
    /// <returns>The payload.</returns>
    /// <exception cref="OciFormatException">The bytes are not a cosign simple-signing payload.</exception>
    public static SimpleSigningPayload Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            var critical = document.RootElement.GetProperty("critical");
            var type = critical.GetProperty("type").GetString();
            if (type != CosignType)
            {
                throw new OciFormatException("signature payload", $"critical.type is '{type}', not '{CosignType}'.");
            }

            var identity = critical.GetProperty("identity").GetProperty("docker-reference").GetString()
                ?? throw new OciFormatException("signature payload", "critical.identity.docker-reference is null.");
            var digest = critical.GetProperty("image").GetProperty("docker-manifest-digest").GetString()
                ?? throw new OciFormatException("signature payload", "critical.image.docker-manifest-digest is null.");
            return new SimpleSigningPayload(identity, Digest.Parse(digest));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new OciFormatException("signature payload", "it is not a simple-signing JSON document with critical.identity, critical.image and critical.type.", e);
        }
    }
}
