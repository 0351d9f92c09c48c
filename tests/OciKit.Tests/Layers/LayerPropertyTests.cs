using System.Formats.Tar;
using System.IO.Compression;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layers;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Layers;

public class LayerPropertyTests
{
    private static readonly string[] Names = ["a", "b", "etc", "usr", "lib64", "é", "x-y", "Z", new string('l', 90), "日本"];

    private static Gen<string> PathGen =>
        Gen.Choose(1, 4).SelectMany(depth => Gen.Elements(Names).ArrayOf(depth)).Select(parts => string.Join('/', parts));

    // Distinct file paths none of which is a prefix directory of another, so every generated entry can be a file.
    private static Arbitrary<(string Path, int Size, int Mode, int Uid)[]> FilesArb =>
        (from path in PathGen
         from size in Gen.Choose(0, 3000)
         from mode in Gen.Choose(0, 0xFFF)
         from uid in Gen.Choose(0, 70000)
         select (path, size, mode, uid))
            .ArrayOf()
            .Select(files => files
                .GroupBy(f => f.Item1).Select(g => g.First()).ToArray())
            .Select(files => files.Where(f => !files.Any(o => o.Item1.StartsWith(f.Item1 + "/", StringComparison.Ordinal))).ToArray())
            .ToArbitrary();

    private static byte[] ContentFor(string path, int size)
    {
        var bytes = new byte[size];
        new Random(path.GetHashCode(StringComparison.Ordinal) ^ size).NextBytes(bytes);
        return bytes;
    }

    [Property(MaxTest = 30)]
    public Property Tar_round_trips_through_System_Formats_Tar() => Prop.ForAll(FilesArb, files =>
    {
        var entries = files.Select(f => BytesFile(f.Path, ContentFor(f.Path, f.Size)) with { Mode = (UnixFileMode)f.Mode, Uid = f.Uid, Gid = f.Uid / 2 }).ToList();
        var (_, tar) = BuildAsync(entries, new LayerOptions { Compression = LayerCompression.None }).GetAwaiter().GetResult();
        var read = ReadTar(tar).Where(e => e.Entry.EntryType == TarEntryType.RegularFile).ToDictionary(e => e.Entry.Name);
        return read.Count == files.Length && files.All(f =>
            read.TryGetValue(f.Path, out var r)
            && r.Entry.Mode == (UnixFileMode)f.Mode
            && r.Entry.Uid == f.Uid
            && r.Entry.Gid == f.Uid / 2
            && r.Content.AsSpan().SequenceEqual(ContentFor(f.Path, f.Size)));
    });

    [Property(MaxTest = 20)]
    public Property Same_inputs_give_same_digests_for_any_parallelism_and_block_size() => Prop.ForAll(
        (from dop in Gen.Choose(1, 8) from units in Gen.Choose(1, 4) from size in Gen.Choose(0, 600_000) select (dop, units, size)).ToArbitrary(),
        t =>
        {
            var (dop, blockUnits, size) = t;
            var content = ContentFor("big", size);
            Array.Fill(content, (byte)'a', 0, size / 2);
            LayerEntry[] entries = [BytesFile("data/big.bin", content), TextFile("data/small", "s")];
            var options = new LayerOptions { GzipBlockSize = blockUnits * LayerOptions.MinGzipBlockSize };
            var (serial, serialBlob) = BuildAsync(entries, options with { MaxDegreeOfParallelism = 1 }).GetAwaiter().GetResult();
            var (parallel, parallelBlob) = BuildAsync(entries, options with { MaxDegreeOfParallelism = dop }).GetAwaiter().GetResult();
            return serial == parallel && serialBlob.AsSpan().SequenceEqual(parallelBlob);
        });

    [Property(MaxTest = 8)]
    public Property Zstd_output_does_not_depend_on_parallelism() => Prop.ForAll(
        (from dop in Gen.Choose(2, 8) from size in Gen.Choose(0, 3_000_000) select (dop, size)).ToArbitrary(),
        t =>
        {
            var content = ContentFor("zstd", t.size);
            Array.Fill(content, (byte)'z', 0, t.size / 2);
            LayerEntry[] entries = [BytesFile("big.bin", content)];
            var options = new LayerOptions { Compression = LayerCompression.Zstd };
            var (one, oneBlob) = BuildAsync(entries, options with { MaxDegreeOfParallelism = 1 }).GetAwaiter().GetResult();
            var (many, manyBlob) = BuildAsync(entries, options with { MaxDegreeOfParallelism = t.dop }).GetAwaiter().GetResult();
            return one == many && oneBlob.AsSpan().SequenceEqual(manyBlob);
        });

    [Property(MaxTest = 30)]
    public Property Parallel_gzip_decompresses_to_its_input() => Prop.ForAll(
        (from size in Gen.Choose(0, 400_000)
         from dop in Gen.Choose(1, 8)
         from level in Gen.Elements(1, 6, 9)
         from chunk in Gen.Choose(1, 70_000)
         select (size, dop, level, chunk)).ToArbitrary(),
        t =>
        {
            var (size, dop, level, chunk) = t;
            var input = ContentFor("gz", size);
            Array.Fill(input, (byte)0, 0, size / 3);
            var output = new MemoryStream();
            using (var gzip = new ParallelGzipStream(output, level, LayerOptions.MinGzipBlockSize, dop))
            {
                for (var offset = 0; offset < size; offset += chunk)
                {
                    gzip.Write(input, offset, Math.Min(chunk, size - offset));
                }
            }

            output.Position = 0;
            using var gunzip = new GZipStream(output, CompressionMode.Decompress);
            var roundTrip = new MemoryStream();
            gunzip.CopyTo(roundTrip);
            return roundTrip.ToArray().AsSpan().SequenceEqual(input);
        });
}
