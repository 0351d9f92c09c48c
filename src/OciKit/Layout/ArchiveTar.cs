using System.Formats.Tar;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// Deterministic tar output for archives: ustar entries (no PAX headers, whose names carry the process id),
/// mtime 0, uid/gid 0, no user names, entries in ordinal path order.
/// </summary>
internal sealed class ArchiveTar
{
    private readonly SortedDictionary<string, Func<CancellationToken, Task<Stream>>?> _entries = new(StringComparer.Ordinal);

    public void AddDirectory(string path) => _entries[path.TrimEnd('/') + "/"] = null;

    public void AddFile(string path, ReadOnlyMemory<byte> content) => _entries[path] = _ => Task.FromResult<Stream>(new MemoryStream(content.ToArray(), writable: false));

    public void AddBlob(OciLayout layout, Digest digest) => AddBlob(digest, _ => Task.FromResult(layout.OpenBlob(digest)));

    /// <summary>Adds a blob whose bytes are opened only when the tar is written; the stream must report its length.</summary>
    public void AddBlob(Digest digest, Func<CancellationToken, Task<Stream>> open)
    {
        AddDirectory("blobs");
        AddDirectory("blobs/" + digest.Algorithm);
        _entries[BlobPath(digest)] = open;
    }

    /// <summary>Adds a blob held in memory (a manifest).</summary>
    public void AddBlob(Digest digest, ReadOnlyMemory<byte> content)
    {
        AddDirectory("blobs");
        AddDirectory("blobs/" + digest.Algorithm);
        AddFile(BlobPath(digest), content);
    }

    public static string BlobPath(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Encoded}";

    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken)
    {
        var writer = new TarWriter(destination, TarEntryFormat.Ustar, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            foreach (var (path, open) in _entries)
            {
                var entry = new UstarTarEntry(open is null ? TarEntryType.Directory : TarEntryType.RegularFile, path)
                {
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    Uid = 0,
                    Gid = 0,
                    UserName = string.Empty,
                    GroupName = string.Empty,
                    Mode = open is null
                        ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
                        : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                };
                if (open is null)
                {
                    await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var data = await open(cancellationToken).ConfigureAwait(false);
                await using (data.ConfigureAwait(false))
                {
                    entry.DataStream = data;
                    await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
