using System.Text;
using OciKit.Layout;

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

    // Created with its final mode (0600 for a secret), so the key is never readable by others, not even before a chmod;
    // synced to disk before the rename, so a crash leaves the old key or the new, never a torn one.
    private static Task WriteAtomicallyAsync(string path, string content, bool secret, CancellationToken cancellationToken) =>
        AtomicFile.WriteAsync(
            path,
            async (stream, ct) =>
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(content), ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
                ((FileStream)stream).Flush(flushToDisk: true);
            },
            cancellationToken,
            secret
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
}
