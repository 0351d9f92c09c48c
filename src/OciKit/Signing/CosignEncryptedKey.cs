using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NSec.Cryptography;

namespace OciKit.Signing;

/// <summary>
/// cosign's encrypted private key (PEM <c>ENCRYPTED SIGSTORE PRIVATE KEY</c>, formerly <c>ENCRYPTED COSIGN PRIVATE
/// KEY</c>): the PEM body is a JSON document (go-securesystemslib's <c>encrypted</c> format) naming an scrypt key
/// derivation (<c>N</c>, <c>r</c>, <c>p</c>, a salt) and a NaCl secretbox (XSalsa20-Poly1305, a 24-byte nonce) that
/// seals the PKCS#8 private key. scrypt is NSec's; the secretbox is opened with libsodium's
/// <c>crypto_secretbox_open_easy</c> from the libsodium NSec ships (NSec does not expose it).
/// </summary>
internal static class CosignEncryptedKey
{
    /// <summary>The PEM label cosign writes.</summary>
    public const string SigstoreLabel = "ENCRYPTED SIGSTORE PRIVATE KEY";

    /// <summary>The PEM label older cosign releases wrote.</summary>
    public const string CosignLabel = "ENCRYPTED COSIGN PRIVATE KEY";

    private const int KeyBytes = 32;
    private const int NonceBytes = 24;
    private const int MacBytes = 16;

    // scrypt needs 128·N·r bytes: bounded so a hostile file cannot ask for gigabytes (cosign uses N=32768 or 65536, r=8).
    private const long MaxScryptMemory = 256L * 1024 * 1024;

