using OciKit.Layout;

namespace OciKit.Tests.Layout;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ocikit-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_file_appears_whole_and_its_directory_is_created()
    {
        var path = Path.Combine(_dir, "sub", "image.tar");
        var written = await AtomicFile.WriteAsync(path, (s, ct) => s.WriteAsync(new byte[70_000], ct).AsTask());
        Assert.Equal(path, written);
        Assert.Equal(70_000, new FileInfo(path).Length);
        Assert.Equal([path], Directory.GetFileSystemEntries(Path.Combine(_dir, "sub")));
    }

    [Fact]
    public async Task A_failing_writer_leaves_the_old_file_and_no_temporary_file()
    {
        var path = Path.Combine(_dir, "image.tar");
        await File.WriteAllTextAsync(path, "old");

        await Assert.ThrowsAsync<IOException>(() => AtomicFile.WriteAsync(path, async (s, ct) =>
        {
            await s.WriteAsync(new byte[1000], ct);
            throw new IOException("disk full");
        }));

        Assert.Equal("old", await File.ReadAllTextAsync(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(_dir));
    }
}
