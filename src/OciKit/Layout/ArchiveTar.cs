using System.Formats.Tar;
using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// Deterministic tar output for archives: ustar entries (no PAX headers, whose names carry the process id),
/// mtime 0, uid/gid 0, no user names, entries in ordinal path order.
/// </summary>
internal sealed class ArchiveTar
{
    private readonly SortedDictionary<string, Func<Stream>?> _entries = new(StringComparer.Ordinal);

    public void AddDirectory(string path) => _entries[path.TrimEnd('/') + "/"] = null;

    public void AddFile(string path, ReadOnlyMemory<byte> content) => _entries[path] = () => new MemoryStream(content.ToArray(), writable: false);

    public void AddBlob(OciLayout layout, Digest digest)
    {
        AddDirectory("blobs");
        AddDirectory("blobs/" + digest.Algorithm);
        _entries[BlobPath(digest)] = () => layout.OpenBlob(digest);
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

                var data = open();
                await using (data.ConfigureAwait(false))
                {
                    entry.DataStream = data;
                    await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
