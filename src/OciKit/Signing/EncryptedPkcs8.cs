using System.Formats.Asn1;
using System.Security.Cryptography;

namespace OciKit.Signing;

/// <summary>
/// PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018 §6.2, PBKDF2 and AES-CBC), for the keys .NET cannot wrap itself
/// (Ed25519 from NSec) and for reading any encrypted key before its algorithm is known. Writes PBKDF2-HMAC-SHA256 with
/// AES-256-CBC, the parameters <see cref="AsymmetricAlgorithm.ExportEncryptedPkcs8PrivateKey(ReadOnlySpan{char}, PbeParameters)"/>
/// is given for ECDSA keys, so both key types are encrypted alike; reads PBKDF2 with HMAC-SHA1/256/384/512 and AES-128/192/256-CBC
/// (what OpenSSL's <c>pkcs8 -topk8 -v2</c> writes).
/// </summary>
internal static class EncryptedPkcs8
{
    internal const int Iterations = 600_000;
    private const string Pbes2 = "1.2.840.113549.1.5.13";
    private const string Pbkdf2 = "1.2.840.113549.1.5.12";
    private const string HmacSha1 = "1.2.840.113549.2.7";
    private const string HmacSha256 = "1.2.840.113549.2.9";
    private const string HmacSha384 = "1.2.840.113549.2.10";
    private const string HmacSha512 = "1.2.840.113549.2.11";
    private const string Aes128Cbc = "2.16.840.1.101.3.4.1.2";
    private const string Aes192Cbc = "2.16.840.1.101.3.4.1.22";
    private const string Aes256Cbc = "2.16.840.1.101.3.4.1.42";

    /// <summary>Encrypts a PrivateKeyInfo (DER) under a passphrase.</summary>
    public static byte[] Encrypt(ReadOnlySpan<byte> privateKeyInfo, string passphrase)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var iv = RandomNumberGenerator.GetBytes(16);
        var key = Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, Iterations, HashAlgorithmName.SHA256, 32);
        byte[] encrypted;
        try
        {
            using var aes = Aes.Create();
            aes.Key = key;
            encrypted = aes.EncryptCbc(privateKeyInfo, iv, PaddingMode.PKCS7);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(Pbes2);
                using (writer.PushSequence())
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(Pbkdf2);
                        using (writer.PushSequence())
                        {
                            writer.WriteOctetString(salt);
                            writer.WriteInteger(Iterations);
                            using (writer.PushSequence())
                            {
                                writer.WriteObjectIdentifier(HmacSha256);
                                writer.WriteNull();
                            }
                        }
                    }

                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(Aes256Cbc);
                        writer.WriteOctetString(iv);
                    }
                }
            }

            writer.WriteOctetString(encrypted);
        }

        return writer.Encode();
    }

    /// <summary>Decrypts an EncryptedPrivateKeyInfo (DER) to its PrivateKeyInfo (DER).</summary>
    /// <exception cref="SigningKeyException">The structure is not PBES2 as described, or the passphrase is wrong.</exception>
    public static byte[] Decrypt(ReadOnlyMemory<byte> encryptedPrivateKeyInfo, string passphrase, string source)
    {
        byte[] salt, iv, data;
        int iterations, keyLength;
        HashAlgorithmName prf;
        try
        {
            var outer = new AsnReader(encryptedPrivateKeyInfo, AsnEncodingRules.DER).ReadSequence();
            var algorithm = outer.ReadSequence();
            if (algorithm.ReadObjectIdentifier() != Pbes2)
            {
                throw new SigningKeyException(source, "the key is encrypted with a scheme other than PBES2 (RFC 8018).");
            }

            var parameters = algorithm.ReadSequence();
            var kdf = parameters.ReadSequence();
            if (kdf.ReadObjectIdentifier() != Pbkdf2)
            {
                throw new SigningKeyException(source, "the key's PBES2 key derivation is not PBKDF2.");
            }

            var kdfParameters = kdf.ReadSequence();
            salt = kdfParameters.ReadOctetString();
            iterations = (int)kdfParameters.ReadInteger();
            int? statedLength = null;
            prf = HashAlgorithmName.SHA1;
            if (kdfParameters.HasData && kdfParameters.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                statedLength = (int)kdfParameters.ReadInteger();
            }

            if (kdfParameters.HasData)
            {
                var prfSequence = kdfParameters.ReadSequence();
                prf = prfSequence.ReadObjectIdentifier() switch
                {
                    HmacSha1 => HashAlgorithmName.SHA1,
                    HmacSha256 => HashAlgorithmName.SHA256,
                    HmacSha384 => HashAlgorithmName.SHA384,
                    HmacSha512 => HashAlgorithmName.SHA512,
                    _ => throw new SigningKeyException(source, "the key's PBKDF2 pseudo-random function is not HMAC-SHA1/256/384/512."),
                };
            }

            var scheme = parameters.ReadSequence();
            keyLength = scheme.ReadObjectIdentifier() switch
            {
                Aes128Cbc => 16,
                Aes192Cbc => 24,
                Aes256Cbc => 32,
                _ => throw new SigningKeyException(source, "the key's cipher is not AES-CBC."),
            };
            iv = scheme.ReadOctetString();
            data = outer.ReadOctetString();
            if (iv.Length != 16 || iterations < 1 || (statedLength is { } stated && stated != keyLength))
            {
                throw new SigningKeyException(source, "the key's encryption parameters are inconsistent.");
            }
        }
        catch (AsnContentException e)
        {
            throw new SigningKeyException(source, "the encrypted key is not a PKCS#8 EncryptedPrivateKeyInfo.", e);
        }
        catch (OverflowException e)
        {
            throw new SigningKeyException(source, "the key's encryption parameters are out of range.", e);
        }

        var key = Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, iterations, prf, keyLength);
        try
        {
            using var aes = Aes.Create();
            aes.Key = key;
            return aes.DecryptCbc(data, iv, PaddingMode.PKCS7);
        }
        catch (CryptographicException e)
        {
            throw new SigningKeyException(source, "the passphrase is wrong or the key is corrupt.", e) { Problem = SigningKeyProblem.PassphraseWrong };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }
}
