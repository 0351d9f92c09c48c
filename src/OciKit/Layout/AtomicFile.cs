namespace OciKit.Layout;

/// <summary>
/// Writes a file outside a store (an archive the user asked for) so that it never exists half-written: the content
/// goes to a hidden temporary file beside the target, which replaces the target by a rename only once it is complete;
/// on failure or cancellation the temporary file is deleted and the target is left as it was.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The file to write; its directory is created if missing.</param>
    /// <param name="write">Writes the content into the stream it is given (never disposing it).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <param name="unixCreateMode">
    /// The permissions the file is created with (Unix), so that a secret is never readable by others, not even before a
    /// chmod; the process's default when <see langword="null"/>.
    /// </param>
    /// <returns>The full path written.</returns>
    public static async Task<string> WriteAsync(string path, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken = default, UnixFileMode? unixCreateMode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16, Options = FileOptions.Asynchronous };
            if (unixCreateMode is { } mode && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = mode;
            }

            var stream = new FileStream(temporary, options);
            await using (stream.ConfigureAwait(false))
            {
                await write(stream, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, full, overwrite: true);
            return full;
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
