using System.Text;

namespace OciKit.Signing;

/// <summary>
/// Key files as <c>ocikit key generate</c> writes them: <c>PREFIX.key</c> (the private key, mode 0600) and
/// <c>PREFIX.pub</c> (the public key), each written atomically so no half-written key file ever exists.
/// </summary>
public static class KeyFiles
{
    /// <summary>Writes a key pair to <c><paramref name="prefix"/>.key</c> and <c><paramref name="prefix"/>.pub</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="prefix">The path without extension.</param>
    /// <param name="passphrase">Encrypts the private key when not null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The full paths of the private and the public key file.</returns>
    public static async Task<(string PrivateKeyPath, string PublicKeyPath)> WriteAsync(SigningKey key, string prefix, string? passphrase = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var privatePath = Path.GetFullPath(prefix + ".key");
        var publicPath = Path.GetFullPath(prefix + ".pub");
        await WriteAtomicallyAsync(privatePath, key.ExportPem(passphrase), secret: true, cancellationToken).ConfigureAwait(false);
        await WriteAtomicallyAsync(publicPath, key.PublicKey.ExportPem(), secret: false, cancellationToken).ConfigureAwait(false);
        return (privatePath, publicPath);
    }

    /// <summary>Reads a private key file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="passphrase">The passphrase when the key is encrypted.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The key; dispose it.</returns>
    /// <exception cref="SigningKeyException">The file is not a usable private key, or the passphrase is missing or wrong.</exception>
    public static async Task<SigningKey> ReadSigningKeyAsync(string path, string? passphrase = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var text = await File.ReadAllTextAsync(path, Encoding.ASCII, cancellationToken).ConfigureAwait(false);
        return SigningKey.FromPem(text, passphrase, path);
    }

    /// <summary>Reads a public key file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The key.</returns>
    /// <exception cref="SigningKeyException">The file is not a usable public key.</exception>
    public static async Task<VerificationKey> ReadVerificationKeyAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var text = await File.ReadAllTextAsync(path, Encoding.ASCII, cancellationToken).ConfigureAwait(false);
        return VerificationKey.FromPem(text, path);
    }

    // The temporary file is created with its final mode (0600 for a secret), so the key is never readable by others,
    // not even for the moment before a chmod; it replaces the target by a rename only once complete.
    private static async Task WriteAtomicallyAsync(string path, string content, bool secret, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = secret
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }

        try
        {
            var stream = new FileStream(temporary, options);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(content), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
