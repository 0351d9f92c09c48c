using System.Text;
using System.Text.Json.Nodes;
using OciKit.Primitives;
using OciKit.Sbom;
using OciKit.Testing;
using OciKit.Tests.Images;

namespace OciKit.Tests.Sbom;

/// <summary>The package database readers, the purl spelling, and that the SPDX schema check rejects what it should.</summary>
public sealed class PackageDatabasesTests
{
    [Theory]
    [InlineData(SbomPackageType.Deb, "libc6", "2.36-9+deb12u4", "amd64", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64")]
    [InlineData(SbomPackageType.Deb, "zlib1g", "1:1.2.13.dfsg-1", "arm64", "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=arm64")]
    [InlineData(SbomPackageType.Deb, "base-passwd", "3.6.1", null, "pkg:deb/debian/base-passwd@3.6.1")]
    [InlineData(SbomPackageType.Apk, "libssl3", "3.1.4-r5", "aarch64", "pkg:apk/alpine/libssl3@3.1.4-r5?arch=aarch64")]
    [InlineData(SbomPackageType.NuGet, "Newtonsoft.Json", "13.0.3", null, "pkg:nuget/Newtonsoft.Json@13.0.3")]
    [InlineData(SbomPackageType.NuGet, "Odd Name", "1.0.0-beta+sha.1/x", null, "pkg:nuget/Odd%20Name@1.0.0-beta%2Bsha.1%2Fx")]
    public void A_purl_percent_encodes_all_but_letters_digits_and_dot_dash_underscore_tilde_colon(SbomPackageType type, string name, string version, string? architecture, string purl)
    {
        Assert.Equal(purl, new SbomPackage(type, name, version, architecture, "/x").Purl);
    }

    [Fact]
    public void A_dpkg_status_with_crlf_continuations_and_a_stray_line_keeps_the_good_stanzas_and_warns_of_the_bad()
    {
        var text = "Package: a\r\nVersion: 1\r\nArchitecture: all\r\nDescription: x\r\n more\r\n\r\n"
            + " orphan continuation\nPackage: b\nVersion: 2\n\n"
            + "Package: c\nthis is no field\nVersion: 3\n\n\n\n"
            + "Package: d\nStatus: purge ok not-installed\nVersion: 4\n\n"
            + "Package: e\nStatus: install ok unpacked\nVersion: 5\nArchitecture: amd64";
        var packages = new List<SbomPackage>();
        var warnings = new List<string>();

        PackageDatabases.ReadDpkgStatus(text, "/var/lib/dpkg/status", packages, warnings);

        Assert.Equal(["pkg:deb/debian/a@1?arch=all", "pkg:deb/debian/e@5?arch=amd64"], packages.Select(p => p.Purl));
        Assert.Equal(
            ["/var/lib/dpkg/status:7: skipped a stanza: line 7 continues no field", "/var/lib/dpkg/status:11: skipped a stanza: line 12 is not a field"],
            warnings);
    }

    [Fact]
    public void An_apk_database_takes_the_first_of_repeated_fields_and_ignores_unknown_ones()
    {
        var packages = new List<SbomPackage>();
        var warnings = new List<string>();

        PackageDatabases.ReadApkInstalled("P:musl\nV:1.2.4-r2\nV:9\nZ:Q1x=\nR:lib/libc.musl-x86_64.so.1\n", "/lib/apk/db/installed", packages, warnings);

        Assert.Equal("pkg:apk/alpine/musl@1.2.4-r2", Assert.Single(packages).Purl);
        Assert.Empty(warnings);
    }

    [Fact]
    public void A_deps_json_without_libraries_lists_nothing_and_a_library_name_without_a_version_is_skipped_with_a_warning()
    {
        var packages = new List<SbomPackage>();
        var warnings = new List<string>();

        PackageDatabases.ReadDepsJson("""{ "targets": {} }"""u8.ToArray(), "/a.deps.json", packages, warnings);
        PackageDatabases.ReadDepsJson("""{ "libraries": { "NoVersion": { "type": "package" }, "Ok/1.0": { "type": "package" } } }"""u8.ToArray(), "/b.deps.json", packages, warnings);

        Assert.Equal("pkg:nuget/Ok@1.0", Assert.Single(packages).Purl);
        Assert.Equal(["/b.deps.json: skipped the library 'NoVersion', which is not NAME/VERSION"], warnings);
        var error = Assert.Throws<SbomFormatException>(() => PackageDatabases.ReadDepsJson("""{ "libraries": [] }"""u8.ToArray(), "/c.deps.json", packages, warnings));
        Assert.Equal("'libraries' is not an object", error.Problem);
    }

    [Fact]
    public void The_spdx_schema_check_rejects_a_missing_required_member_and_an_unknown_one()
    {
        var checker = new JsonSchemaChecker(Path.Combine(TestPaths.Conformance, "spdx-2.3"));
        var document = SpdxWriter.Write("x", new Descriptor(MediaTypes.OciManifest, Digest.ComputeSha256("m"u8), 1), DateTimeOffset.UnixEpoch, []);
        Assert.Empty(checker.Check("spdx-schema.json", document));

        var broken = JsonNode.Parse(document)!.AsObject();
        broken.Remove("dataLicense");
        broken["bogus"] = 1;
        var errors = checker.Check("spdx-schema.json", Encoding.UTF8.GetBytes(broken.ToJsonString()));

        Assert.Equal(["$: missing dataLicense", "$.bogus: not allowed (additionalProperties is false)"], errors);
    }
}
