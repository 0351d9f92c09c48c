using System.Formats.Tar;
using System.Text;
using System.Text.RegularExpressions;
using OciKit.IntegrationTests.Harness;
using OciKit.Testing;

namespace OciKit.IntegrationTests.Build.CorpusHarness;

/// <summary>What a corpus case's Dockerfile comments say about it.</summary>
/// <param name="Name">The case folder's name.</param>
/// <param name="BuildArgs">Extra build arguments (<c># corpus-build-arg: K=V</c>); <c>BASE</c> is always passed.</param>
/// <param name="Target">The target stage (<c># corpus-target: NAME</c>), or null for the last one.</param>
/// <param name="Expected">Paths that must be in the image (<c># expect: PATH TYPE MODE UID:GID …</c>), with the tokens they must show.</param>
/// <param name="Absent">Paths that must not be in the image (<c># absent: PATH</c>).</param>
/// <param name="Config">Config fields and their canonical JSON (<c># config: FIELD JSON</c>).</param>
/// <param name="BuildahExpected">
/// Where buildah knowingly departs from Docker (<c># buildah-expect: PATH …</c>): what buildah gives instead. The
/// Docker expectation still holds for OciKit, and the comparison with buildah skips that path.
/// </param>
/// <param name="BuildahConfig">The same for config fields (<c># buildah-config: FIELD JSON</c>).</param>
/// <param name="BuildahDifferences">Why buildah departs from Docker (<c># buildah-differs: REASON</c>), required with any override.</param>
internal sealed record CorpusCase(
    string Name,
    IReadOnlyDictionary<string, string> BuildArgs,
    string? Target,
    IReadOnlyList<(string Path, string[] Tokens)> Expected,
    IReadOnlyList<string> Absent,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyList<(string Path, string[] Tokens)> BuildahExpected,
    IReadOnlyDictionary<string, string> BuildahConfig,
    IReadOnlyList<string> BuildahDifferences);

