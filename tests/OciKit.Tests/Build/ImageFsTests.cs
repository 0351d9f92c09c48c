using System.Formats.Tar;
using System.Text;
using OciKit.Build;
using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Tests.Build;

/// <summary>
/// Layers as other tools' tar writers make them, applied as containerd applies them: <c>./</c> and <c>/</c> prefixes,
/// no directory entries, repeated entries, hard links, long names, symlinked directories on the way.
/// </summary>
public class ImageFsTests
{
    private readonly Dictionary<Digest, byte[]> _blobs = [];

    [Theory]
    [InlineData(TarEntryFormat.V7)]
    [InlineData(TarEntryFormat.Ustar)]
    [InlineData(TarEntryFormat.Pax)]
    [InlineData(TarEntryFormat.Gnu)]
    public async Task A_layer_written_by_tar_from_dot_has_its_root_entry_skipped_and_its_names_cleaned(TarEntryFormat format)
    {
        var layer = Layer(format, w =>
        {
            Dir(w, format, "./", mode: 0x1C0); // 0700, as a mktemp -d root would be
            Dir(w, format, "./bin/");
            File(w, format, "./bin/tool", "tool", mode: 0x1ED);
            File(w, format, "/etc//hosts", "hosts");
            File(w, format, "etc/./a/../motd", "motd");
        });

        var fs = await LoadAsync(layer);

        Assert.Equal((UnixFileMode)0x1ED, fs.RootNode.Mode);
        Assert.Equal(["bin", "etc"], fs.ListExact(""));
        Assert.Equal(LayerEntryType.File, fs.GetExact("bin/tool")!.Type);
        Assert.Equal((UnixFileMode)0x1ED, fs.GetExact("bin/tool")!.Mode);
        Assert.Equal(["hosts", "motd"], fs.ListExact("etc"));
        Assert.Equal("hosts", await ReadAsync(fs, "etc/hosts"));
    }

    [Fact]
    public async Task Parents_never_listed_exist_as_root_owned_0755_directories()
    {
        var fs = await LoadAsync(Layer(TarEntryFormat.Ustar, w => File(w, TarEntryFormat.Ustar, "usr/share/doc/x", "x")));

        foreach (var directory in new[] { "usr", "usr/share", "usr/share/doc" })
        {
            var node = fs.GetExact(directory)!;
            Assert.True(node.IsDirectory, directory);
            Assert.Equal((UnixFileMode)0x1ED, node.Mode);
            Assert.Equal(0, node.Uid);
        }
    }

