using OciKit.Layers;
using static OciKit.Tests.Layers.LayerTestHelpers;

namespace OciKit.Tests.Layers;

/// <summary>
/// Files on disk are read synchronously even on the async path (see <see cref="KnownLengthReadStream"/>); the declared
/// length is still enforced there, and the content is what the file holds.
/// </summary>
public sealed class KnownLengthReadStreamTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"ocikit-known-length-{Guid.NewGuid():N}");

    public KnownLengthReadStreamTests()
    {
        var content = new byte[300_000];
        new Random(7).NextBytes(content);
        File.WriteAllBytes(_file, content);
    }

    public void Dispose() => File.Delete(_file);

    [Theory]
    [InlineData(299_999)]
    [InlineData(300_001)]
    [InlineData(0)]
    public async Task A_file_of_another_length_than_declared_fails(long declared)
    {
        var entry = LayerEntry.File("f", declared, () => LayerEntry.OpenForSequentialRead(_file));
        var error = await Assert.ThrowsAsync<IOException>(() => BuildAsync([entry], new LayerOptions { Compression = LayerCompression.None }));
        Assert.Contains("'f'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_of_the_declared_length_is_copied_whole()
    {
        var entry = LayerEntry.File("f", 300_000, () => LayerEntry.OpenForSequentialRead(_file));
        var (_, blob) = await BuildAsync([entry], new LayerOptions { Compression = LayerCompression.None });
        var read = ReadTar(blob);
        Assert.Equal(File.ReadAllBytes(_file), Assert.Single(read).Content);
    }

    [Fact]
    public async Task A_stream_that_is_not_a_synchronous_file_is_read_asynchronously_with_the_same_checks()
    {
        var file = new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous);
        await using (file)
        {
            var stream = new KnownLengthReadStream(file, 300_000, "f");
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal(File.ReadAllBytes(_file), copy.ToArray());
        }

        var shorter = new KnownLengthReadStream(new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous), 300_001, "f");
        await using (shorter)
        {
            await Assert.ThrowsAsync<IOException>(() => shorter.CopyToAsync(Stream.Null));
        }
    }
}
