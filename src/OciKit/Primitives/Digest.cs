using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace OciKit.Primitives;

/// <summary>
/// A content digest as the OCI image specification defines it: <c>algorithm ":" encoded</c>.
/// </summary>
/// <remarks>
/// Grammar and registered algorithms follow
/// <see href="https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests">image-spec, Digests</see>:
/// <c>sha256</c> (64 lower-case hex characters) and <c>sha512</c> (128) are verified strictly; other algorithms that
/// match the general grammar are accepted as opaque values so that unknown content passes through unharmed.
/// </remarks>
public sealed record Digest
{
    /// <summary>The name of the SHA-256 algorithm.</summary>
    public const string Sha256Algorithm = "sha256";

    /// <summary>The name of the SHA-512 algorithm.</summary>
    public const string Sha512Algorithm = "sha512";

    private Digest(string algorithm, string encoded)
    {
        Algorithm = algorithm;
        Encoded = encoded;
    }

    /// <summary>The algorithm, for example <c>sha256</c>.</summary>
    public string Algorithm { get; }

    /// <summary>The encoded hash, for example 64 lower-case hex characters for SHA-256.</summary>
    public string Encoded { get; }

    /// <summary>Whether this digest uses a registered algorithm whose content OciKit can verify.</summary>
    public bool IsVerifiable => Algorithm is Sha256Algorithm or Sha512Algorithm;

    /// <summary>Parses a digest string.</summary>
    /// <param name="value">The text, for example <c>sha256:e3b0c442…</c>.</param>
    /// <returns>The digest.</returns>
    /// <exception cref="OciFormatException">The text is not a valid digest.</exception>
    public static Digest Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return TryParse(value, out var digest, out var error)
            ? digest
            : throw new OciFormatException("digest", $"'{Truncate(value)}' {error}.");
    }

    /// <summary>Tries to parse a digest string.</summary>
    /// <param name="value">The text.</param>
    /// <param name="digest">The digest, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a valid digest.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out Digest? digest)
        => TryParse(value, out digest, out _);

    /// <summary>Creates a SHA-256 digest from a 32-byte hash.</summary>
    /// <param name="hash">The raw hash bytes.</param>
    /// <returns>The digest.</returns>
    /// <exception cref="ArgumentException">The hash is not 32 bytes long.</exception>
    public static Digest FromSha256(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException($"A SHA-256 hash is {SHA256.HashSizeInBytes} bytes, not {hash.Length}.", nameof(hash));
        }

        return new Digest(Sha256Algorithm, Convert.ToHexStringLower(hash));
    }

    /// <summary>Computes the SHA-256 digest of some bytes.</summary>
    /// <param name="content">The bytes.</param>
    /// <returns>The digest.</returns>
    public static Digest ComputeSha256(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(content, hash);
        return FromSha256(hash);
    }

    /// <summary>Computes the SHA-256 digest of a stream's remaining content, reading it to the end.</summary>
    /// <param name="content">The stream; it is read but not disposed.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The digest.</returns>
    public static async Task<Digest> ComputeSha256Async(Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var hash = await SHA256.HashDataAsync(content, cancellationToken).ConfigureAwait(false);
        return FromSha256(hash);
    }

    /// <summary>Whether some bytes have this digest.</summary>
    /// <param name="content">The bytes.</param>
    /// <returns><see langword="true"/> when the bytes hash to this digest.</returns>
    /// <exception cref="NotSupportedException">The algorithm is not one OciKit can verify.</exception>
    public bool Matches(ReadOnlySpan<byte> content) => Algorithm switch
    {
        Sha256Algorithm => Equals(ComputeSha256(content)),
        Sha512Algorithm => Encoded == Convert.ToHexStringLower(SHA512.HashData(content)),
        _ => throw new NotSupportedException($"Digest algorithm '{Algorithm}' cannot be verified."),
    };

    /// <summary>Throws <see cref="DigestMismatchException"/> unless some bytes have this digest.</summary>
    /// <param name="content">The bytes.</param>
    /// <param name="subject">What the bytes are, for the error message.</param>
    /// <exception cref="DigestMismatchException">The bytes have another digest.</exception>
    public void Verify(ReadOnlySpan<byte> content, string subject)
    {
        if (!Matches(content))
        {
            var actual = Algorithm == Sha512Algorithm
                ? new Digest(Sha512Algorithm, Convert.ToHexStringLower(SHA512.HashData(content)))
                : ComputeSha256(content);
            throw new DigestMismatchException(subject, this, actual);
        }
    }

    /// <summary>The digest in its canonical text form, <c>algorithm:encoded</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => Algorithm + ":" + Encoded;

    private static bool TryParse(string? value, [NotNullWhen(true)] out Digest? digest, out string error)
    {
        digest = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "is empty";
            return false;
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == value.Length - 1)
        {
            error = "is not of the form algorithm:encoded";
            return false;
        }

        var algorithm = value[..colon];
        var encoded = value[(colon + 1)..];
        if (!IsValidAlgorithm(algorithm))
        {
            error = "has an invalid algorithm name";
            return false;
        }

        var expectedLength = algorithm switch
        {
            Sha256Algorithm => 64,
            Sha512Algorithm => 128,
            _ => -1,
        };
        if (expectedLength > 0)
        {
            if (encoded.Length != expectedLength)
            {
                error = $"must have {expectedLength} hex characters after '{algorithm}:', not {encoded.Length}";
                return false;
            }

            foreach (var c in encoded)
            {
                if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
                {
                    error = "must be lower-case hex after the algorithm";
                    return false;
                }
            }
        }
        else
        {
            foreach (var c in encoded)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '=' or '_' or '-'))
                {
                    error = "has an invalid character in its encoded part";
                    return false;
                }
            }
        }

        digest = new Digest(algorithm, encoded);
        error = string.Empty;
        return true;
    }

    // algorithm-component ::= [a-z0-9]+ ; algorithm-separator ::= [+._-]
    private static bool IsValidAlgorithm(string algorithm)
    {
        var previousWasSeparator = true;
        foreach (var c in algorithm)
        {
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c))
            {
                previousWasSeparator = false;
            }
            else if (c is '+' or '.' or '_' or '-' && !previousWasSeparator)
            {
                previousWasSeparator = true;
            }
            else
            {
                return false;
            }
        }

        return !previousWasSeparator;
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "…";
}
