using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciKit.Execution;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Execution;

/// <summary>
/// A tree prepared by <see cref="ContainerRootfs"/> (both modes) against what <c>umoci unpack</c> gives
/// for the same image: layers written by GNU tar (owners, set-uid, hard links, symlinks leading out, a device, a FIFO,
/// extended attributes, whiteouts, an opaque directory, entries under a directory symlink), and the busybox base.
/// </summary>
public sealed class RootfsPeerTests : IDisposable
{
    private readonly TempDir _dir = new("ocikit-rootfs-peer");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(RootfsMode.Copy)]
    [InlineData(RootfsMode.Overlay)]
    public async Task AGnuTarImageIsPreparedAsUmociUnpacksIt(RootfsMode mode)
    {
        await CompareWithUmociAsync(await GnuTarImageAsync(), "t", mode);
    }

    [Fact]
    public async Task AGnuTarImageIsPreparedAsBuildahMountsIt()
    {
        var layout = await GnuTarImageAsync();
        using var tools = new ContainerTools();

        // buildah names the image after the layout's path, which must be lowercase.
        var lowercase = Path.Combine(Path.GetTempPath(), "ocikit-rootfs-" + Guid.NewGuid().ToString("N"));
        File.CreateSymbolicLink(lowercase, layout);
        string container;
        try
        {
            container = (await tools.BuildahAsync(["from", "--pull-never", "oci:" + lowercase + ":t"])).EnsureSuccess().StdOut.Trim();
        }
        finally
        {
            File.Delete(lowercase);
        }

        var mounted = (await tools.BuildahAsync(["mount", container])).EnsureSuccess().StdOut.Trim();
        try
        {
            var expected = Describe(mounted);
            Assert.NotEmpty(expected);
            var rootfs = await ContainerRootfs.PrepareAsync(
                ReadLayers(layout, "t"),
                (d, _) => Task.FromResult<Stream>(File.OpenRead(Path.Combine(layout, "blobs", d.Digest.Algorithm, d.Digest.Encoded))),
                new RootfsOptions { WorkDirectory = _dir.Combine("work-buildah") });
            await using (rootfs)
            {
                Assert.Equal(expected, Describe(rootfs.Path));
            }
        }
        finally
        {
            await tools.BuildahAsync(["umount", container]);
            await tools.BuildahAsync(["rm", container]);
        }
    }

    /// <summary>A two-layer image written by GNU tar and assembled by umoci, in an OCI layout tagged <c>t</c>.</summary>
    private async Task<string> GnuTarImageAsync()
    {
        var script = """
            set -e
            mkdir -p src1/etc src1/bin src1/usr/lib src1/home/app src1/dev src1/hidden src1/opt/d
            echo a > src1/etc/conf; echo b > src1/etc/other
            echo tool > src1/bin/tool; chmod 4755 src1/bin/tool; ln src1/bin/tool src1/bin/tool-link
            ln -s usr/lib src1/lib; ln -s /../../../.. src1/escape; ln -s /etc src1/absolute
            echo h > src1/home/app/file; chown -R 1000:1000 src1/home/app; chmod 700 src1/home/app
            mknod src1/dev/null c 1 3; chmod 666 src1/dev/null; mkfifo src1/pipe
            echo 1 > src1/hidden/one; echo d > src1/opt/d/inner
            python3 -c 'import os; os.setxattr("src1/etc/conf", "user.note", b"kept")'
            tar --xattrs --xattrs-include='user.*' --numeric-owner -C src1 -cf layer1.tar .
            mkdir -p src2/etc src2/hidden src2/lib src2/escape src2/absolute
            touch src2/etc/.wh.other src2/hidden/.wh..wh..opq
            echo 3 > src2/hidden/three; echo t > src2/lib/through; echo o > src2/escape/outside; echo v > src2/absolute/via
            tar --numeric-owner -C src2 --no-recursion -cf layer2.tar etc/.wh.other hidden/.wh..wh..opq hidden/three lib/through escape/outside absolute/via
            umoci init --layout image
            umoci new --image image:t
            umoci raw add-layer --image image:t layer1.tar
            umoci raw add-layer --image image:t layer2.tar
            """;
        await Tool.RunCheckedAsync("sh", ["-c", "cd " + _dir.Path + " && " + script]);
        return Path.Combine(_dir.Path, "image");
    }

    [Theory]
    [InlineData(RootfsMode.Copy)]
    [InlineData(RootfsMode.Overlay)]
    public async Task TheBusyboxImageIsPreparedAsUmociUnpacksIt(RootfsMode mode)
    {
        var layout = _dir.Combine("busybox");
        BusyboxImage.WriteOciLayout(layout, "t");
        await CompareWithUmociAsync(layout, "t", mode);
    }

    private async Task CompareWithUmociAsync(string layout, string tag, RootfsMode mode)
    {
        var bundle = _dir.Combine("bundle-" + mode);
        await Tool.RunCheckedAsync("umoci", ["unpack", "--image", layout + ":" + tag, bundle]);
        var layers = ReadLayers(layout, tag);
        var rootfs = await ContainerRootfs.PrepareAsync(
            layers,
            (d, _) => Task.FromResult<Stream>(File.OpenRead(Path.Combine(layout, "blobs", d.Digest.Algorithm, d.Digest.Encoded))),
            new RootfsOptions { WorkDirectory = _dir.Combine("work-" + mode), Mode = mode });
        await using (rootfs)
        {
            Assert.Equal(mode, rootfs.Mode);
            var expected = Describe(Path.Combine(bundle, "rootfs"));
            Assert.NotEmpty(expected);
            Assert.Equal(expected, Describe(rootfs.Path));
        }
    }

    internal static List<Descriptor> ReadLayers(string layout, string tag)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var manifestDigest = index.RootElement.GetProperty("manifests").EnumerateArray()
            .First(m => m.TryGetProperty("annotations", out var a) && a.GetProperty("org.opencontainers.image.ref.name").GetString() == tag)
            .GetProperty("digest").GetString()!;
        var digest = Digest.Parse(manifestDigest);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "blobs", digest.Algorithm, digest.Encoded)));
        return manifest.RootElement.GetProperty("layers").EnumerateArray()
            .Select(l => new Descriptor(l.GetProperty("mediaType").GetString()!, Digest.Parse(l.GetProperty("digest").GetString()!), l.GetProperty("size").GetInt64()))
            .ToList();
    }

    /// <summary>Every path below a root (walked by lstat, never through a link): type, mode, owner, size, sha256 or link target, device, link count, user xattrs.</summary>
    internal static SortedDictionary<string, string> Describe(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>([root]);
        while (pending.Count > 0)
        {
            foreach (var full in Directory.EnumerateFileSystemEntries(pending.Pop()))
            {
                var status = RootfsNative.Lstat(full);
                var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{status.Mode:x} {status.Uid}:{status.Gid}");
                if (status.IsDirectory)
                {
                    pending.Push(full);
                }
                else if (status.IsRegular)
                {
                    text.Append(CultureInfo.InvariantCulture, $" {status.Size} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full)))} n{status.Nlink}");
                }
                else if (status.IsSymlink)
                {
                    text.Append(" -> ").Append(RootfsNative.ReadLink(full));
                }
                else
                {
                    text.Append(CultureInfo.InvariantCulture, $" dev {status.Major},{status.Minor}");
                }

                foreach (var (name, value) in RootfsNative.GetXattrs(full, n => n.StartsWith("user.", StringComparison.Ordinal)))
                {
                    text.Append(' ').Append(name).Append('=').Append(Encoding.UTF8.GetString(value));
                }

                result["/" + Path.GetRelativePath(root, full)] = text.ToString();
            }
        }

        return result;
    }
}
