namespace OciKit.Primitives;

/// <summary>
/// Every media type OciKit reads or writes, in one place.
/// OCI values follow <see href="https://github.com/opencontainers/image-spec/blob/main/media-types.md">image-spec, Media Types</see>;
/// Docker values follow the Docker Image Manifest V2, Schema 2 specification.
/// </summary>
public static class MediaTypes
{
    /// <summary>OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    /// <summary>OCI image index.</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>OCI image configuration.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";

    /// <summary>OCI empty descriptor content (<c>{}</c>), used as the config of artifacts.</summary>
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    /// <summary>An SPDX document in JSON (<see href="https://spdx.github.io/spdx-spec/v2.3/">SPDX 2.3</see>): an SBOM's artifact type and layer.</summary>
    public const string SpdxJson = "application/spdx+json";

    /// <summary>The artifact type of OciKit's build cache in a registry repository (see the README, "A build cache shared through the registry").</summary>
    public const string OciKitCache = "application/vnd.ocikit.cache.v1+json";

    /// <summary>The records blob of OciKit's build cache: the first layer of a <see cref="OciKitCache"/> artifact.</summary>
    public const string OciKitCacheRecords = "application/vnd.ocikit.cache.records.v1+json";

    /// <summary>OCI layer, uncompressed tar.</summary>
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";

    /// <summary>OCI layer, gzip-compressed tar.</summary>
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>OCI layer, zstd-compressed tar.</summary>
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// <summary>OCI non-distributable layer, uncompressed (deprecated by the spec, still read).</summary>
    public const string OciLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";

    /// <summary>OCI non-distributable layer, gzip (deprecated by the spec, still read).</summary>
    public const string OciLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

    /// <summary>OCI non-distributable layer, zstd (deprecated by the spec, still read).</summary>
    public const string OciLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    /// <summary>An OCI content descriptor serialized on its own.</summary>
    public const string OciDescriptor = "application/vnd.oci.descriptor.v1+json";

    /// <summary>The <c>oci-layout</c> file of an OCI image layout.</summary>
    public const string OciLayoutHeader = "application/vnd.oci.layout.header.v1+json";

    /// <summary>Opaque bytes: the media type given to a blob whose real type is not known where it is stored.</summary>
    public const string OctetStream = "application/octet-stream";

    /// <summary>Docker image manifest, schema 2.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>Docker manifest list (the Docker counterpart of an OCI index).</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>Docker image configuration.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";

    /// <summary>Docker layer, gzip-compressed tar.</summary>
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>Docker layer, uncompressed tar (rare, but valid).</summary>
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";

    /// <summary>Docker layer, zstd-compressed tar (written by recent Docker/BuildKit).</summary>
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";

    /// <summary>Docker foreign (non-distributable) layer, gzip.</summary>
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>Docker schema 1 signed manifest: recognised only to be refused clearly.</summary>
    public const string DockerManifestSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>Docker schema 1 manifest: recognised only to be refused clearly.</summary>
    public const string DockerManifestSchema1 = "application/vnd.docker.distribution.manifest.v1+json";

    /// <summary>Whether a media type is an image manifest (OCI or Docker schema 2).</summary>
    /// <param name="mediaType">The media type.</param>
    /// <returns><see langword="true"/> for a single-image manifest.</returns>
    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>Whether a media type is an index of manifests (OCI index or Docker manifest list).</summary>
    /// <param name="mediaType">The media type.</param>
    /// <returns><see langword="true"/> for an index.</returns>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>Whether a media type is a gzip-compressed layer (OCI or Docker).</summary>
    /// <param name="mediaType">The media type.</param>
    /// <returns><see langword="true"/> for gzip layers.</returns>
    public static bool IsGzipLayer(string? mediaType) =>
        mediaType is OciLayerGzip or OciLayerNonDistributableGzip or DockerLayerGzip or DockerForeignLayerGzip;

    /// <summary>Whether a media type is a zstd-compressed layer (OCI or Docker).</summary>
    /// <param name="mediaType">The media type.</param>
    /// <returns><see langword="true"/> for zstd layers.</returns>
    public static bool IsZstdLayer(string? mediaType) =>
        mediaType is OciLayerZstd or OciLayerNonDistributableZstd or DockerLayerZstd;

    /// <summary>Whether a media type is an uncompressed tar layer (OCI or Docker).</summary>
    /// <param name="mediaType">The media type.</param>
    /// <returns><see langword="true"/> for uncompressed layers.</returns>
    public static bool IsUncompressedLayer(string? mediaType) =>
        mediaType is OciLayer or OciLayerNonDistributable or DockerLayer;
}
