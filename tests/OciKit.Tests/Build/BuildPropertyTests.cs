using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layers;

namespace OciKit.Tests.Build;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class BuildPropertyTests
{
    private static readonly string[] Names = ["a", "b", "with space", "é", "日本", "x-y.z", "Z"];

    // Distinct file paths none of which is a directory of another.
    private static Arbitrary<(string Path, string Content, int Mode)[]> ContextArb =>
        (from depth in Gen.Choose(1, 3)
         from parts in Gen.Elements(Names).ArrayOf(depth)
         from content in Gen.Elements("", "x", "hello\n", "ünïcode", new string('z', 5000))
         from mode in Gen.Choose(0x100, 0x1FF)
         select (string.Join('/', parts), content, mode))
            .ArrayOf()
            .Select(files => files.GroupBy(f => f.Item1).Select(g => g.First()).ToArray())
            .Select(files => files.Where(f => !files.Any(o => o.Item1.StartsWith(f.Item1 + "/", StringComparison.Ordinal))).ToArray())
            .ToArbitrary();

    [Property(MaxTest = 12)]
    public Property Copying_the_context_reproduces_every_file_and_the_digest_does_not_depend_on_the_store() => Prop.ForAll(ContextArb, async files =>
    {
        using var f = new BuildFixture();
        foreach (var (path, content, mode) in files)
        {
            f.Write(path, content, (UnixFileMode)mode);
        }

        const string dockerfile = "FROM scratch\nCOPY . /ctx/";
        var first = await f.BuildAsync(dockerfile);
        var second = await f.BuildAsync(dockerfile, o => o with { StorePath = Path.Combine(f.Root, "second"), NoCache = true });
        var (_, read) = await f.ReadAsync();
        var copied = read.Where(p => p.Value.Type == LayerEntryType.File).ToDictionary(p => p.Key, p => (p.Value.Content, (int)p.Value.Mode));
        var expected = files.ToDictionary(x => "ctx/" + x.Path, x => ((string?)x.Content, x.Mode));
        return first.Digest == second.Digest && copied.Count == expected.Count && expected.All(e => copied.TryGetValue(e.Key, out var c) && c == e.Value);
    });
}
