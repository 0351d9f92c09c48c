using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OciKit.Execution;
using OciKit.Layers;

namespace OciKit.Tests.Execution;

/// <summary>Layers in memory, trees described path by path, and a scratch folder per test.</summary>
internal sealed class RootfsScratch : IAsyncDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentBag<ContainerRootfs> _rootfs = [];
    private int _count;

    public RootfsScratch()
    {
        Root = Directory.CreateTempSubdirectory("ocikit-rootfs-").FullName;
    }

    public string Root { get; }

    public Dictionary<Digest, byte[]> Blobs { get; } = [];

    private int _opened;

    public int Opened => _opened;

    public string NewDirectory(string name)
    {
        var path = Path.Combine(Root, name + "-" + Interlocked.Increment(ref _count).ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(path);
        return path;
    }

    public async Task<Descriptor> LayerAsync(IEnumerable<LayerEntry> entries)
    {
        using var blob = new MemoryStream();
        var info = await LayerWriter.WriteAsync(entries, blob, new LayerOptions { MaxDegreeOfParallelism = 1 });
        Blobs[info.Descriptor.Digest] = blob.ToArray();
        return info.Descriptor;
    }

    /// <summary>An uncompressed layer written entry by entry as given (no parent added, whiteout names kept).</summary>
    public Descriptor RawTarLayer(IEnumerable<(string Name, string Content)> files)
    {
        using var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in files)
            {
                var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name)
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                    Mode = (UnixFileMode)0x1A4,
                    ModificationTime = DateTimeOffset.UnixEpoch,
                };
                writer.WriteEntry(entry);
            }
        }

        var bytes = tar.ToArray();
        var descriptor = new Descriptor(MediaTypes.OciLayer, Digest.ComputeSha256(bytes), bytes.Length);
        Blobs[descriptor.Digest] = bytes;
        return descriptor;
    }

    public Task<Stream> OpenAsync(Descriptor layer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _opened);
        return Task.FromResult<Stream>(new MemoryStream(Blobs[layer.Digest], writable: false));
    }

    public async Task<ContainerRootfs> PrepareAsync(IReadOnlyList<Descriptor> layers, RootfsMode mode, string? cache = null)
    {
        var rootfs = await ContainerRootfs.PrepareAsync(layers, OpenAsync, new RootfsOptions { WorkDirectory = NewDirectory("work"), LayerCacheDirectory = cache, Mode = mode });
        _rootfs.Add(rootfs);
        return rootfs;
    }

    /// <summary>Commits a rootfs' changes as a layer.</summary>
    public async Task<Descriptor> CommitAsync(ContainerRootfs rootfs, IReadOnlyCollection<string>? ignored = null, DateTimeOffset? clamp = null)
        => await LayerAsync(await rootfs.GetLayerEntriesAsync(ignored ?? [], clamp));

    public async ValueTask DisposeAsync()
    {
        foreach (var rootfs in _rootfs)
        {
            await rootfs.DisposeAsync();
        }

        Directory.Delete(Root, recursive: true);
    }

    public static LayerEntry Text(string path, string content, int mode = 0x1A4, int uid = 0, int gid = 0)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        return LayerEntry.File(path, bytes.Length, () => new MemoryStream(bytes, writable: false), (UnixFileMode)mode) with { Uid = uid, Gid = gid };
    }

    /// <summary>Every path below a root: type, mode, owner, size, content hash or link target, device numbers, link count, extended attributes.</summary>
    public static SortedDictionary<string, string> Describe(string root, bool withTimes = false)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        // A walk by lstat: .NET's recursive enumeration follows directory symlinks (out of the tree).
        var pending = new Stack<string>([root]);
        var all = new List<(string Full, RootfsNative.Status Status)>();
        while (pending.Count > 0)
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(pending.Pop()))
            {
                var childStatus = RootfsNative.Lstat(child);
                all.Add((child, childStatus));
                if (childStatus.IsDirectory)
                {
                    pending.Push(child);
                }
            }
        }

        foreach (var (full, status) in all)
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"{status.Mode:x} {status.Uid}:{status.Gid}");
            if (status.IsRegular)
            {
                text.Append(CultureInfo.InvariantCulture, $" {status.Size} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full)))[..12]} n{status.Nlink}");
            }
            else if (status.IsSymlink)
            {
                text.Append(" -> ").Append(RootfsNative.ReadLink(full));
            }
            else if (!status.IsDirectory)
            {
                text.Append(CultureInfo.InvariantCulture, $" dev {status.Major},{status.Minor}");
            }

            foreach (var (name, value) in RootfsNative.GetXattrs(full, n => !n.StartsWith("trusted.overlay.", StringComparison.Ordinal)))
            {
                text.Append(' ').Append(name).Append('=').Append(Encoding.UTF8.GetString(value));
            }

            if (withTimes && !status.IsDirectory)
            {
                text.Append(CultureInfo.InvariantCulture, $" t{status.MtimeSec}");
            }

            result["/" + Path.GetRelativePath(root, full)] = text.ToString();
        }

        return result;
    }
}