/// <summary>
/// The Dockerfile corpus of issue 6 under <c>Build/Corpus/&lt;case&gt;/</c>: a Dockerfile and its context. What git
/// cannot hold (modes, symlinks, hard links, empty directories, archives with owners) is made by <see cref="PrepareAsync"/>.
/// Each Dockerfile states in comments what the image must hold, so the buildah build is checked on its own too.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static partial class BuildCorpus
{
    /// <summary>The corpus folder in the repository.</summary>
    public static string Root => TestPaths.InRepo("tests", "OciKit.IntegrationTests", "Build", "Corpus");

    /// <summary>The case names, sorted.</summary>
    public static IReadOnlyList<string> Names => [.. Directory.GetDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    /// <summary>The case names, for theories.</summary>
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var name in Names)
        {
            data.Add(name);
        }

        return data;
    }

    /// <summary>Reads a case's expectations from its Dockerfile comments.</summary>
    public static CorpusCase Load(string name)
    {
        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        string? target = null;
        var expected = new List<(string, string[])>();
        var absent = new List<string>();
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        var buildahExpected = new List<(string, string[])>();
        var buildahConfig = new Dictionary<string, string>(StringComparer.Ordinal);
        var differences = new List<string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Root, name, "Dockerfile")))
        {
            if (Directive(line, "corpus-build-arg") is { } arg)
            {
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                args[arg[..eq]] = arg[(eq + 1)..];
            }
            else if (Directive(line, "corpus-target") is { } t)
            {
                target = t;
            }
            else if (Directive(line, "expect") is { } e)
            {
                expected.Add(Expectation(name, e));
            }
            else if (Directive(line, "buildah-expect") is { } be)
            {
                buildahExpected.Add(Expectation(name, be));
            }
            else if (Directive(line, "buildah-config") is { } bc)
            {
                var space = bc.IndexOf(' ', StringComparison.Ordinal);
                buildahConfig[bc[..space]] = bc[(space + 1)..];
            }
            else if (Directive(line, "buildah-differs") is { } reason)
            {
                differences.Add(reason);
            }
            else if (Directive(line, "absent") is { } a)
            {
                absent.Add(a);
            }
            else if (Directive(line, "config") is { } c)
            {
                var space = c.IndexOf(' ', StringComparison.Ordinal);
                config[c[..space]] = c[(space + 1)..];
            }
        }

        return new CorpusCase(name, args, target, expected, absent, config, buildahExpected, buildahConfig, differences);
    }

    private static (string, string[]) Expectation(string name, string text)
    {
        var match = ExpectPattern().Match(text);
        Assert.True(match.Success, $"{name}: cannot read the expectation '{text}'");
        return (match.Groups[1].Value, [match.Groups[2].Value, .. match.Groups[3].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
    }

    /// <summary>
    /// Copies a case's context into <paramref name="directory"/>, gives every file 0644 and every directory 0755
    /// (a checkout's modes depend on the umask), then makes what git cannot hold.
    /// </summary>
    public static async Task PrepareAsync(string name, string directory)
    {
        Copy(Path.Combine(Root, name), directory);
        if (Setups.TryGetValue(name, out var setup))
        {
            await setup(directory);
        }
    }

    private static string? Directive(string line, string key)
    {
        var prefix = "# " + key + ":";
        return line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..].Trim() : null;
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        File.SetUnixFileMode(to, (UnixFileMode)0x1ED);
        foreach (var file in Directory.GetFiles(from))
        {
            var target = Path.Combine(to, Path.GetFileName(file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, (UnixFileMode)0x1A4);
        }

        foreach (var dir in Directory.GetDirectories(from))
        {
            Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }

    private static readonly Dictionary<string, Func<string, Task>> Setups = new(StringComparer.Ordinal)
    {
        ["add-archives"] = async ctx =>
        {
            var tar = WriteTree(ctx);
            foreach (var (tool, args) in new[] { ("gzip", "-k -n"), ("bzip2", "-k"), ("xz", "-k"), ("zstd", "-q -k") })
            {
                await Tool.RunCheckedAsync(tool, [.. args.Split(' '), tar]);
            }

            File.Copy(tar + ".gz", Path.Combine(ctx, "blob"));
        },
        ["add-archive-relative-dest"] = async ctx =>
        {
            var tar = WriteTree(ctx);
            await Tool.RunCheckedAsync("gzip", ["-n", tar]);
        },
        ["symlinks"] = ctx =>
        {
            File.CreateSymbolicLink(Path.Combine(ctx, "dir", "link-rel"), "target.txt");
            File.CreateSymbolicLink(Path.Combine(ctx, "dir", "link-abs"), "/etc/hostname");
            File.CreateSymbolicLink(Path.Combine(ctx, "dir", "link-dir"), "sub");
            File.CreateSymbolicLink(Path.Combine(ctx, "toplink"), "a.txt");
            return Task.CompletedTask;
        },
        ["hardlinks"] = async ctx =>
        {
            var one = Path.Combine(ctx, "dir", "one.txt");
            await File.WriteAllTextAsync(one, "one\n");
            File.SetUnixFileMode(one, (UnixFileMode)0x1A4);
            Directory.CreateDirectory(Path.Combine(ctx, "dir", "sub"));
            await Tool.RunCheckedAsync("ln", [one, Path.Combine(ctx, "dir", "two.txt")]);
            await Tool.RunCheckedAsync("ln", [one, Path.Combine(ctx, "dir", "sub", "three.txt")]);
        },
        ["modes"] = ctx =>
        {
            var files = Directory.CreateDirectory(Path.Combine(ctx, "files")).FullName;
            foreach (var (name, mode) in new[] { ("exec.sh", 0x1ED), ("private", 0x180), ("readonly", 0x124), ("suid", 0x9ED), ("sgid", 0x5ED) })
            {
                var path = Path.Combine(files, name);
                File.WriteAllText(path, name + "\n");
                File.SetUnixFileMode(path, (UnixFileMode)mode);
            }

            var sticky = Directory.CreateDirectory(Path.Combine(files, "dir-sticky")).FullName;
            File.SetUnixFileMode(sticky, (UnixFileMode)0x3FF);
            var closed = Directory.CreateDirectory(Path.Combine(files, "dir-700")).FullName;
            File.WriteAllText(Path.Combine(closed, "inner"), "inner\n");
            File.SetUnixFileMode(Path.Combine(closed, "inner"), (UnixFileMode)0x1A4);
            File.SetUnixFileMode(closed, (UnixFileMode)0x1C0);
            return Task.CompletedTask;
        },
        ["names-unicode-spaces"] = ctx =>
        {
            foreach (var path in new[] { "with space.txt", "ünïcödé.txt", "日本語/ファイル.txt", "dir with spaces/in it.txt" })
            {
                var full = Path.Combine(ctx, path);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.WriteAllText(full, path + "\n", Encoding.UTF8);
                File.SetUnixFileMode(full, (UnixFileMode)0x1A4);
            }

            return Task.CompletedTask;
        },
        ["empty-directories"] = ctx =>
        {
            Directory.CreateDirectory(Path.Combine(ctx, "empty"));
            Directory.CreateDirectory(Path.Combine(ctx, "parent", "empty-inside"));
            return Task.CompletedTask;
        },
    };

    /// <summary>
    /// <c>tree.tar</c>: a root <c>./</c> entry, a directory and files with owners and modes, a relative and an
    /// absolute symlink, and a hard link.
    /// </summary>
    private static string WriteTree(string ctx)
    {
        var path = Path.Combine(ctx, "tree.tar");
        using (var stream = File.Create(path))
        using (var writer = new TarWriter(stream, TarEntryFormat.Ustar))
        {
            var epoch = DateTimeOffset.UnixEpoch;
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "./") { Mode = (UnixFileMode)0x1ED, ModificationTime = epoch });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "top/") { Mode = (UnixFileMode)0x1E8, Uid = 10, Gid = 20, ModificationTime = epoch });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "top/file.txt")
            {
                Mode = (UnixFileMode)0x1A0, Uid = 10, Gid = 20, ModificationTime = epoch, DataStream = new MemoryStream("contents\n"u8.ToArray()),
            });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "top/exec.sh")
            {
                Mode = (UnixFileMode)0x1ED, ModificationTime = epoch, DataStream = new MemoryStream("#!/bin/sh\n"u8.ToArray()),
            });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, "top/link") { LinkName = "file.txt", Mode = (UnixFileMode)0x1FF, ModificationTime = epoch });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.HardLink, "top/hard") { LinkName = "top/file.txt", Mode = (UnixFileMode)0x1A0, Uid = 10, Gid = 20, ModificationTime = epoch });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, "abs-link") { LinkName = "/etc/passwd", Mode = (UnixFileMode)0x1FF, ModificationTime = epoch });
        }

        File.SetUnixFileMode(path, (UnixFileMode)0x1A4);
        return path;
    }

    [GeneratedRegex("^(.*) (dir|file|symlink)(?: (.*))?$")]
    private static partial Regex ExpectPattern();
}
