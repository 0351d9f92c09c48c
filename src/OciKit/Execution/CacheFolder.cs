using System.Security.Cryptography;
using System.Text;
using OciKit.Primitives;

namespace OciKit.Execution;

/// <summary>What pruning a cache folder did.</summary>
/// <param name="Removed">Entries deleted.</param>
/// <param name="RemovedBytes">The bytes their files held.</param>
/// <param name="Kept">Entries kept because something still needs them (a stored image's layer chain).</param>
/// <param name="InUse">Entries kept because a container or build was using them (their lock was held).</param>
public sealed record CachePruneResult(int Removed, long RemovedBytes, int Kept, int InUse);

/// <summary>
/// A store's cache folders that containers use while they run: the extracted layers overlay mode keeps
/// (<see cref="RootfsOptions.LayerCacheDirectory"/>, entries named by layer chain) and RUN's cache mounts. Each entry
/// has a lock file beside it (<c>ENTRY.lock</c>) that every user holds shared while it uses the entry, so that a
/// prune deletes only entries nobody uses (see <see cref="CacheEntryLock"/>).
/// </summary>
public static class CacheFolder
{
    private const string PruningPrefix = ".pruning-";

    /// <summary>What a new entry's temporary name has between the entry's name and a unique suffix, until it is renamed into place.</summary>
    internal const string CreatingInfix = ".new-";

    /// <summary>
    /// The extracted-layer cache entries an image's layers use, bottom first: each layer's chain, the digests of the
    /// layers up to it (applying a layer depends on what is below it, as containerd's snapshotter keys by chain ID).
    /// </summary>
    /// <param name="layers">The image's layers, bottom first.</param>
    /// <returns>The entry names, one per layer.</returns>
    public static IReadOnlyList<string> LayerChains(IReadOnlyList<Descriptor> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var chains = new List<string>(layers.Count);
        var chain = string.Empty;
        foreach (var layer in layers)
        {
            chain = chain.Length == 0
                ? layer.Digest.Encoded
                : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(chain + " " + layer.Digest)));
            chains.Add(chain);
        }

        return chains;
    }

    /// <summary>
    /// Deletes the extracted layers that no image in <paramref name="images"/> needs and that no prepared root file
    /// system uses (its lock is held shared by every tree built on it, until the tree is disposed).
    /// </summary>
    /// <param name="directory">The extracted-layer cache (<c>STORE/.ocikit/rootfs</c>); a missing folder holds nothing.</param>
    /// <param name="images">The layers of every image whose extracted layers are kept (each image's, bottom first).</param>
    /// <param name="cancellationToken">Cancels the prune between entries.</param>
    /// <returns>What was deleted and kept.</returns>
    public static Task<CachePruneResult> PruneExtractedLayersAsync(string directory, IEnumerable<IReadOnlyList<Descriptor>> images, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(images);
        var needed = new HashSet<string>(images.SelectMany(LayerChains), StringComparer.Ordinal);
        return Task.FromResult(Prune(directory, needed.Contains, cancellationToken));
    }

    /// <summary>Deletes every entry of a cache folder that nobody uses (RUN's cache mounts, as <c>docker builder prune</c> does).</summary>
    /// <param name="directory">The folder; a missing folder holds nothing.</param>
    /// <param name="cancellationToken">Cancels the prune between entries.</param>
    /// <returns>What was deleted and kept.</returns>
    public static Task<CachePruneResult> PruneUnusedAsync(string directory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return Task.FromResult(Prune(directory, static _ => false, cancellationToken));
    }

    /// <summary>Takes an entry's lock shared for as long as the caller uses it (dispose the result to release it).</summary>
    /// <param name="entry">The entry's path (it need not exist yet: the lock also covers creating it).</param>
    /// <param name="cancellationToken">Cancels the wait while a prune holds the lock.</param>
    /// <returns>The held lock.</returns>
    internal static Task<FileStream> UseAsync(string entry, CancellationToken cancellationToken) => CacheEntryLock.AcquireSharedAsync(entry, cancellationToken);

    private static CachePruneResult Prune(string directory, Func<string, bool> keep, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
        {
            return new CachePruneResult(0, 0, 0, 0);
        }

        int removed = 0, kept = 0, inUse = 0;
        long bytes = 0;
        foreach (var path in Directory.EnumerateDirectories(directory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = Path.GetFileName(path);
            if (name.StartsWith(PruningPrefix, StringComparison.Ordinal))
            {
                // What an interrupted prune had renamed away: nobody can reach it any more.
                bytes += SizeOf(path);
                DiskLayerApplier.RemoveTree(path);
                continue;
            }

            var creating = name.IndexOf(CreatingInfix, StringComparison.Ordinal);
            if (creating > 0)
            {
                // An entry being created under a temporary name (a cache mount): its creator holds the entry's lock
                // until it has renamed it into place; a leftover whose creator died goes.
                using var creator = CacheEntryLock.TryAcquireExclusive(Path.Combine(directory, name[..creating]));
                if (creator is not null)
                {
                    bytes += SizeOf(path);
                    DiskLayerApplier.RemoveTree(path);
                }

                continue;
            }

            if (keep(name))
            {
                kept++;
                continue;
            }

            var doomed = Path.Combine(directory, PruningPrefix + Guid.NewGuid().ToString("N"));
            using (var held = CacheEntryLock.TryAcquireExclusive(path))
            {
                if (held is null)
                {
                    inUse++;
                    continue;
                }

                // Renamed away while the lock is held, so a user never sees half of a deleted entry; the lock file goes
                // too, and a user that opened it before checks it is still the file at the path (CacheEntryLock).
                RootfsNative.Rename(path, doomed);
                File.Delete(CacheEntryLock.PathOf(path));
            }

            // Deleted with the lock released: nobody can reach the renamed tree.
            bytes += SizeOf(doomed);
            DiskLayerApplier.RemoveTree(doomed);
            removed++;
        }

        // Lock files whose entry is gone (a preparer that failed before renaming its entry into place).
        foreach (var lockFile in Directory.EnumerateFiles(directory, "*.lock"))
        {
            var entry = lockFile[..^".lock".Length];
            if (!Directory.Exists(entry))
            {
                using var held = CacheEntryLock.TryAcquireExclusive(entry);
                if (held is not null && !Directory.Exists(entry))
                {
                    File.Delete(lockFile);
                }
            }
        }

        return new CachePruneResult(removed, bytes, kept, inUse);
    }

    /// <summary>The bytes the regular files of a tree hold (links and directories not counted).</summary>
    private static long SizeOf(string tree)
    {
        long total = 0;
        var pending = new Stack<string>([tree]);
        while (pending.TryPop(out var directory))
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(directory))
            {
                if (!RootfsNative.TryLstat(child, out var status))
                {
                    continue;
                }

                if (status.IsDirectory)
                {
                    pending.Push(child);
                }
                else if (status.Type == RootfsNative.TypeRegular)
                {
                    total += status.Size;
                }
            }
        }

        return total;
    }
}
