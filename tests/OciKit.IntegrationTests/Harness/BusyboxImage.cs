using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Harness;

/// <summary>
/// A tiny real base image: Debian's static <c>/bin/busybox</c> with a few applet links, <c>/etc/passwd</c> and
/// <c>/etc/group</c> with root and <c>app</c> (1654, the uid .NET images use). Written by the test itself as a
/// gzip tar layer in an OCI image layout (independently of the library under test), and pushed with skopeo.
/// </summary>
public static class BusyboxImage
{
    /// <summary>The applets linked in <c>/bin</c>.</summary>
    public static readonly string[] Applets = ["sh", "ash", "cat", "echo", "env", "id", "ls", "pwd", "sleep", "stat", "true", "wget", "httpd", "nc", "find", "readlink"];

    /// <summary>The uid/gid of the non-root user <c>app</c>.</summary>
    public const int AppUid = 1654;

    /// <summary>Writes the image into a new OCI layout directory, tagged <paramref name="tag"/>.</summary>
    /// <returns>The manifest digest.</returns>
    public static string WriteOciLayout(string layoutDirectory, string tag = "latest")
    {
        var busybox = Tool.Locate("busybox");
        if (!IsStatic(busybox))
        {
            busybox = "/bin/busybox";
        }

        Directory.CreateDirectory(Path.Combine(layoutDirectory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(layoutDirectory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");

        var (layerDigest, layerSize, diffId) = WriteLayer(layoutDirectory, busybox);
        var arch = Platform.Current.Architecture;
        var config = $$"""{"architecture":"{{arch}}","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["{{diffId}}"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"ocikit test fixture: busybox"}]}""";
        var (configDigest, configSize) = WriteBlob(layoutDirectory, Encoding.UTF8.GetBytes(config));
        var manifest = $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{configDigest}}","size":{{configSize}}},"layers":[{"mediaType":"{{MediaTypes.OciLayerGzip}}","digest":"{{layerDigest}}","size":{{layerSize}}}]}""";
        var (manifestDigest, manifestSize) = WriteBlob(layoutDirectory, Encoding.UTF8.GetBytes(manifest));
        var index = $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{manifestDigest}}","size":{{manifestSize}},"annotations":{"org.opencontainers.image.ref.name":"{{tag}}"} }]}""";
        File.WriteAllText(Path.Combine(layoutDirectory, "index.json"), index);
        return manifestDigest;
    }

    /// <summary>Writes the image and pushes it with <c>skopeo copy</c> to <c>REGISTRY/REPOSITORY:TAG</c>.</summary>
    /// <returns>The manifest digest.</returns>
    public static async Task<string> PushAsync(RegistryServer registry, string repository, string tag = "latest", CancellationToken cancellationToken = default)
    {
        using var dir = new TempDir("ocikit-busybox");
        var digest = WriteOciLayout(dir.Path, tag);
        List<string> args = ["copy", "--quiet", "--dest-tls-verify=false"];
        if (registry.Mode != RegistryAuthMode.Anonymous)
        {
            args.Add($"--dest-creds={RegistryServer.User}:{RegistryServer.Password}");
        }

        args.AddRange([$"oci:{dir.Path}:{tag}", $"docker://{registry.Host}/{repository}:{tag}"]);
        await Tool.RunCheckedAsync("skopeo", args, cancellationToken: cancellationToken).ConfigureAwait(false);
        return digest;
    }

    private static bool IsStatic(string path)
    {
        // The dynamically linked busybox needs libc inside the image; the busybox-static package's binary does not.
        var bytes = File.ReadAllBytes(path);
        return !Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096)).Contains("ld-linux", StringComparison.Ordinal);
    }

    private static (string Digest, long Size, string DiffId) WriteLayer(string layout, string busybox)
    {
        var epoch = DateTimeOffset.UnixEpoch;
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            void Dir(string name, UnixFileMode mode = (UnixFileMode)0b111_101_101)
                => writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, name) { Mode = mode, ModificationTime = epoch });

            void FileEntry(string name, byte[] content, UnixFileMode mode, int uid = 0)
                => writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = mode, ModificationTime = epoch, Uid = uid, Gid = uid, DataStream = new MemoryStream(content),
                });

            Dir("bin/");
            FileEntry("bin/busybox", File.ReadAllBytes(busybox), (UnixFileMode)0b111_101_101);
            foreach (var applet in Applets.Order(StringComparer.Ordinal))
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, "bin/" + applet)
                {
                    LinkName = "busybox", Mode = (UnixFileMode)0b111_111_111, ModificationTime = epoch,
                });
            }

            Dir("etc/");
            FileEntry("etc/group", Encoding.ASCII.GetBytes($"root:x:0:\napp:x:{AppUid}:\n"), (UnixFileMode)0b110_100_100);
            FileEntry("etc/passwd", Encoding.ASCII.GetBytes($"root:x:0:0:root:/root:/bin/sh\napp:x:{AppUid}:{AppUid}:app:/home/app:/bin/sh\n"), (UnixFileMode)0b110_100_100);
            Dir("home/");
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "home/app/")
            {
                Mode = (UnixFileMode)0b111_101_101, ModificationTime = epoch, Uid = AppUid, Gid = AppUid,
            });
            Dir("root/", (UnixFileMode)0b111_000_000);
            Dir("tmp/", (UnixFileMode)0b1_111_111_111);
        }

        var diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray()));
        using var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true))
        {
            tar.Position = 0;
            tar.CopyTo(gzip);
        }

        var (digest, size) = WriteBlob(layout, gz.ToArray());
        return (digest, size, diffId);
    }

    private static (string Digest, long Size) WriteBlob(string layout, byte[] content)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", hex), content);
        return ("sha256:" + hex, content.Length);
    }
}
