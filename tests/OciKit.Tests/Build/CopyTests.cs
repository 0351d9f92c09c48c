using OciKit.Build;
using OciKit.Layers;

namespace OciKit.Tests.Build;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CopyTests : IDisposable
{
    private readonly BuildFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task A_file_lands_at_a_file_destination_or_inside_a_directory_destination()
    {
        _f.Write("a.txt", "A");
        await _f.BuildAsync("FROM scratch\nCOPY a.txt /renamed\nCOPY a.txt /dir/\nCOPY a.txt /dir2/sub/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("A", files["renamed"].Content);
        Assert.Equal("A", files["dir/a.txt"].Content);
        Assert.Equal("A", files["dir2/sub/a.txt"].Content);
        Assert.Equal(LayerEntryType.Directory, files["dir2/sub"].Type);
    }

    [Fact]
    public async Task A_directory_source_copies_its_contents_not_itself()
    {
        _f.Write("src/one.txt", "1");
        _f.Write("src/nested/two.txt", "2");
        await _f.BuildAsync("FROM scratch\nCOPY src /out");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("1", files["out/one.txt"].Content);
        Assert.Equal("2", files["out/nested/two.txt"].Content);
        Assert.DoesNotContain("out/src", files.Keys);
    }

    [Fact]
    public async Task Relative_destinations_resolve_against_WORKDIR()
    {
        _f.Write("a.txt", "A");
        await _f.BuildAsync("FROM scratch\nWORKDIR /app\nWORKDIR sub\nCOPY a.txt .\nCOPY a.txt ./b.txt");
        var (image, files) = await _f.ReadAsync();
        Assert.Equal("/app/sub", image.Config.Config!.WorkingDir);
        Assert.Equal("A", files["app/sub/a.txt"].Content);
        Assert.Equal("A", files["app/sub/b.txt"].Content);
    }

    [Fact]
    public async Task Wildcards_match_per_segment_and_an_empty_match_is_not_an_error()
    {
        _f.Write("x1.txt", "1");
        _f.Write("x2.txt", "2");
        _f.Write("y.md", "y");
        _f.Write("d/z.txt", "z");
        await _f.BuildAsync("FROM scratch\nCOPY x?.txt /w/\nCOPY */*.txt /n/\nCOPY *.none /empty/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("1", files["w/x1.txt"].Content);
        Assert.Equal("2", files["w/x2.txt"].Content);
        Assert.DoesNotContain("w/y.md", files.Keys);
        Assert.Equal("z", files["n/z.txt"].Content);
        Assert.Equal(LayerEntryType.Directory, files["empty"].Type);
    }

    [Fact]
    public async Task Modes_are_kept_unless_chmod_and_owners_are_root_unless_chown()
    {
        _f.Write("run.sh", "#!/bin/sh", (UnixFileMode)0x1ED);
        _f.Write("data", "d", (UnixFileMode)0x180);
        await _f.BuildAsync("FROM scratch\nCOPY run.sh data /keep/\nCOPY --chmod=640 --chown=1000:1001 data /changed/\nCOPY --chown=42 data /uidonly/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal((UnixFileMode)0x1ED, files["keep/run.sh"].Mode);
        Assert.Equal((UnixFileMode)0x180, files["keep/data"].Mode);
        Assert.Equal((0, 0), (files["keep/data"].Uid, files["keep/data"].Gid));
        Assert.Equal((UnixFileMode)0x1A0, files["changed/data"].Mode);
        Assert.Equal((1000, 1001), (files["changed/data"].Uid, files["changed/data"].Gid));
        Assert.Equal((42, 42), (files["uidonly/data"].Uid, files["uidonly/data"].Gid));
    }

    [Fact]
    public async Task Dockerignore_hides_files_from_the_context()
    {
        _f.Write(".dockerignore", "*.secret\nlogs\n");
        _f.Write("app.txt", "app");
        _f.Write("key.secret", "no");
        _f.Write("logs/today.log", "no");
        await _f.BuildAsync("FROM scratch\nCOPY . /ctx/");
        var (_, files) = await _f.ReadAsync();
        Assert.Contains("ctx/app.txt", files.Keys);
        Assert.DoesNotContain("ctx/key.secret", files.Keys);
        Assert.DoesNotContain("ctx/logs", files.Keys);
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nCOPY key.secret /"));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public async Task Symlinks_inside_directories_are_copied_as_links_and_a_followed_link_never_leaves_the_context()
    {
        _f.Write("dir/target.txt", "t");
        File.CreateSymbolicLink(Path.Combine(_f.Context, "dir", "link"), "target.txt");
        File.CreateSymbolicLink(Path.Combine(_f.Context, "escape"), "/etc/hostname");
        File.CreateSymbolicLink(Path.Combine(_f.Context, "top"), "dir/target.txt");
        await _f.BuildAsync("FROM scratch\nCOPY dir /d\nCOPY top /followed");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal(LayerEntryType.Symlink, files["d/link"].Type);
        Assert.Equal("target.txt", files["d/link"].LinkTarget);
        Assert.Equal("t", files["followed"].Content);

        // '/etc/hostname' resolves inside the context, where it does not exist: not found, nothing read from the host.
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nCOPY escape /x"));
        Assert.Contains("not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Heredoc_sources_become_files_with_expanded_variables()
    {
        await _f.BuildAsync("FROM scratch\nARG NAME=world\nCOPY <<EOF /greeting\nhello $NAME\nEOF\nCOPY <<'RAW' /raw\n$NAME\nRAW\n");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("hello world\n", files["greeting"].Content);
        Assert.Equal("$NAME\n", files["raw"].Content);
    }

    [Fact]
    public async Task Parents_keeps_the_source_path_and_exclude_leaves_matches_out()
    {
        _f.Write("a/b/c.txt", "c");
        _f.Write("a/b/d.log", "d");
        await _f.BuildAsync("FROM scratch\nCOPY --parents a/b/c.txt /p/\nCOPY --exclude=**/*.log a /e/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("c", files["p/a/b/c.txt"].Content);
        Assert.Equal("c", files["e/b/c.txt"].Content);
        Assert.DoesNotContain("e/b/d.log", files.Keys);
    }

    [Fact]
    public async Task Copy_from_a_stage_by_name_or_index_keeps_content_and_owner()
    {
        _f.Write("tool", "binary");
        await _f.BuildAsync("FROM scratch AS build\nCOPY --chown=7:8 tool /out/tool\nFROM scratch\nCOPY --from=build /out/tool /bin/tool\nCOPY --from=0 /out /copy/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("binary", files["bin/tool"].Content);
        Assert.Equal((7, 8), (files["bin/tool"].Uid, files["bin/tool"].Gid));
        Assert.Equal("binary", files["copy/tool"].Content);
    }

    [Fact]
    public async Task Several_sources_need_a_directory_destination()
    {
        _f.Write("a", "a");
        _f.Write("b", "b");
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nCOPY a b /dest"));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public async Task Copying_into_an_existing_directory_keeps_its_metadata()
    {
        _f.Write("f", "f");
        await _f.BuildAsync("FROM scratch AS base\nCOPY --chown=5:5 --chmod=700 f /home/user/\nFROM base\nCOPY f /home/user/g");
        var (image, files) = await _f.ReadAsync();
        Assert.Equal(2, image.Layers.Length);
        Assert.Equal((0, 0), (files["home/user/g"].Uid, files["home/user/g"].Gid));
        Assert.Equal((5, 5), (files["home/user"].Uid, files["home/user"].Gid));
    }

    [Fact]
    public async Task A_destination_through_a_symlinked_directory_lands_in_the_link_target()
    {
        _f.Write("base/usr/bin/keep", "k");
        File.CreateSymbolicLink(Path.Combine(_f.Context, "base", "bin"), "usr/bin");
        _f.Write("tool", "t");
        await _f.BuildAsync("FROM scratch\nCOPY base /\nCOPY tool /bin/\nCOPY tool /bin/renamed");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal(LayerEntryType.Symlink, files["bin"].Type);
        Assert.Equal("t", files["usr/bin/tool"].Content);
        Assert.Equal("t", files["usr/bin/renamed"].Content);
    }

    [Fact]
    public async Task ADD_of_a_plain_local_file_copies_it_and_a_Git_source_is_refused()
    {
        _f.Write("plain.txt", "plain");
        await _f.BuildAsync("FROM scratch\nADD --chmod=600 plain.txt /added/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("plain", files["added/plain.txt"].Content);
        Assert.Equal((UnixFileMode)0x180, files["added/plain.txt"].Mode);

        var git = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nADD git@github.com:o/r.git /src"));
        Assert.Contains("Git", git.Message, StringComparison.Ordinal);
        Assert.Equal(2, git.Line);
    }

    [Fact]
    public async Task ADD_extracts_a_local_compressed_tar_into_the_destination()
    {
        WriteArchive("app.tar.gz", gzip: true, ("bin/tool", "tool"), ("README", "read me"));
        await _f.BuildAsync("FROM scratch\nWORKDIR /opt\nADD app.tar.gz ./app/\nADD --unpack=false app.tar.gz /raw/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("tool", files["opt/app/bin/tool"].Content);
        Assert.Equal("read me", files["opt/app/README"].Content);
        Assert.Contains("raw/app.tar.gz", files.Keys);
    }

    [Fact]
    public async Task ADD_of_an_archive_with_an_entry_leading_out_fails_with_the_line_and_writes_nothing()
    {
        WriteArchive("evil.tar", gzip: false, ("../../etc/evil", "x"));
        await _f.BuildAsync("FROM scratch\nCOPY evil.tar /ok", o => o with { Tags = ["before:1"] });
        var before = string.Join("\n", _f.StoreSnapshot());
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nENV A=1\nADD evil.tar /dest/"));
        Assert.Equal(3, ex.Line);
        Assert.Equal(before, string.Join("\n", _f.StoreSnapshot()));
    }

    [Fact]
    public async Task ADD_of_a_URL_downloads_without_extracting_and_verifies_the_checksum()
    {
        var content = "downloaded"u8.ToArray();
        var digest = OciKit.Primitives.Digest.ComputeSha256(content);
        using var handler = new FixedHandler(content);
        await _f.BuildAsync(
            $"FROM scratch\nADD https://example.test/files/data.bin /dl/\nADD --checksum={digest} https://example.test/x /named",
            o => o with { HttpHandler = handler });
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("downloaded", files["dl/data.bin"].Content);
        Assert.Equal((UnixFileMode)0x180, files["dl/data.bin"].Mode);
        Assert.Equal("downloaded", files["named"].Content);

        var wrong = OciKit.Primitives.Digest.ComputeSha256("other"u8);
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync(
            $"FROM scratch\nADD --checksum={wrong} https://example.test/x /named", o => o with { HttpHandler = handler }));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public async Task Chown_by_name_resolves_through_the_image_passwd_and_group_files()
    {
        _f.Write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1655::/home/app:/bin/sh\n");
        _f.Write("etc/group", "root:x:0:\napp:x:1655:\nstaff:x:50:app\n");
        _f.Write("f", "f");
        await _f.BuildAsync("FROM scratch AS base\nCOPY etc /etc/\nFROM base\nCOPY --chown=app f /by-user\nCOPY --chown=app:staff f /by-both\nUSER app\nWORKDIR /home/app");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal((1654, 1655), (files["by-user"].Uid, files["by-user"].Gid));
        Assert.Equal((1654, 50), (files["by-both"].Uid, files["by-both"].Gid));
        Assert.Equal((1654, 1655), (files["home/app"].Uid, files["home/app"].Gid));

        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch\nCOPY --chown=nobody f /x"));
        Assert.Contains("nobody", ex.Message, StringComparison.Ordinal);
    }

    private void WriteArchive(string name, bool gzip, params (string Path, string Content)[] entries)
    {
        using var file = File.Create(Path.Combine(_f.Context, name));
        using Stream output = gzip ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest) : file;
        using var writer = new System.Formats.Tar.TarWriter(output, System.Formats.Tar.TarEntryFormat.Pax);
        foreach (var (path, content) in entries)
        {
            var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, path)
            {
                DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
            };
            writer.WriteEntry(entry);
        }
    }

    private sealed class FixedHandler(byte[] content) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent(content) });
    }

    [Fact]
    public async Task Hard_links_in_the_context_stay_hard_links_in_the_layer()
    {
        var first = _f.Write("hl/a", "same");
        Directory.CreateDirectory(Path.Combine(_f.Context, "hl", "sub"));
        Assert.Equal(0, Link(first, Path.Combine(_f.Context, "hl", "sub", "b")));
        await _f.BuildAsync("FROM scratch\nCOPY hl /x/");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("same", files["x/a"].Content);
        Assert.Equal(LayerEntryType.Hardlink, files["x/sub/b"].Type);
        Assert.Equal("x/a", files["x/sub/b"].LinkTarget);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string existing, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string created);

    [Fact]
    public async Task Copy_from_a_stored_image_reads_its_layers()
    {
        _f.Write("lib", "library");
        await _f.BuildAsync("FROM scratch\nCOPY lib /opt/lib", o => o with { Tags = ["libs:1"] });
        await _f.BuildAsync("FROM scratch\nCOPY --from=libs:1 /opt/lib /usr/lib/copied");
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("library", files["usr/lib/copied"].Content);
    }
}