    [Fact]
    public async Task A_repeated_entry_is_replaced_by_the_last_and_a_directory_over_a_directory_keeps_its_children()
    {
        var fs = await LoadAsync(Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "f", "first");
            Dir(w, TarEntryFormat.Pax, "d", mode: 0x1ED);
            File(w, TarEntryFormat.Pax, "d/child", "c");
            File(w, TarEntryFormat.Pax, "./f", "second");
            Dir(w, TarEntryFormat.Pax, "d/", mode: 0x1C0, uid: 7);
            Dir(w, TarEntryFormat.Pax, "gone");
            File(w, TarEntryFormat.Pax, "gone/child", "c");
            File(w, TarEntryFormat.Pax, "gone", "now a file");
        }));

        Assert.Equal("second", await ReadAsync(fs, "f"));
        Assert.Equal((UnixFileMode)0x1C0, fs.GetExact("d")!.Mode);
        Assert.Equal(7, fs.GetExact("d")!.Uid);
        Assert.Equal(["child"], fs.ListExact("d"));
        Assert.Equal(LayerEntryType.File, fs.GetExact("gone")!.Type);
        Assert.Null(fs.GetExact("gone/child"));
        Assert.Equal("now a file", await ReadAsync(fs, "gone"));
    }

    [Theory]
    [InlineData(TarEntryFormat.Ustar, "./bin/busybox")]
    [InlineData(TarEntryFormat.Gnu, "bin/busybox")]
    [InlineData(TarEntryFormat.Pax, "/bin/busybox")]
    public async Task Hard_links_share_the_earlier_file_whatever_the_spelling_of_the_target(TarEntryFormat format, string target)
    {
        var fs = await LoadAsync(Layer(format, w =>
        {
            File(w, format, "./bin/busybox", "the binary", mode: 0x1ED);
            Link(w, format, TarEntryType.HardLink, "./bin/sh", target);
        }));

        var sh = fs.GetExact("bin/sh")!;
        Assert.Equal(LayerEntryType.File, sh.Type);
        Assert.NotNull(sh.HardLinkKey);
        Assert.Equal(fs.GetExact("bin/busybox")!.HardLinkKey, sh.HardLinkKey);
        Assert.Equal("the binary", await ReadAsync(fs, "bin/sh"));
    }

    [Fact]
    public async Task A_hard_link_to_nothing_or_to_a_directory_is_a_typed_error_naming_the_layer()
    {
        var dangling = Layer(TarEntryFormat.Ustar, w => Link(w, TarEntryFormat.Ustar, TarEntryType.HardLink, "a", "missing"));
        var error = await Assert.ThrowsAsync<OciFormatException>(() => LoadAsync(dangling));
        Assert.Contains("'a' names 'missing'", error.Message, StringComparison.Ordinal);
        Assert.Contains(Digest.ComputeSha256(dangling).ToString(), error.Message, StringComparison.Ordinal);

        var toDirectory = Layer(TarEntryFormat.Ustar, w =>
        {
            Dir(w, TarEntryFormat.Ustar, "d");
            Link(w, TarEntryFormat.Ustar, TarEntryType.HardLink, "a", "d");
        });
        await Assert.ThrowsAsync<OciFormatException>(() => LoadAsync(toDirectory));
    }

    [Fact]
    public async Task A_hard_link_written_before_its_target_is_tolerated()
    {
        var fs = await LoadAsync(Layer(TarEntryFormat.Pax, w =>
        {
            Link(w, TarEntryFormat.Pax, TarEntryType.HardLink, "a-link", "z-file");
            File(w, TarEntryFormat.Pax, "z-file", "z");
        }));

        Assert.Equal("z", await ReadAsync(fs, "a-link"));
    }

    [Theory]
    [InlineData(TarEntryFormat.Gnu)]
    [InlineData(TarEntryFormat.Pax)]
    public async Task Long_names_and_long_link_targets_are_read_whole(TarEntryFormat format)
    {
        var deep = "./" + string.Join('/', Enumerable.Range(0, 12).Select(i => $"directory-number-{i:D2}")) + "/file-with-a-long-name.txt";
        var fs = await LoadAsync(Layer(format, w =>
        {
            File(w, format, deep, "deep");
            Link(w, format, TarEntryType.SymbolicLink, "short", "/" + deep[2..]);
            Link(w, format, TarEntryType.HardLink, "hard", deep);
        }));

        Assert.True(deep.Length > 200);
        Assert.Equal("deep", await ReadAsync(fs, deep[2..]));
        Assert.Equal("/" + deep[2..], fs.GetExact("short")!.LinkTarget);
        Assert.Equal("deep", await ReadAsync(fs, "hard"));
    }

    [Fact]
    public async Task Entries_under_a_symlinked_directory_land_where_the_link_points_and_stay_inside_the_root()
    {
        var lower = Layer(TarEntryFormat.Pax, w =>
        {
            Dir(w, TarEntryFormat.Pax, "usr/lib");
            File(w, TarEntryFormat.Pax, "usr/lib/old", "old");
            Link(w, TarEntryFormat.Pax, TarEntryType.SymbolicLink, "lib", "usr/lib");
            Link(w, TarEntryFormat.Pax, TarEntryType.SymbolicLink, "escape", "../../../../outside");
        });
        var upper = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "./lib/new", "new");
            File(w, TarEntryFormat.Pax, "lib/.wh.old", "");
            File(w, TarEntryFormat.Pax, "escape/inside", "confined");
        });

        var fs = await LoadAsync(lower, upper);

        Assert.Equal(LayerEntryType.Symlink, fs.GetExact("lib")!.Type);
        Assert.Equal(["new"], fs.ListExact("usr/lib"));
        Assert.Equal("new", await ReadAsync(fs, "usr/lib/new"));
        Assert.Null(fs.GetExact("lib/new"));
        // "../../../../outside" resolves inside the root, as in a chroot: the entry lands in /outside.
        Assert.Equal("confined", await ReadAsync(fs, "outside/inside"));
    }

    [Fact]
    public async Task A_whiteout_and_an_opaque_marker_under_a_symlinked_directory_act_on_the_directory_it_points_to()
    {
        var lower = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "real/a", "a");
            File(w, TarEntryFormat.Pax, "real/b", "b");
            Link(w, TarEntryFormat.Pax, TarEntryType.SymbolicLink, "alias", "/real");
        });
        var upper = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "alias/.wh..wh..opq", "");
            File(w, TarEntryFormat.Pax, "alias/c", "c");
        });

        var fs = await LoadAsync(lower, upper);

        Assert.Equal(["c"], fs.ListExact("real"));
        Assert.Equal(LayerEntryType.Symlink, fs.GetExact("alias")!.Type);
    }

    [Fact]
    public async Task An_opaque_marker_keeps_what_its_own_layer_wrote_before_it_as_containerd_does()
    {
        // A writer that sorts names puts "dir/-x" before "dir/.wh..wh..opq" ('-' sorts before '.'); containerd's
        // applier, and the on-disk one of container root file systems, keep what the layer wrote before the marker
        // and, inside directories it wrote, remove only what it did not write.
        var lower = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "dir/old", "old");
            File(w, TarEntryFormat.Pax, "dir/-x/old", "old");
        });
        var upper = Layer(TarEntryFormat.Pax, w =>
        {
            Dir(w, TarEntryFormat.Pax, "dir/-x");
            File(w, TarEntryFormat.Pax, "dir/-x/new", "new");
            File(w, TarEntryFormat.Pax, "dir/.wh..wh..opq", "");
            File(w, TarEntryFormat.Pax, "dir/z", "z");
        });

        var fs = await LoadAsync(lower, upper);

        Assert.Equal(["-x", "z"], fs.ListExact("dir").Order(StringComparer.Ordinal));
        Assert.Equal(["new"], fs.ListExact("dir/-x"));
    }

    [Fact]
    public async Task An_opaque_marker_at_the_top_level_hides_everything_below_it()
    {
        var lower = Layer(TarEntryFormat.Pax, w => File(w, TarEntryFormat.Pax, "old", "old"));
        var upper = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "./.wh..wh..opq", "");
            File(w, TarEntryFormat.Pax, "new", "new");
        });

        Assert.Equal(["new"], (await LoadAsync(lower, upper)).ListExact(""));
    }

    [Fact]
    public async Task An_entry_whose_parent_is_a_file_is_a_typed_error()
    {
        var layer = Layer(TarEntryFormat.Pax, w =>
        {
            File(w, TarEntryFormat.Pax, "etc/passwd", "root:x:0:0::/root:/bin/sh");
            File(w, TarEntryFormat.Pax, "etc/passwd/evil", "x");
        });

        var error = await Assert.ThrowsAsync<LayerPathException>(() => LoadAsync(layer));
        Assert.Equal("etc/passwd/evil", error.Path);
        Assert.Contains("'etc/passwd' is not a directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_symlink_loop_on_the_way_is_a_typed_error_naming_the_path()
    {
        var layer = Layer(TarEntryFormat.Pax, w =>
        {
            Link(w, TarEntryFormat.Pax, TarEntryType.SymbolicLink, "a", "b");
            Link(w, TarEntryFormat.Pax, TarEntryType.SymbolicLink, "b", "a");
            File(w, TarEntryFormat.Pax, "a/x", "x");
        });

        var error = await Assert.ThrowsAsync<SymlinkLoopException>(() => LoadAsync(layer));
        Assert.Equal("a", error.Path);
        Assert.IsAssignableFrom<OciException>(error);
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("/../evil")]
    [InlineData("a/../../evil")]
    public async Task Names_climbing_above_the_root_stay_errors(string name)
    {
        var layer = Layer(TarEntryFormat.Pax, w => File(w, TarEntryFormat.Pax, name, "x"));
        var error = await Assert.ThrowsAsync<LayerPathException>(() => LoadAsync(layer));
        Assert.Equal(name, error.Path);
    }

    private async Task<ImageFs> LoadAsync(params byte[][] layers)
    {
        var descriptors = layers.Select(l =>
        {
            var digest = Digest.ComputeSha256(l);
            _blobs[digest] = l;
            return new Descriptor(MediaTypes.OciLayer, digest, l.Length);
        }).ToList();
        return await ImageFs.LoadAsync(descriptors, d => new MemoryStream(_blobs[d.Digest], writable: false), CancellationToken.None);
    }

    private async Task<string> ReadAsync(ImageFs fs, string path)
    {
        var resolved = fs.Resolve(path, followFinal: true);
        var scratch = Directory.CreateTempSubdirectory("ocikit-imagefs-").FullName;
        try
        {
            await fs.MaterializeAsync([resolved], d => new MemoryStream(_blobs[d.Digest], writable: false), scratch, CancellationToken.None);
            var node = fs.GetExact(resolved) ?? throw new InvalidOperationException($"'{path}' does not exist");
            using var stream = node.Open!();
            using var reader = new StreamReader(stream);
            return await reader.ReadToEndAsync();
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static byte[] Layer(TarEntryFormat format, Action<TarWriter> write)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, format, leaveOpen: true))
        {
            write(writer);
        }

        return tar.ToArray();
    }

    private static TarEntry Entry(TarEntryFormat format, TarEntryType type, string name) => format switch
    {
        TarEntryFormat.V7 => new V7TarEntry(type == TarEntryType.RegularFile ? TarEntryType.V7RegularFile : type, name),
        TarEntryFormat.Ustar => new UstarTarEntry(type, name),
        TarEntryFormat.Pax => new PaxTarEntry(type, name),
        _ => new GnuTarEntry(type, name),
    };

    private static void Dir(TarWriter writer, TarEntryFormat format, string name, int mode = 0x1ED, int uid = 0)
    {
        var entry = Entry(format, TarEntryType.Directory, name);
        entry.Mode = (UnixFileMode)mode;
        entry.Uid = uid;
        writer.WriteEntry(entry);
    }

    private static void File(TarWriter writer, TarEntryFormat format, string name, string content, int mode = 0x1A4)
    {
        var entry = Entry(format, TarEntryType.RegularFile, name);
        entry.Mode = (UnixFileMode)mode;
        entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        writer.WriteEntry(entry);
    }

    private static void Link(TarWriter writer, TarEntryFormat format, TarEntryType type, string name, string target)
    {
        var entry = Entry(format, type, name);
        entry.LinkName = target;
        writer.WriteEntry(entry);
    }
}
