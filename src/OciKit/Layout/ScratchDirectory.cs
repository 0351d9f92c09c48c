using OciKit.Primitives;

namespace OciKit.Layout;

/// <summary>
/// A private working directory inside a store (on the file system of its blobs, so that files written there become
/// blobs by a rename), owned by one writer until it is disposed. Every temporary file OciKit writes in a store lives
/// in one.
/// </summary>
/// <remarks>
/// The owner holds an exclusive lock on the directory's <c>.lock</c> file for the directory's whole life (on Linux and
/// macOS an advisory <c>flock(2)</c> lock, which is what .NET takes for <see cref="FileShare.None"/>; on Windows a
/// sharing lock). The kernel releases it when the owning process ends, however it ends (even <c>SIGKILL</c>), so
/// garbage collection decides whether a writer is alive by trying to take its lock, never by the age of its files:
/// a directory whose lock can be taken belongs to a dead writer and is deleted, one whose lock is held is kept, even
/// when the holder is another process. Setting <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> turns .NET's file locks off
/// and with them this protection; do not set it for processes that share a store.
/// </remarks>
public sealed class ScratchDirectory : IDisposable
{
    /// <summary>The name of the lock file inside every scratch directory.</summary>
    public const string LockFileName = ".lock";

    private const string TempDirectory = "tmp";

    private FileStream? _lock;

    private ScratchDirectory(string path, FileStream lockFile)
    {
        Path = path;
        _lock = lockFile;
    }

    /// <summary>The full path of the directory.</summary>
    public string Path { get; }

    /// <summary>Deletes the directory and everything in it, then releases its lock; a failure to delete is left to garbage collection.</summary>
    public void Dispose()
    {
        var lockFile = Interlocked.Exchange(ref _lock, null);
        if (lockFile is null)
        {
            return;
        }

        try
        {
            // Unix deletes a locked, open file; Windows does not, so there the lock goes first.
            if (OperatingSystem.IsWindows())
            {
                lockFile.Dispose();
            }

            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind: its lock is released below, so the next garbage collection deletes it.
        }
        finally
        {
            lockFile.Dispose();
        }
    }

    /// <summary>The directory of a store that holds its scratch directories (<c>.ocikit/tmp</c>).</summary>
    internal static string TempRoot(string storeRoot) => System.IO.Path.Combine(storeRoot, OciLayout.PrivateDirectory, TempDirectory);

    /// <summary>Creates a new, empty scratch directory in a store and takes its lock.</summary>
    /// <param name="storeRoot">The store (layout) directory.</param>
    /// <param name="prefix">The start of the directory's name, saying who writes there (<c>scratch-</c>, <c>write-</c>).</param>
    internal static ScratchDirectory Create(string storeRoot, string prefix)
    {
        var parent = Directory.CreateDirectory(TempRoot(storeRoot)).FullName;
        for (var attempt = 0; ; attempt++)
        {
            var path = System.IO.Path.Combine(parent, prefix + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(path);
            try
            {
                // CreateNew: when a collection found the directory before its lock file existed, it created the lock
                // file itself and owns (and deletes) the directory; this writer then takes another name.
                var lockFile = new FileStream(System.IO.Path.Combine(path, LockFileName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                return new ScratchDirectory(path, lockFile);
            }
            catch (IOException) when (attempt < 8)
            {
                // Taken by a collection between mkdir and lock: try a fresh name.
            }
        }
    }

    /// <summary>
    /// Writes a file by way of a scratch directory of the store and renames it over <paramref name="target"/>, which
    /// must be on the store's file system: a reader sees the old content or the new, never a part.
    /// </summary>
    internal static void WriteFileAtomically(string storeRoot, string target, ReadOnlySpan<byte> content)
    {
        using var scratch = Create(storeRoot, "write-");
        var temp = System.IO.Path.Combine(scratch.Path, "file");
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            stream.Write(content);
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
        File.Move(temp, target, overwrite: true);
    }

    /// <summary>
    /// Deletes every scratch directory of a store whose lock can be taken (its writer died), and loose temporary
    /// files older versions wrote (into <c>.ocikit/tmp</c> and <paramref name="extraDirectories"/>, named <c>*.tmp</c>)
    /// that their writer no longer holds open.
    /// </summary>
    /// <returns>How many directories and files were deleted and how many bytes they held.</returns>
    internal static (int Count, long Bytes) ReclaimAbandoned(string storeRoot, IEnumerable<string> extraDirectories, CancellationToken cancellationToken)
    {
        int count = 0;
        long bytes = 0;
        var temp = new DirectoryInfo(TempRoot(storeRoot));
        if (temp.Exists)
        {
            foreach (var directory in temp.EnumerateDirectories())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryReclaimDirectory(directory) is { } size)
                {
                    count++;
                    bytes += size;
                }
            }

            foreach (var file in temp.EnumerateFiles())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryReclaimFile(file) is { } size)
                {
                    count++;
                    bytes += size;
                }
            }
        }

        foreach (var extra in extraDirectories.Select(d => new DirectoryInfo(d)).Where(d => d.Exists))
        {
            foreach (var file in extra.EnumerateFiles("*.tmp"))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryReclaimFile(file) is { } size)
                {
                    count++;
                    bytes += size;
                }
            }
        }

        return (count, bytes);
    }

    /// <summary>Deletes a scratch directory when its lock can be taken; returns the bytes it held, or <see langword="null"/> when its writer is alive.</summary>
    private static long? TryReclaimDirectory(DirectoryInfo directory)
    {
        FileStream held;
        try
        {
            // OpenOrCreate: a directory without a lock file is one whose writer died (or has not yet created it, and
            // will then fail to and take another name, see Create).
            held = new FileStream(System.IO.Path.Combine(directory.FullName, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Locked by a live writer, or already gone.
            return null;
        }

        long size = 0;
        try
        {
            // A killed container may have left an overlayfs or bind mount below: detach it first, so that neither the
            // size nor the deletion reaches into a lower layer or a host path.
            MountTable.DetachBelow(directory.FullName);
            size = directory.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true })
                .Sum(static f => f.Length);
            if (OperatingSystem.IsWindows())
            {
                held.Dispose();
            }

            directory.Delete(recursive: true);
            return size;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Partly deleted: its lock is free, so the next collection finishes the job.
            return null;
        }
        finally
        {
            held.Dispose();
        }
    }

    /// <summary>Deletes a loose temporary file unless a writer holds it open with a lock; returns its size, or <see langword="null"/>.</summary>
    private static long? TryReclaimFile(FileInfo file)
    {
        FileStream held;
        try
        {
            held = new FileStream(file.FullName, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        try
        {
            var size = held.Length;
            if (OperatingSystem.IsWindows())
            {
                held.Dispose();
            }

            file.Delete();
            return size;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        finally
        {
            held.Dispose();
        }
    }
}
