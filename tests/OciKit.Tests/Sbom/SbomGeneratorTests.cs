using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Registry;
using OciKit.Sbom;
using OciKit.Testing;
using OciKit.Tests.Images;
using OciKit.Transfer;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Sbom;

/// <summary>SBOMs of small images written into a layout: what they list, that they validate as SPDX 2.3, that they are reproducible.</summary>
public sealed class SbomGeneratorTests : IDisposable
{
    private const string DpkgStatus = """
        Package: libc6
        Status: install ok installed
        Priority: optional
        Architecture: amd64
        Version: 2.36-9+deb12u4
        Description: GNU C Library: Shared libraries
         Contains the standard libraries that are used by nearly all programs on
         the system.

        Package: oldpkg
        Status: deinstall ok config-files
        Architecture: amd64
        Version: 0.9-1

        Package: broken
        Status: install ok installed
        Architecture: amd64

        Package: zlib1g
        Status: install ok installed
        Architecture: amd64
        Version: 1:1.2.13.dfsg-1

        Package: base-files
        Status: install ok installed
        Architecture: amd64
        Version: 12.4+deb12u5

        """;

    private const string ApkInstalled = """
        C:Q1abc=
        P:musl
        V:1.2.4-r2
        A:x86_64
        T:the musl c library (libc) implementation

        P:novalue
        A:x86_64

        P:busybox
        V:1.36.1-r15
        A:x86_64
        """;

    private const string AppDeps = """
        {
          "runtimeTarget": { "name": ".NETCoreApp,Version=v8.0" },
          "libraries": {
            "app/1.0.0": { "type": "project", "serviceable": false, "sha512": "" },
            "Newtonsoft.Json/13.0.3": { "type": "package", "serviceable": true, "sha512": "sha512-x" },
            "System.Text.Json/8.0.0": { "type": "package", "serviceable": true, "sha512": "sha512-y" },
            "Some.Reference/1.0.0": { "type": "reference" }
          }
        }
        """;

    private const string ToolDeps = """
        { "libraries": { "Serilog/3.1.1": { "type": "package" }, "Newtonsoft.Json/13.0.3": { "type": "package" } } }
        """;

    private static readonly string[] ExpectedPurls =
    [
        "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64",
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64",
        "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64",
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64",
        "pkg:nuget/Newtonsoft.Json@13.0.3",
        "pkg:nuget/Serilog@3.1.1",
        "pkg:nuget/System.Text.Json@8.0.0",
    ];

