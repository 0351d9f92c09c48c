using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Layout;
using OciKit.Primitives;

namespace OciKit.Tests.Layout;

/// <summary>Invariants of the store over random content and random sequences of tag/remove operations.</summary>
public class OciLayoutProperties
{
    private static readonly string[] Names = ["a", "a:1", "b/c:2", "d@x", "e"];

    [Property(MaxTest = 40)]
    public Property Blobs_read_back_as_written() => Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), content =>
        Run(async dir =>
        {
            var layout = await OciLayout.OpenAsync(dir);
            var written = await layout.WriteBlobAsync(new MemoryStream(content), MediaTypes.OctetStream);
            await using var stream = layout.OpenBlob(written.Digest);
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return written.Digest == Digest.ComputeSha256(content) && written.Size == content.Length && copy.ToArray().AsSpan().SequenceEqual(content);
        }));

    [Property(MaxTest = 25)]
    public Property Index_json_follows_a_model_of_tags() => Prop.ForAll(Operations().ToArbitrary(), operations =>
        Run(async dir =>
        {
            var layout = await OciLayout.OpenAsync(dir);
            var images = new[]
            {
                await OciLayoutTests.StoreImageAsync(layout, null, "one"),
                await OciLayoutTests.StoreImageAsync(layout, null, "two"),
            };
            var model = new Dictionary<string, Digest>(StringComparer.Ordinal);
            foreach (var (tag, name, image) in operations)
            {
                if (tag)
                {
                    await layout.TagAsync(Names[name], images[image]);
                    model[Names[name]] = images[image].Digest;
                }
                else
                {
                    var removed = await layout.RemoveAsync(Names[name]);
                    if (removed != model.Remove(Names[name]))
                    {
                        return false;
                    }
                }
            }

            var listed = await layout.ListImagesAsync();
            var gc = await layout.CollectGarbageAsync();
            var stillReadable = true;
            foreach (var entry in listed)
            {
                stillReadable &= (await layout.ReadImageAsync(entry.Name!)).Manifest.Digest == entry.Descriptor.Digest;
            }

            return listed.Length == model.Count
                && listed.All(i => model.TryGetValue(i.Name!, out var d) && d == i.Descriptor.Digest)
                && stillReadable
                && gc.KeptBlobs == listed.Select(i => i.Descriptor.Digest).Distinct().Count() * 3;
        }));

    private static Gen<(bool Tag, int Name, int Image)[]> Operations() =>
        (from tag in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
         from name in Gen.Choose(0, Names.Length - 1)
         from image in Gen.Choose(0, 1)
         select (tag, name, image)).ArrayOf();

    // Properties are synchronous; the store's API is async (blocking is confined to this test helper).
    private static bool Run(Func<string, Task<bool>> test)
    {
        var dir = Directory.CreateTempSubdirectory("ocikit-prop-").FullName;
        try
        {
            return Task.Run(() => test(dir)).GetAwaiter().GetResult();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
