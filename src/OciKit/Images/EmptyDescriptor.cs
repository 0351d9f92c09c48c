using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// The empty descriptor an artifact manifest uses as its config: the two bytes <c>{}</c> of media type
/// <see cref="MediaTypes.OciEmpty"/> (<see href="https://github.com/opencontainers/image-spec/blob/main/manifest.md#guidance-for-an-empty-descriptor">image-spec, guidance for an empty descriptor</see>).
/// </summary>
internal static class EmptyDescriptor
{
    private static readonly byte[] Content = "{}"u8.ToArray();

    /// <summary>The content, <c>{}</c>.</summary>
    public static ReadOnlyMemory<byte> Bytes => Content;

    /// <summary>Its descriptor.</summary>
    public static Descriptor Descriptor { get; } = new(MediaTypes.OciEmpty, Digest.ComputeSha256(Content), Content.Length);
}
