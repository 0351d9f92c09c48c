using System.IO.Compression;
using System.Reflection;

namespace OciKit.Layers;

/// <summary>
/// Names the code that makes a layer's compressed bytes, for cache keys shared between machines: the same entries and
/// options give the same blob only with the same compressor. For gzip that is the zlib the runtime carries (zlib-ng,
/// linked into <c>System.IO.Compression.Native</c> and shipped with the <c>System.IO.Compression</c> assembly, so
/// that assembly's file version and the runtime version name it); for zstd the ZstdSharp port's version; and
/// OciKit's own version, which decides the tar stream and the block framing.
/// </summary>
internal static class CompressorIdentity
{
    private static readonly string OciKitVersion = VersionOf(typeof(CompressorIdentity).Assembly);
    private static readonly string Zlib = "zlib:" + VersionOf(typeof(GZipStream).Assembly) + "/runtime:" + Environment.Version;
    private static readonly string Zstd = "zstd:" + VersionOf(typeof(ZstdSharp.Compressor).Assembly);

    /// <summary>The identity of the compressor of <paramref name="compression"/>, OciKit's version included.</summary>
    public static string Of(LayerCompression compression) => Describe(compression, OciKitVersion, Zlib, Zstd);

    /// <summary>The identity from its parts (separate for tests: another version must give another identity).</summary>
    internal static string Describe(LayerCompression compression, string ociKitVersion, string zlib, string zstd) => "ocikit:" + ociKitVersion + "/" + compression switch
    {
        LayerCompression.Gzip => zlib,
        LayerCompression.Zstd => zstd,
        _ => "none",
    };

    // Attributes, not file paths: a NativeAOT application has no assembly files to read versions from.
    private static string VersionOf(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? assembly.GetCustomAttribute<AssemblyFileVersionAttribute>()?.Version
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";
}
