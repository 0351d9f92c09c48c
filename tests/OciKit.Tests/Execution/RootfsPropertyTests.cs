using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Execution;
using OciKit.Layers;
using static OciKit.Tests.Execution.RootfsScratch;

namespace OciKit.Tests.Execution;

/// <summary>Random edit scripts: both modes report the same changes, and the layer of either reproduces the edited tree.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RootfsPropertyTests
{
    private static Arbitrary<(int Op, int A, int B)[]> ScriptArb =>
        (from op in Gen.Choose(0, 9)
         from a in Gen.Choose(0, 1000)
         from b in Gen.Choose(0, 1000)
         select (op, a, b)).ArrayOf().Select(ops => ops.Take(12).ToArray()).ToArbitrary();

    [Property(MaxTest = 25)]
    public Property Both_modes_agree_and_the_layer_reproduces_the_edited_tree() => Prop.ForAll(ScriptArb, async script =>
    {
        await using var scratch = new RootfsScratch();
        var layers = new List<Descriptor>
        {
            await scratch.LayerAsync(
            [
                Text("etc/a", "a\n"),
                Text("etc/b", "b\n", 0x180, 1000, 1000),
                Text("etc/sub/c", "c\n"),
                Text("usr/lib/d", "d\n", 0x1ED),
                LayerEntry.Symlink("lib", "usr/lib"),
                Text("home/e", "e\n"),
                LayerEntry.Directory("empty"),
            ]),
        };
        var results = new List<(string Changes, SortedDictionary<string, string> Edited, SortedDictionary<string, string> Reproduced)>();
        foreach (var mode in new[] { RootfsMode.Copy, RootfsMode.Overlay })
        {
            var rootfs = await scratch.PrepareAsync(layers, mode);
            foreach (var step in script)
            {
                Apply(rootfs.Path, step);
            }

            var changes = string.Join(", ", (await rootfs.GetChangesAsync([])).Select(c => $"{c.Kind.ToString()[0]} {c.Path}"));
            var edited = Describe(rootfs.Path);
            var layer = await scratch.CommitAsync(rootfs);
            var reproduced = await scratch.PrepareAsync([.. layers, layer], RootfsMode.Copy);
            results.Add((changes, edited, Describe(reproduced.Path)));
        }

        return (results[0].Changes == results[1].Changes).Label($"changes: copy [{results[0].Changes}] overlay [{results[1].Changes}]")
            .And(results.All(r => r.Edited.SequenceEqual(r.Reproduced))).Label("a layer reproduces its tree")
            .And(results[0].Edited.SequenceEqual(results[1].Edited)).Label("both modes edit the same tree");
    });

    /// <summary>One edit, picked among the tree's real directories and files (never through a symlink).</summary>
    private static void Apply(string root, (int Op, int A, int B) step)
    {
        var directories = new List<string> { root };
        var files = new List<string>();
        var pending = new Stack<string>([root]);
        while (pending.Count > 0)
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(pending.Pop()).Order(StringComparer.Ordinal))
            {
                var status = RootfsNative.Lstat(child);
                if (status.IsDirectory)
                {
                    directories.Add(child);
                    pending.Push(child);
                }
                else if (status.IsRegular)
                {
                    files.Add(child);
                }
            }
        }

        directories.Sort(StringComparer.Ordinal);
        files.Sort(StringComparer.Ordinal);
        var directory = directories[step.A % directories.Count];
        var file = files.Count > 0 ? files[step.A % files.Count] : null;
        var name = "n" + (step.B % 7);
        var target = Path.Combine(directory, name);
        var free = !Path.Exists(target) && !File.Exists(target);
        switch (step.Op)
        {
            case 0 when free:
                File.WriteAllText(target, "new " + step.B + "\n");
                break;
            case 1 when file is not null:
                File.WriteAllText(file, "changed " + step.B + "\n");
                break;
            case 2 when file is not null:
                RootfsNative.Chmod(file, (RootfsNative.Lstat(file).Permissions ^ UnixFileMode.OtherExecute) | UnixFileMode.UserRead | UnixFileMode.UserWrite);
                break;
            case 3 when file is not null:
                RootfsNative.Lchown(file, RootfsNative.Lstat(file).Uid + 1, 5);
                break;
            case 4 when file is not null:
                File.Delete(file);
                break;
            case 5 when directory != root:
                Directory.Delete(directory, recursive: true);
                break;
            case 6 when directory != root:
                Directory.Delete(directory, recursive: true);
                File.WriteAllText(directory, "was a directory\n");
                break;
            case 7 when file is not null && free:
                File.Move(file, target);
                break;
            case 8 when file is not null && free:
                RootfsNative.Link(file, target);
                break;
            case 9 when free:
                Directory.CreateDirectory(target);
                File.WriteAllText(Path.Combine(target, "inner"), "inner\n");
                break;
        }
    }
}
