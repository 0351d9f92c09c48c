using System.Text;

namespace OciKit.Sbom;

/// <summary>Where a package found in an image was recorded.</summary>
public enum SbomPackageType
{
    /// <summary>A Debian package, from dpkg's status database.</summary>
    Deb,

    /// <summary>An Alpine package, from apk's installed database.</summary>
    Apk,

    /// <summary>A NuGet package, from a .NET application's <c>*.deps.json</c>.</summary>
    NuGet,
}

/// <summary>One package an SBOM lists.</summary>
/// <param name="Type">Which database listed it.</param>
/// <param name="Name">The package's name.</param>
/// <param name="Version">Its version, as the database spells it.</param>
/// <param name="Architecture">Its architecture (OS packages), or <see langword="null"/>.</param>
/// <param name="Location">The absolute path of the database file inside the image that listed it first.</param>
public sealed record SbomPackage(SbomPackageType Type, string Name, string Version, string? Architecture, string Location)
{
    /// <summary>
    /// The package URL (<see href="https://github.com/package-url/purl-spec">purl</see>):
    /// <c>pkg:deb/debian/NAME@VERSION?arch=ARCH</c>, <c>pkg:apk/alpine/NAME@VERSION?arch=ARCH</c> or <c>pkg:nuget/NAME@VERSION</c>.
    /// </summary>
    public string Purl
    {
        get
        {
            var prefix = Type switch
            {
                SbomPackageType.Deb => "pkg:deb/debian/",
                SbomPackageType.Apk => "pkg:apk/alpine/",
                _ => "pkg:nuget/",
            };
            var purl = prefix + Encode(Name) + "@" + Encode(Version);
            return Architecture is null ? purl : purl + "?arch=" + Encode(Architecture);
        }
    }

    /// <summary>
    /// Percent-encodes a purl component: everything but ASCII letters, digits, <c>.-_~</c> and <c>:</c> (which purl
    /// leaves readable, so a Debian epoch stays <c>1:2.3</c>) is written as UTF-8 <c>%XX</c>; a <c>+</c> becomes <c>%2B</c>.
    /// </summary>
    internal static string Encode(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '_' or '~' or ':')
            {
                text.Append(c);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
