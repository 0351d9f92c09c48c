using OciKit.Primitives;

namespace OciKit.Layers;

/// <summary>What writing a layer produced: the blob's descriptor and the identity of its uncompressed tar.</summary>
/// <param name="Descriptor">Media type, digest and size of the compressed bytes written to the destination.</param>
/// <param name="DiffId">The SHA-256 of the uncompressed tar stream (the image configuration's <c>rootfs.diff_ids</c> entry).</param>
/// <param name="UncompressedSize">The length of the uncompressed tar stream.</param>
public sealed record LayerInfo(Descriptor Descriptor, Digest DiffId, long UncompressedSize);
