namespace OciKit.Registry;

/// <summary>
/// The error codes a registry puts in its JSON error body, as listed by the
/// <see href="https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes">distribution spec, Error Codes</see>,
/// plus <c>TOOMANYREQUESTS</c> and <c>UNAVAILABLE</c>, which Docker Hub and the CNCF distribution server also send.
/// </summary>
public static class RegistryErrorCodes
{
    /// <summary>Blob unknown to registry.</summary>
    public const string BlobUnknown = "BLOB_UNKNOWN";

    /// <summary>Blob upload is invalid.</summary>
    public const string BlobUploadInvalid = "BLOB_UPLOAD_INVALID";

    /// <summary>Blob upload is unknown to registry.</summary>
    public const string BlobUploadUnknown = "BLOB_UPLOAD_UNKNOWN";

    /// <summary>Provided digest did not match uploaded content.</summary>
    public const string DigestInvalid = "DIGEST_INVALID";

    /// <summary>Manifest references a manifest or blob unknown to registry.</summary>
    public const string ManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN";

    /// <summary>Manifest invalid.</summary>
    public const string ManifestInvalid = "MANIFEST_INVALID";

    /// <summary>Manifest unknown to registry.</summary>
    public const string ManifestUnknown = "MANIFEST_UNKNOWN";

    /// <summary>Invalid repository name.</summary>
    public const string NameInvalid = "NAME_INVALID";

    /// <summary>Repository name not known to registry.</summary>
    public const string NameUnknown = "NAME_UNKNOWN";

    /// <summary>Provided length did not match content length.</summary>
    public const string SizeInvalid = "SIZE_INVALID";

    /// <summary>Authentication required.</summary>
    public const string Unauthorized = "UNAUTHORIZED";

    /// <summary>Requested access to the resource is denied.</summary>
    public const string Denied = "DENIED";

    /// <summary>The operation is unsupported.</summary>
    public const string Unsupported = "UNSUPPORTED";

    /// <summary>Too many requests.</summary>
    public const string TooManyRequests = "TOOMANYREQUESTS";

    /// <summary>The registry is temporarily unavailable (distribution server).</summary>
    public const string Unavailable = "UNAVAILABLE";

    /// <summary>Manifest unverified (schema 1 signatures; still sent by some registries).</summary>
    public const string ManifestUnverified = "MANIFEST_UNVERIFIED";

    /// <summary>Tag invalid (sent by some registries).</summary>
    public const string TagInvalid = "TAG_INVALID";
}