    /// <summary>Decrypts the PKCS#8 private key the JSON document seals.</summary>
    /// <param name="json">The PEM body.</param>
    /// <param name="passphrase">The passphrase (cosign's may be empty).</param>
    /// <param name="source">Names the key in errors.</param>
    /// <returns>The PKCS#8 DER bytes; the caller zeroes them.</returns>
    /// <exception cref="SigningKeyException">The document is not such a key, its parameters are out of bounds, or the passphrase is wrong.</exception>
    public static byte[] Decrypt(ReadOnlySpan<byte> json, string passphrase, string source)
    {
        var (n, r, p, salt, nonce, ciphertext) = Read(json, source);
        var key = DeriveKey(passphrase, salt, n, r, p, source);
        try
        {
            var plain = new byte[ciphertext.Length - MacBytes];
            return Sodium.SecretBoxOpen(plain, ciphertext, nonce, key)
                ? plain
                : throw new SigningKeyException(source, "the passphrase is wrong or the key is corrupt.") { Problem = SigningKeyProblem.PassphraseWrong };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Seals a PKCS#8 private key as cosign does (scrypt N=32768, r=8, p=1), for tests and key export.</summary>
    internal static byte[] Encrypt(ReadOnlySpan<byte> pkcs8, string passphrase, int n = 32768, int r = 8, int p = 1)
    {
        var salt = RandomNumberGenerator.GetBytes(KeyBytes);
        var nonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var key = DeriveKey(passphrase, salt, n, r, p, "key");
        try
        {
            var sealedBox = new byte[pkcs8.Length + MacBytes];
            Sodium.SecretBoxSeal(sealedBox, pkcs8.ToArray(), nonce, key);
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteStartObject("kdf");
                writer.WriteString("name", "scrypt");
                writer.WriteStartObject("params");
                writer.WriteNumber("N", n);
                writer.WriteNumber("r", r);
                writer.WriteNumber("p", p);
                writer.WriteEndObject();
                writer.WriteBase64String("salt", salt);
                writer.WriteEndObject();
                writer.WriteStartObject("cipher");
                writer.WriteString("name", "nacl/secretbox");
                writer.WriteBase64String("nonce", nonce);
                writer.WriteEndObject();
                writer.WriteBase64String("ciphertext", sealedBox);
                writer.WriteEndObject();
            }

            return buffer.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static (int N, int R, int P, byte[] Salt, byte[] Nonce, byte[] Ciphertext) Read(ReadOnlySpan<byte> json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            var root = document.RootElement;
            var kdf = root.GetProperty("kdf");
            if (kdf.GetProperty("name").GetString() != "scrypt")
            {
                throw new SigningKeyException(source, $"its key derivation is '{kdf.GetProperty("name").GetString()}', not scrypt.");
            }

            var parameters = kdf.GetProperty("params");
            var n = parameters.GetProperty("N").GetInt32();
            var r = parameters.GetProperty("r").GetInt32();
            var p = parameters.GetProperty("p").GetInt32();
            var cipher = root.GetProperty("cipher");
            if (cipher.GetProperty("name").GetString() != "nacl/secretbox")
            {
                throw new SigningKeyException(source, $"its cipher is '{cipher.GetProperty("name").GetString()}', not nacl/secretbox.");
            }

            var salt = kdf.GetProperty("salt").GetBytesFromBase64();
            var nonce = cipher.GetProperty("nonce").GetBytesFromBase64();
            var ciphertext = root.GetProperty("ciphertext").GetBytesFromBase64();
            if (n < 2 || (n & (n - 1)) != 0 || r < 1 || p < 1 || 128L * n * r > MaxScryptMemory || (long)r * p >= 1 << 30)
            {
                throw new SigningKeyException(source, $"its scrypt parameters (N={n}, r={r}, p={p}) are out of the bounds OciKit reads (N a power of two, 128·N·r at most {MaxScryptMemory >> 20} MiB).");
            }

            if (nonce.Length != NonceBytes || ciphertext.Length <= MacBytes || salt.Length == 0)
            {
                throw new SigningKeyException(source, "its nonce, salt or ciphertext has the wrong length.");
            }

            return (n, r, p, salt, nonce, ciphertext);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new SigningKeyException(source, "its body is not cosign's encrypted key JSON (kdf, cipher, ciphertext).", e);
        }
    }

    internal static byte[] DeriveKey(string passphrase, byte[] salt, int n, int r, int p, string source)
    {
        try
        {
            var scrypt = PasswordBasedKeyDerivationAlgorithm.Scrypt(new ScryptParameters { Cost = n, BlockSize = r, Parallelization = p });
            return scrypt.DeriveBytes(Encoding.UTF8.GetBytes(passphrase), salt, KeyBytes);
        }
        catch (ArgumentException e)
        {
            throw new SigningKeyException(source, $"its scrypt parameters (N={n}, r={r}, p={p}, a {salt.Length}-byte salt) cannot be used.", e);
        }
    }

    /// <summary>libsodium's secretbox, from the library NSec loads (NSec initialises it; <c>sodium_init</c> is idempotent).</summary>
    private static class Sodium
    {
        private static readonly Lazy<bool> Initialized = new(() => NativeMethods.sodium_init() >= 0);

        public static bool SecretBoxOpen(byte[] plain, byte[] ciphertext, byte[] nonce, byte[] key)
        {
            EnsureInitialized();
            return NativeMethods.crypto_secretbox_open_easy(plain, ciphertext, (ulong)ciphertext.Length, nonce, key) == 0;
        }

        public static void SecretBoxSeal(byte[] sealedBox, byte[] plain, byte[] nonce, byte[] key)
        {
            EnsureInitialized();
            if (NativeMethods.crypto_secretbox_easy(sealedBox, plain, (ulong)plain.Length, nonce, key) != 0)
            {
                throw new CryptographicException("crypto_secretbox_easy failed.");
            }
        }

        private static void EnsureInitialized()
        {
            if (!Initialized.Value)
            {
                throw new CryptographicException("libsodium could not be initialised.");
            }
        }
    }

    private static class NativeMethods
    {
        private const string Libsodium = "libsodium";

        [DllImport(Libsodium, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        internal static extern int sodium_init();

        [DllImport(Libsodium, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        internal static extern int crypto_secretbox_open_easy([Out] byte[] m, byte[] c, ulong clen, byte[] n, byte[] k);

        [DllImport(Libsodium, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        internal static extern int crypto_secretbox_easy([Out] byte[] c, byte[] m, ulong mlen, byte[] n, byte[] k);
    }
}
