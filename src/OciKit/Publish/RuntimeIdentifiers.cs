using OciKit.Primitives;

namespace OciKit.Publish;

/// <summary>Maps .NET runtime identifiers to image platforms, as the .NET SDK's container support does.</summary>
public static class RuntimeIdentifiers
{
    /// <summary>The platform of a Linux runtime identifier (<c>linux-x64</c>, <c>linux-musl-arm64</c>, ...).</summary>
    /// <param name="runtimeIdentifier">The runtime identifier.</param>
    /// <returns>The platform.</returns>
    /// <exception cref="ArgumentException">The identifier is not a Linux one of a known architecture.</exception>
    public static Platform ToPlatform(string runtimeIdentifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(runtimeIdentifier);
        var dash = runtimeIdentifier.LastIndexOf('-');
        var os = dash < 0 ? string.Empty : runtimeIdentifier[..dash];
        if (!(os == "linux" || os.StartsWith("linux-", StringComparison.Ordinal)))
        {
            throw new ArgumentException($"'{runtimeIdentifier}' is not a Linux runtime identifier; images run Linux.", nameof(runtimeIdentifier));
        }

        return runtimeIdentifier[(dash + 1)..] switch
        {
            "x64" => Platform.LinuxAmd64,
            "arm64" => Platform.LinuxArm64,
            "arm" => new Platform("linux", "arm", "v7"),
            "x86" => new Platform("linux", "386"),
            "s390x" => new Platform("linux", "s390x"),
            "ppc64le" => new Platform("linux", "ppc64le"),
            "riscv64" => new Platform("linux", "riscv64"),
            "loongarch64" => new Platform("linux", "loong64"),
            var arch => throw new ArgumentException($"The architecture '{arch}' of '{runtimeIdentifier}' has no image platform.", nameof(runtimeIdentifier)),
        };
    }
}
