using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using OciKit.Build;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Tests.Build;

/// <summary>Builds FROM, and COPY --from, images whose layers another tool's tar writer made.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ForeignBaseTests : IDisposable
{
    private readonly BuildFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task FROM_and_COPY_from_an_image_whose_layer_tar_wrote_from_dot_work()
    {
        await StoreImageAsync("tarred:1", w =>
        {
            Write(w, TarEntryType.Directory, "./", mode: 0x1C0);
            Write(w, TarEntryType.Directory, "./bin/");
            Write(w, TarEntryType.RegularFile, "./bin/tool", "tool", mode: 0x1ED);
            Write(w, TarEntryType.HardLink, "./bin/tool-link", link: "./bin/tool");
            Write(w, TarEntryType.RegularFile, "./etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        });
        _f.Write("a.txt", "a");

        await _f.BuildAsync("FROM tarred:1\nCOPY --chown=app a.txt /home/app/\nFROM scratch\nCOPY --from=tarred:1 /bin/tool-link /t\nCOPY --from=0 /home/app/a.txt /a");

        var (_, files) = await _f.ReadAsync();
        Assert.Equal("tool", files["t"].Content);
        Assert.Equal((UnixFileMode)0x1ED, files["t"].Mode);
        Assert.Equal("a", files["a"].Content);
        Assert.Equal(1000, files["a"].Uid);
    }

    [Fact]
    public async Task COPY_through_a_symlink_loop_of_a_base_image_is_a_typed_error_with_the_line()
    {
        await StoreImageAsync("loop:1", w =>
        {
            Write(w, TarEntryType.SymbolicLink, "a", link: "b");
            Write(w, TarEntryType.SymbolicLink, "b", link: "a");
        });
        _f.Write("f", "f");

        var fromImage = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nCOPY --from=loop:1 /a/x /x"));
        Assert.Equal(2, fromImage.Line);
        Assert.IsType<OciKit.Layers.SymlinkLoopException>(fromImage.InnerException);
        Assert.Contains("symbolic links", fromImage.Message, StringComparison.Ordinal);

        var intoImage = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM loop:1\nENV X=1\nCOPY f /a/f"));
        Assert.Equal(3, intoImage.Line);
        Assert.IsType<OciKit.Layers.SymlinkLoopException>(intoImage.InnerException);
    }

    private async Task StoreImageAsync(string name, Action<TarWriter> write)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Gnu, leaveOpen: true))
        {
            write(writer);
        }

        var gzip = new MemoryStream();
        using (var compressor = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(tar.ToArray());
        }

        var store = await OciLayout.OpenAsync(_f.Store);
        var layer = await store.WriteBlobAsync(gzip.ToArray(), MediaTypes.DockerLayerGzip);
        var image = Image.Scratch(Platform.LinuxAmd64, MediaTypes.DockerManifest).AppendLayer(layer, Digest.ComputeSha256(tar.ToArray()));
        await store.WriteImageAsync(image.Build(), name);
    }

    private static void Write(TarWriter writer, TarEntryType type, string name, string? content = null, string? link = null, int mode = 0x1A4)
    {
        var entry = new GnuTarEntry(type, name) { Mode = (UnixFileMode)mode };
        if (content is not null)
        {
            entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        }

        if (link is not null)
        {
            entry.LinkName = link;
        }

        writer.WriteEntry(entry);
    }
}
