namespace OciKit.Primitives;

/// <summary>
/// The platform an image runs on, as in
/// <see href="https://github.com/opencontainers/image-spec/blob/main/image-index.md">image-spec, image index <c>platform</c></see>.
/// </summary>
/// <param name="Os">Operating system, for example <c>linux</c>.</param>
/// <param name="Architecture">CPU architecture in Go's naming, for example <c>amd64</c> or <c>arm64</c>.</param>
/// <param name="Variant">CPU variant, for example <c>v8</c> for arm64 or <c>v7</c> for arm.</param>
/// <param name="OsVersion">Operating system version (used by Windows images).</param>
/// <param name="OsFeatures">Required operating system features.</param>
public sealed record Platform(
    string Os,
    string Architecture,
    string? Variant = null,
    string? OsVersion = null,
    IReadOnlyList<string>? OsFeatures = null)
{
    /// <summary><c>linux/amd64</c>.</summary>
    public static Platform LinuxAmd64 { get; } = new("linux", "amd64");

    /// <summary><c>linux/arm64</c> (variant <c>v8</c>).</summary>
    public static Platform LinuxArm64 { get; } = new("linux", "arm64", "v8");

    /// <summary>The platform of the running process, in OCI naming (Linux containers on any host).</summary>
    public static Platform Current { get; } = new("linux", System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
        System.Runtime.InteropServices.Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    });

    /// <summary>Parses <c>os/architecture[/variant]</c>, for example <c>linux/arm64/v8</c>.</summary>
    /// <param name="value">The text.</param>
    /// <returns>The platform.</returns>
    /// <exception cref="OciFormatException">The text is not of that form.</exception>
    public static Platform Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new OciFormatException("platform", $"'{value}' is not of the form os/architecture[/variant].");
        }

        return new Platform(parts[0].ToLowerInvariant(), parts[1].ToLowerInvariant(), parts.Length == 3 ? parts[2].ToLowerInvariant() : null);
    }

    /// <summary>
    /// Whether an image for this platform runs where <paramref name="wanted"/> is asked for, as Docker and
    /// go-containerregistry's <c>Platform.Satisfies</c> decide: the same OS and architecture, and the same variant when
    /// both name one (<c>linux/arm64</c> and <c>linux/arm64/v8</c> are the same platform). The one home of this rule.
    /// </summary>
    /// <param name="wanted">The platform asked for.</param>
    /// <returns><see langword="true"/> when this platform serves the one asked for.</returns>
    public bool Satisfies(Platform wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        return string.Equals(Os, wanted.Os, StringComparison.Ordinal)
            && string.Equals(Architecture, wanted.Architecture, StringComparison.Ordinal)
            && (Variant is null || wanted.Variant is null || string.Equals(Variant, wanted.Variant, StringComparison.Ordinal));
    }

    /// <summary>The platform as <c>os/architecture[/variant]</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}
