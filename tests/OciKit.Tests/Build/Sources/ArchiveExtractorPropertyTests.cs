using System.Formats.Tar;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Build.Sources;
using OciKit.Layers;
using static OciKit.Tests.Build.Sources.ArchiveTestData;

namespace OciKit.Tests.Build.Sources;

public class ArchiveExtractorPropertyTests
{
    private static readonly string[] Segments = ["a", "b", "..", ".", "", "c d", "é"];

    private static Gen<string> NameGen =>
        from rooted in Gen.Elements(false, false, true)
        from depth in Gen.Choose(1, 4)
        from parts in Gen.Elements(Segments).ArrayOf(depth)
        let name = (rooted ? "/" : string.Empty) + string.Join('/', parts)
        select name.Length == 0 ? "." : name;

    private static Gen<TarEntry> EntryGen =>
        from kind in Gen.Choose(0, 3)
        from name in NameGen
        from target in NameGen
        select kind switch
        {
            0 => (TarEntry)File(name, "x"),
            1 => Dir(name),
            2 => Symlink(name, target),
            _ => Hardlink(name, target),
        };

    /// <summary>Whatever an archive holds, either it is refused with a typed error or nothing lands outside the destination.</summary>
    [Property(MaxTest = 200)]
    public Property No_entry_ever_lands_outside_the_destination() => Prop.ForAll(EntryGen.ArrayOf().Select(a => a.Take(12).ToArray()).ToArbitrary(), entries =>
    {
        var dir = Directory.CreateTempSubdirectory("ocikit-add-prop-");
        try
        {
            var path = Path.Combine(dir.FullName, "a.tar");
            System.IO.File.WriteAllBytes(path, Tar(entries));
            IReadOnlyList<LayerEntry> result;
            try
            {
                result = ArchiveExtractor.ExtractAsync(path, "/dest/sub", dir.FullName).GetAwaiter().GetResult();
            }
            catch (ArchiveEntryException ex)
            {
                // A refusal names this archive and one of its entries, for a reason the extractor gives; a ".."
                // refusal is only for a relative name that really climbs above the destination.
                return ex.Archive == "a.tar"
                    && entries.Any(e => e.Name == ex.EntryName)
                    && KnownReasons.Any(r => r.IsMatch(ex.Reason))
                    && (!ex.Reason.Contains("with '..'", StringComparison.Ordinal) || ClimbsOut(ex.EntryName));
            }

            return result.All(e => e.Path.StartsWith("dest/sub/", StringComparison.Ordinal)
                && (e.Type != LayerEntryType.Hardlink || e.LinkTarget!.StartsWith("dest/sub/", StringComparison.Ordinal))
                && (e.Type != LayerEntryType.Symlink || StaysInside(e.Path, e.LinkTarget!)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    });

    private static readonly System.Text.RegularExpressions.Regex[] KnownReasons =
    [
        .. new[]
        {
            "^it climbs out of the destination with '\\.\\.'$",
            "^the symlink target '.*' points outside the destination$",
            "^the symlink has an empty target$",
            "^the hard link target '.*' (is outside the destination|is not in the archive before it|is a directory)$",
            "^a hard link cannot point to the destination directory$",
            "^its parent '.*' is a dangling symlink$",
            "^'.*' (does not exist|is not a directory)$",
            "^too many levels of symbolic links$",
            "^names starting with '\\.wh\\.' would be read as deletions in the layer$",
        }.Select(p => new System.Text.RegularExpressions.Regex(p, System.Text.RegularExpressions.RegexOptions.Singleline)),
    ];

    private static bool ClimbsOut(string name)
    {
        if (name.StartsWith('/'))
        {
            return false;
        }

        var depth = 0;
        foreach (var part in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            depth += part switch { ".." => -1, "." => 0, _ => 1 };
            if (depth < 0)
            {
                return true;
            }
        }

        return false;
    }

    // Docker's own rule: a relative target joined to the link's directory stays inside; an absolute one resolves in the container.
    private static bool StaysInside(string linkPath, string target)
    {
        if (target.StartsWith('/'))
        {
            return true;
        }

        var stack = new List<string>(linkPath.Split('/')[..^1]);
        foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                if (stack.Count <= 2)
                {
                    return false;
                }

                stack.RemoveAt(stack.Count - 1);
            }
            else if (part != ".")
            {
                stack.Add(part);
            }
        }

        return true;
    }
}
