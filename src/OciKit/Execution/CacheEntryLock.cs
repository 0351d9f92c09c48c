namespace OciKit.Execution;

/// <summary>
/// The lock of one entry of a store's cache folder (an extracted layer, a RUN cache mount): a file <c>ENTRY.lock</c>
/// beside it, locked with <c>flock(2)</c> — what .NET takes on Unix for a <see cref="FileStream"/>: shared for any
/// <see cref="FileShare"/> but <see cref="FileShare.None"/>, exclusive for that, never blocking. Every user of the
/// entry holds it shared for as long as it uses it; a pruner takes it exclusive, and deletes the entry only when that
/// succeeds. flock belongs to an open file description, so two opens in one process exclude each other as two
/// processes do, and the kernel drops a killed holder's lock.
/// </summary>
/// <remarks>
/// The pruner deletes the lock file while it holds it; a user that opened the file before that and got the shared
/// lock after it holds a lock nobody else can see, so it checks that its open file is still the one at the path and
/// starts again when it is not.
/// </remarks>
internal static class CacheEntryLock
{
    // How many 10 ms waits for a pruner before an open that keeps failing is reported (30 s).
    private const int MaxWaits = 3000;

    /// <summary>The lock file of an entry.</summary>
    public static string PathOf(string entry) => entry + ".lock";

    /// <summary>Takes the entry's lock shared, waiting while a pruner holds it exclusive; dispose the stream to release it.</summary>
    /// <exception cref="OperationCanceledException">Cancelled while a pruner held the lock.</exception>
    public static async Task<FileStream> AcquireSharedAsync(string entry, CancellationToken cancellationToken)
    {
        var path = PathOf(entry);
        var waits = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            FileStream held;
            try
            {
                held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            }
            catch (IOException e) when (e is not DirectoryNotFoundException && ++waits < MaxWaits)
            {
                // A pruner holds it for the moment it takes to rename the entry away (and may have deleted the file
                // since: the next open creates a new one). An error that is not the lock persists and is thrown.
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (IsAtPath(held, path))
            {
                return held;
            }

            await held.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Takes the entry's lock exclusive if nobody uses the entry; null when somebody does.</summary>
    public static FileStream? TryAcquireExclusive(string entry)
    {
        var path = PathOf(entry);
        try
        {
            var held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            if (IsAtPath(held, path))
            {
                return held;
            }

            // Another pruner deleted the file between the open and the lock: it holds the entry, or it is gone.
            held.Dispose();
            return null;
        }
        catch (IOException e) when (e is not DirectoryNotFoundException)
        {
            // Held (shared by a user, or exclusive by another pruner that may have deleted the file since).
            return null;
        }
    }

    private static bool IsAtPath(FileStream held, string path)
        => RootfsNative.TryLstat(path, out var atPath) && RootfsNative.Fstat(held.SafeFileHandle) is var open
            && open.Device == atPath.Device && open.Inode == atPath.Inode;
}
