using System.Buffers.Binary;
using System.IO.Hashing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layers;

namespace OciKit.Tests.Layers;

public class Crc32CombineTests
{
    [Property(MaxTest = 300)]
    public Property Combining_the_crcs_of_two_parts_gives_the_crc_of_their_concatenation() => Prop.ForAll(
        (from first in ArbMap.Default.GeneratorFor<byte[]>()
         from second in Gen.OneOf(ArbMap.Default.GeneratorFor<byte[]>(), Gen.Choose(0, 200_000).Select(Bytes))
         select (first, second)).ToArbitrary(),
        t =>
        {
            var whole = t.first.Concat(t.second).ToArray();
            return Crc32Combine.Combine(Crc32.HashToUInt32(t.first), Crc32.HashToUInt32(t.second), t.second.Length)
                == Crc32.HashToUInt32(whole);
        });

    [Property(MaxTest = 30)]
    public Property Combining_block_by_block_gives_the_crc_of_the_whole() => Prop.ForAll(
        (from size in Gen.Choose(0, 600_000)
         from block in Gen.Choose(1, 100_000)
         select (size, block)).ToArbitrary(),
        t =>
        {
            var input = Bytes(t.size);
            var shift = Crc32Combine.ShiftFor(t.block);
            var crc = 0u;
            var offset = 0;
            for (; offset + t.block <= t.size; offset += t.block)
            {
                crc = Crc32Combine.Combine(crc, Crc32.HashToUInt32(input.AsSpan(offset, t.block)), shift);
            }

            crc = Crc32Combine.Combine(crc, Crc32.HashToUInt32(input.AsSpan(offset)), t.size - offset);
            return crc == Crc32.HashToUInt32(input);
        });

    [Property(MaxTest = 25)]
    public Property Parallel_gzip_trailer_holds_the_crc_and_length_of_all_the_input() => Prop.ForAll(
        (from size in Gen.Choose(0, 700_000)
         from blockUnits in Gen.Choose(1, 3)
         from dop in Gen.Choose(1, 4)
         from chunk in Gen.Choose(1, 300_000)
         from useAsync in ArbMap.Default.GeneratorFor<bool>()
         select (size, blockUnits, dop, chunk, useAsync)).ToArbitrary(),
        t =>
        {
            var input = Bytes(t.size);
            var output = new MemoryStream();
            var gzip = new ParallelGzipStream(output, 1, t.blockUnits * LayerOptions.MinGzipBlockSize, t.dop);
            for (var offset = 0; offset < t.size; offset += t.chunk)
            {
                var part = input.AsMemory(offset, Math.Min(t.chunk, t.size - offset));
                if (t.useAsync)
                {
                    gzip.WriteAsync(part).AsTask().GetAwaiter().GetResult();
                }
                else
                {
                    gzip.Write(part.Span);
                }
            }

            gzip.DisposeAsync().AsTask().GetAwaiter().GetResult();
            var trailer = output.ToArray().AsSpan(^8);
            return BinaryPrimitives.ReadUInt32LittleEndian(trailer) == Crc32.HashToUInt32(input)
                && BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]) == (uint)t.size;
        });

    [Fact]
    public void A_negative_length_is_rejected()
        => Assert.Throws<ArgumentOutOfRangeException>(() => Crc32Combine.ShiftFor(-1));

    // Compressible but not constant: runs of repeated bytes between random ones.
    private static byte[] Bytes(int size)
    {
        var bytes = new byte[size];
        var random = new Random(size);
        random.NextBytes(bytes);
        for (var i = 0; i + 64 < size; i += 128)
        {
            bytes.AsSpan(i, 64).Fill(bytes[i]);
        }

        return bytes;
    }
}