    private static readonly JsonSchemaChecker Spdx = new(Path.Combine(TestPaths.Conformance, "spdx-2.3"));

    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-sbom-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_image_with_dpkg_apk_and_deps_json_lists_exactly_its_installed_packages_and_validates_as_spdx_2_3()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        var image = await StoreAsync(layout, "app:1", new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), await StandardLayers());

        var result = await new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "app:1"), new SbomOptions { ImageName = "example.com/app" });

        Assert.Equal(image.Digest, result.Image.Digest);
        Assert.Equal(ExpectedPurls, result.Packages.Select(p => p.Purl));
        Assert.Equal(
            ["/lib/apk/db/installed", "/lib/apk/db/installed", "/var/lib/dpkg/status", "/var/lib/dpkg/status", "/var/lib/dpkg/status", "/app/app.deps.json", "/usr/lib2/tool.deps.json", "/app/app.deps.json"],
            result.Packages.Select(p => p.Location));
        Assert.Collection(
            result.Warnings,
            w => Assert.Equal("/lib/apk/db/installed:7: skipped a record without V", w),
            w => Assert.Equal("/var/lib/dpkg/status:15: skipped a stanza without Version", w));
        Assert.Empty(Spdx.Check("spdx-schema.json", result.Json.Span));

        using var json = JsonDocument.Parse(result.Json);
        var root = json.RootElement;
        Assert.Equal("SPDX-2.3", root.GetProperty("spdxVersion").GetString());
        Assert.Equal("example.com/app", root.GetProperty("name").GetString());
        Assert.Equal($"https://spdx.org/spdxdocs/ocikit-image-sha256-{image.Digest.Encoded}", root.GetProperty("documentNamespace").GetString());
        Assert.Equal("2024-01-02T03:04:05Z", root.GetProperty("creationInfo").GetProperty("created").GetString());
        var packages = root.GetProperty("packages").EnumerateArray().ToList();
        Assert.Equal(9, packages.Count);
        Assert.Equal("SPDXRef-Image", packages[0].GetProperty("SPDXID").GetString());
        Assert.Equal("CONTAINER", packages[0].GetProperty("primaryPackagePurpose").GetString());
        Assert.Equal(image.Digest.Encoded, packages[0].GetProperty("checksums")[0].GetProperty("checksumValue").GetString());
        Assert.Equal(ExpectedPurls, packages.Skip(1).Select(p => p.GetProperty("externalRefs")[0].GetProperty("referenceLocator").GetString()));
        Assert.Equal("1:1.2.13.dfsg-1", packages.Single(p => p.GetProperty("name").GetString() == "zlib1g").GetProperty("versionInfo").GetString());

        var relationships = root.GetProperty("relationships").EnumerateArray()
            .Select(r => (r.GetProperty("spdxElementId").GetString(), r.GetProperty("relationshipType").GetString(), r.GetProperty("relatedSpdxElement").GetString()))
            .ToList();
        Assert.Equal(((string?)"SPDXRef-DOCUMENT", (string?)"DESCRIBES", (string?)"SPDXRef-Image"), relationships[0]);
        Assert.Equal(
            packages.Skip(1).Select(p => ((string?)"SPDXRef-Image", (string?)"CONTAINS", p.GetProperty("SPDXID").GetString())),
            relationships.Skip(1));
        Assert.Equal(9, packages.Select(p => p.GetProperty("SPDXID").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task The_same_image_gives_the_same_bytes_from_a_layout_and_from_an_archive_and_without_a_created_time_takes_the_fallback()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        await StoreAsync(layout, "app:1", created: null, await StandardLayers());
        var options = new SbomOptions { ImageName = "app", SourceDateEpoch = DateTimeOffset.FromUnixTimeSeconds(1700000000) };
        var generator = new SbomGenerator();

        var first = await generator.GenerateAsync(new OciLayoutImageSource(layout, "app:1"), options);
        var second = await generator.GenerateAsync(new OciLayoutImageSource(layout, "app:1"), options);
        var archive = Path.Combine(_dir, "app.oci.tar");
        using var client = new RegistryClient();
        await new ImageCopier(client).CopyAsync(new OciLayoutImageSource(layout, "app:1"), new OciArchiveImageSink(archive, "app:1"));
        SbomResult fromArchive;
        await using (var source = await OciArchiveImageSource.OpenAsync(archive))
        {
            fromArchive = await generator.GenerateAsync(source, options);
        }

        Assert.Equal(first.Json.ToArray(), second.Json.ToArray());
        Assert.Equal(first.Json.ToArray(), fromArchive.Json.ToArray());
        Assert.Contains("\"created\": \"2023-11-14T22:13:20Z\"", Encoding.UTF8.GetString(first.Json.Span), StringComparison.Ordinal);
        Assert.Equal(ExpectedPurls, fromArchive.Packages.Select(p => p.Purl));
    }

    [Fact]
    public async Task An_image_without_package_databases_lists_only_itself_and_without_any_time_is_dated_at_the_epoch()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        await StoreAsync(layout, "empty:1", created: null, [await LayerAsync(TextFile("etc/hostname", "x\n"))]);

        var result = await new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "empty:1"));

        Assert.Empty(result.Packages);
        Assert.Empty(result.Warnings);
        Assert.Empty(Spdx.Check("spdx-schema.json", result.Json.Span));
        using var json = JsonDocument.Parse(result.Json);
        Assert.Equal("1970-01-01T00:00:00Z", json.RootElement.GetProperty("creationInfo").GetProperty("created").GetString());
        Assert.Single(json.RootElement.GetProperty("packages").EnumerateArray());
        Assert.Single(json.RootElement.GetProperty("relationships").EnumerateArray());
    }

    [Fact]
    public async Task A_distroless_image_lists_each_control_file_of_dpkg_status_d_and_skips_their_checksum_lists()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        await StoreAsync(layout, "distroless:1", created: null, [await LayerAsync(
            TextFile("var/lib/dpkg/status.d/base", "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"),
            TextFile("var/lib/dpkg/status.d/libc6", "Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: arm64\n"),
            TextFile("var/lib/dpkg/status.d/libc6.md5sums", "0123456789abcdef0123456789abcdef  lib/aarch64-linux-gnu/libc.so.6\n"))]);

        var result = await new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "distroless:1"));

        Assert.Equal(["pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=arm64"], result.Packages.Select(p => p.Purl));
        Assert.Equal(["/var/lib/dpkg/status.d/base", "/var/lib/dpkg/status.d/libc6"], result.Packages.Select(p => p.Location));
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public async Task From_an_index_the_platform_asked_for_is_described_and_becomes_the_subject()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        var amd64 = await StoreAsync(layout, "amd64", created: null, [await LayerAsync(TextFile("lib/apk/db/installed", "P:musl\nV:1\nA:x86_64\n"))]);
        var arm64 = await StoreAsync(layout, "arm64", created: null, [await LayerAsync(TextFile("lib/apk/db/installed", "P:musl\nV:1\nA:aarch64\n"))]);
        var index = ManifestDocument.FromIndex(new ImageIndex([amd64 with { Platform = Platform.LinuxAmd64 }, arm64 with { Platform = Platform.LinuxArm64 }]));
        await layout.TagAsync("multi:1", await layout.WriteManifestAsync(index));

        var result = await new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "multi:1"), new SbomOptions { Platform = Platform.LinuxArm64 });

        Assert.Equal(arm64.Digest, result.Image.Digest);
        Assert.Equal("pkg:apk/alpine/musl@1?arch=aarch64", Assert.Single(result.Packages).Purl);
        await Assert.ThrowsAsync<ImageNotFoundException>(() => new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "multi:1"), new SbomOptions { Platform = Platform.Parse("linux/s390x") }));
    }

    [Fact]
    public async Task A_deps_json_that_is_not_json_fails_with_a_typed_error_naming_the_file()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        await StoreAsync(layout, "bad:1", created: null, [await LayerAsync(TextFile("app/bad.deps.json", "{ \"libraries\": { "))]);

        var error = await Assert.ThrowsAsync<SbomFormatException>(() => new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "bad:1")));

        Assert.Equal("/app/bad.deps.json", error.Path);
        Assert.Equal(FailureKind.Content, error.Kind);
        Assert.StartsWith("Invalid package database /app/bad.deps.json: not JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_artifact_is_refused_as_not_an_image()
    {
        var layout = await OciLayout.OpenAsync(Path.Combine(_dir, "layout"));
        var empty = await layout.WriteBlobAsync("{}"u8.ToArray(), MediaTypes.OciEmpty);
        var blob = await layout.WriteBlobAsync("{}"u8.ToArray(), MediaTypes.SpdxJson);
        var artifact = ManifestDocument.FromManifest(new ImageManifest(empty, [blob]) { ArtifactType = MediaTypes.SpdxJson });
        await layout.TagAsync("artifact:1", await layout.WriteManifestAsync(artifact));

        var error = await Assert.ThrowsAsync<NotSupportedException>(() => new SbomGenerator().GenerateAsync(new OciLayoutImageSource(layout, "artifact:1")));

        Assert.Contains(MediaTypes.SpdxJson, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Two layers: the databases, an old deps.json and a symlinked directory; then (a tar written by hand, without the
    /// parent directory entries OciKit's writer adds) the old deps.json deleted and a deps.json written through the
    /// symlink, which lands in its target as containerd applies it.
    /// </summary>
    private static async Task<List<(byte[] Blob, string MediaType, Digest DiffId)>> StandardLayers() =>
    [
        await LayerAsync(
            TextFile("var/lib/dpkg/status", DpkgStatus),
            TextFile("lib/apk/db/installed", ApkInstalled),
            TextFile("app/app.deps.json", AppDeps),
            TextFile("app/old.deps.json", """{ "libraries": { "Deleted.Package/1.0.0": { "type": "package" } } }"""),
            LayerEntry.Directory("usr/lib2"),
            LayerEntry.Symlink("lib2", "usr/lib2"),
            LayerEntry.Symlink("app/link.deps.json", "app.deps.json")),
        RawLayer(("app/.wh.old.deps.json", ""), ("lib2/tool.deps.json", ToolDeps)),
    ];

    private static async Task<(byte[] Blob, string MediaType, Digest DiffId)> LayerAsync(params LayerEntry[] entries)
    {
        var (info, blob) = await BuildAsync(entries);
        return (blob, info.Descriptor.MediaType, info.DiffId);
    }

    private static (byte[] Blob, string MediaType, Digest DiffId) RawLayer(params (string Path, string Content)[] files)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, path)
                {
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                });
            }
        }

        var bytes = tar.ToArray();
        return (bytes, MediaTypes.OciLayer, Digest.ComputeSha256(bytes));
    }

    internal static async Task<Descriptor> StoreAsync(OciLayout layout, string name, DateTimeOffset? created, IEnumerable<(byte[] Blob, string MediaType, Digest DiffId)> layers)
    {
        var image = Image.Scratch(Platform.LinuxAmd64).WithCreated(created);
        foreach (var (blob, mediaType, diffId) in layers)
        {
            var descriptor = await layout.WriteBlobAsync(blob, mediaType);
            image = image.AppendLayer(descriptor, diffId);
        }

        return await layout.WriteImageAsync(image.Build(), name);
    }
}
