using System.Formats.Asn1;
using System.Security.Cryptography;
using NSec.Cryptography;
using OciKit.Primitives;

namespace OciKit.Signing;

/// <summary>The key types OciKit signs and verifies with (those cosign and containers/image accept).</summary>
public enum SigningKeyType
{
    /// <summary>Ed25519 (RFC 8032), pure: the signature is over the payload bytes themselves.</summary>
    Ed25519,

    /// <summary>ECDSA on NIST P-256 over the SHA-256 of the payload, the signature ASN.1 DER encoded (cosign's default key type).</summary>
    EcdsaP256,
}

/// <summary>Shared PEM and ASN.1 helpers of <see cref="SigningKey"/> and <see cref="VerificationKey"/>.</summary>
internal static class KeyPem
{
    internal const string Ed25519Oid = "1.3.101.112";
    internal const string EcPublicKeyOid = "1.2.840.10045.2.1";
    internal const string P256Oid = "1.2.840.10045.3.1.7";

    /// <summary>The one PEM block of <paramref name="text"/> and its decoded bytes.</summary>
    public static (string Label, byte[] Der) ReadSingle(string text, string source)
    {
        if (!PemEncoding.TryFind(text, out var fields))
        {
            throw new SigningKeyException(source, "it is not PEM (no '-----BEGIN ...-----' block).");
        }

        var label = text[fields.Label];
        var der = new byte[fields.DecodedDataLength];
        if (!Convert.TryFromBase64Chars(text.AsSpan()[fields.Base64Data], der, out var written) || written != der.Length)
        {
            throw new SigningKeyException(source, "its PEM body is not base64.");
        }

        return (label, der);
    }

    /// <summary>The algorithm OID and (for EC keys) curve OID of an AlgorithmIdentifier read from <paramref name="reader"/>.</summary>
    public static SigningKeyType ReadAlgorithm(AsnReader reader, string source)
    {
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        switch (oid)
        {
            case Ed25519Oid:
                return SigningKeyType.Ed25519;
            case EcPublicKeyOid:
                var curve = algorithm.HasData && algorithm.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier) ? algorithm.ReadObjectIdentifier() : null;
                return curve == P256Oid
                    ? SigningKeyType.EcdsaP256
                    : throw new SigningKeyException(source, $"it is an EC key on curve {curve ?? "(not named)"}; only P-256 ({P256Oid}) is supported.");
            default:
                throw new SigningKeyException(source, $"its algorithm {oid} is neither Ed25519 nor ECDSA P-256.");
        }
    }

    /// <summary>The key type of a PKCS#8 PrivateKeyInfo.</summary>
    public static SigningKeyType PrivateKeyType(byte[] der, string source)
    {
        try
        {
            var info = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
            _ = info.ReadInteger();
            return ReadAlgorithm(info, source);
        }
        catch (AsnContentException e)
        {
            throw new SigningKeyException(source, "it is not a PKCS#8 private key.", e);
        }
    }

    /// <summary>The key type of a SubjectPublicKeyInfo.</summary>
    public static SigningKeyType PublicKeyType(byte[] der, string source)
    {
        try
        {
            var info = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            return ReadAlgorithm(info, source);
        }
        catch (AsnContentException e)
        {
            throw new SigningKeyException(source, "it is not a SubjectPublicKeyInfo public key.", e);
        }
    }
}

/// <summary>
/// A private key that signs: Ed25519 (through NSec) or ECDSA P-256 (through <see cref="ECDsa"/>). Stored as PKCS#8
/// PEM (RFC 5958, <c>PRIVATE KEY</c>), or under a passphrase as encrypted PKCS#8 (<c>ENCRYPTED PRIVATE KEY</c>,
/// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC), the formats OpenSSL reads.
/// </summary>
public sealed class SigningKey : IDisposable
{
    private readonly Key? _ed25519;
    private readonly ECDsa? _ecdsa;

    private SigningKey(Key ed25519)
    {
        _ed25519 = ed25519;
        Type = SigningKeyType.Ed25519;
        PublicKey = new VerificationKey(ed25519.PublicKey.Export(KeyBlobFormat.PkixPublicKey), "the generated key");
    }

    private SigningKey(ECDsa ecdsa)
    {
        _ecdsa = ecdsa;
        Type = SigningKeyType.EcdsaP256;
        PublicKey = new VerificationKey(ecdsa.ExportSubjectPublicKeyInfo(), "the generated key");
    }

    /// <summary>The key's type.</summary>
    public SigningKeyType Type { get; }

    /// <summary>The matching public key.</summary>
    public VerificationKey PublicKey { get; }

    /// <summary>Generates a new key.</summary>
    /// <param name="type">The key type.</param>
    /// <returns>The key; dispose it.</returns>
    public static SigningKey Generate(SigningKeyType type) => type switch
    {
        SigningKeyType.Ed25519 => new SigningKey(Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport })),
        SigningKeyType.EcdsaP256 => new SigningKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown key type."),
    };

    /// <summary>
    /// Reads a key from PEM text: <c>PRIVATE KEY</c> (PKCS#8), <c>ENCRYPTED PRIVATE KEY</c> with a passphrase, or
    /// cosign's <c>ENCRYPTED SIGSTORE PRIVATE KEY</c> (or older <c>ENCRYPTED COSIGN PRIVATE KEY</c>: scrypt and a NaCl
    /// secretbox), whose passphrase may be empty (tried when none is given).
    /// </summary>
    /// <param name="pem">The PEM text.</param>
    /// <param name="passphrase">The passphrase of an encrypted key; null for a plain one.</param>
    /// <param name="source">Names the key in errors, for example its file.</param>
    /// <returns>The key; dispose it.</returns>
    /// <exception cref="SigningKeyException">The text is not such a key, the key is encrypted and no passphrase was given, or the passphrase is wrong.</exception>
    public static SigningKey FromPem(string pem, string? passphrase, string source = "key")
    {
        ArgumentNullException.ThrowIfNull(pem);
        ArgumentNullException.ThrowIfNull(source);
        var (label, der) = KeyPem.ReadSingle(pem, source);
        try
        {
            switch (label)
            {
                case "PRIVATE KEY":
                    return FromPkcs8(der, source);
                case "ENCRYPTED PRIVATE KEY":
                    if (passphrase is null)
                    {
                        throw new SigningKeyException(source, "it is encrypted and no passphrase was given.") { Problem = SigningKeyProblem.PassphraseMissing };
                    }

                    var plain = EncryptedPkcs8.Decrypt(der, passphrase, source);
                    try
                    {
                        return FromPkcs8(plain, source);
                    }
                    catch (SigningKeyException e)
                    {
                        // Garbage from a wrong passphrase may still end in valid padding (1 in 256).
                        throw new SigningKeyException(source, "the passphrase is wrong or the key is corrupt.", e) { Problem = SigningKeyProblem.PassphraseWrong };
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(plain);
                    }

                case CosignEncryptedKey.SigstoreLabel or CosignEncryptedKey.CosignLabel:
                    return FromCosign(der, passphrase, source);

                default:
                    throw new SigningKeyException(source, $"its PEM block is '{label}', not 'PRIVATE KEY', 'ENCRYPTED PRIVATE KEY' or cosign's '{CosignEncryptedKey.SigstoreLabel}'.");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    // cosign's keys are always encrypted, often with the empty passphrase (COSIGN_PASSWORD=""): without a passphrase
    // the empty one is tried.
    private static SigningKey FromCosign(byte[] json, string? passphrase, string source)
    {
        byte[] plain;
        try
        {
            plain = CosignEncryptedKey.Decrypt(json, passphrase ?? string.Empty, source);
        }
        catch (SigningKeyException e) when (passphrase is null && e.Problem == SigningKeyProblem.PassphraseWrong)
        {
            throw new SigningKeyException(source, "it is encrypted (cosign) and no passphrase was given (the empty one does not open it).", e) { Problem = SigningKeyProblem.PassphraseMissing };
        }

        try
        {
            return FromPkcs8(plain, source);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private static SigningKey FromPkcs8(byte[] der, string source)
    {
        var type = KeyPem.PrivateKeyType(der, source);
        try
        {
            if (type == SigningKeyType.Ed25519)
            {
                return new SigningKey(Key.Import(SignatureAlgorithm.Ed25519, der, KeyBlobFormat.PkixPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
            }

            var ecdsa = ECDsa.Create();
            try
            {
                ecdsa.ImportPkcs8PrivateKey(der, out _);
                return new SigningKey(ecdsa);
            }
            catch
            {
                ecdsa.Dispose();
                throw;
            }
        }
        catch (Exception e) when (e is CryptographicException or FormatException or AsnContentException)
        {
            throw new SigningKeyException(source, $"its {type} private key is malformed.", e);
        }
    }

    /// <summary>The key as PEM: PKCS#8, or encrypted PKCS#8 when a passphrase is given.</summary>
    /// <param name="passphrase">Encrypts the key when not null.</param>
    /// <returns>The PEM text (secret: write it only where the key belongs).</returns>
    public string ExportPem(string? passphrase = null)
    {
        ObjectDisposedException.ThrowIf(_ed25519 is null && _ecdsa is null, this);
        if (_ecdsa is not null)
        {
            return passphrase is null
                ? _ecdsa.ExportPkcs8PrivateKeyPem()
                : _ecdsa.ExportEncryptedPkcs8PrivateKeyPem(passphrase, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, EncryptedPkcs8.Iterations));
        }

        var der = _ed25519!.Export(KeyBlobFormat.PkixPrivateKey);
        try
        {
            if (passphrase is null)
            {
                return new string(PemEncoding.Write("PRIVATE KEY", der));
            }

            return new string(PemEncoding.Write("ENCRYPTED PRIVATE KEY", EncryptedPkcs8.Encrypt(der, passphrase)));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    /// <summary>Signs data: pure Ed25519 over the bytes, or ECDSA P-256 over their SHA-256 with a DER signature.</summary>
    /// <param name="data">The bytes to sign.</param>
    /// <returns>The signature.</returns>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        if (_ecdsa is not null)
        {
            return _ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }

        ObjectDisposedException.ThrowIf(_ed25519 is null, this);
        return SignatureAlgorithm.Ed25519.Sign(_ed25519, data);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ed25519?.Dispose();
        _ecdsa?.Dispose();
    }
}

/// <summary>A public key that verifies signatures, read from or written as SubjectPublicKeyInfo PEM (<c>PUBLIC KEY</c>).</summary>
public sealed class VerificationKey
{
    private readonly byte[] _spki;

    internal VerificationKey(byte[] subjectPublicKeyInfo, string source)
    {
        Type = KeyPem.PublicKeyType(subjectPublicKeyInfo, source);
        _spki = subjectPublicKeyInfo;
        try
        {
            // Parse once here so a malformed key fails when read, not at the first verification.
            _ = Verify([], [0]);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or AsnContentException)
        {
            throw new SigningKeyException(source, $"its {Type} public key is malformed.", e);
        }

        Fingerprint = Digest.ComputeSha256(_spki);
    }

    /// <summary>The key's type.</summary>
    public SigningKeyType Type { get; }

    /// <summary>The SHA-256 of the key's SubjectPublicKeyInfo DER, naming the key in output.</summary>
    public Digest Fingerprint { get; }

    /// <summary>Reads a public key from PEM text (<c>PUBLIC KEY</c>, SubjectPublicKeyInfo).</summary>
    /// <param name="pem">The PEM text.</param>
    /// <param name="source">Names the key in errors, for example its file.</param>
    /// <returns>The key.</returns>
    /// <exception cref="SigningKeyException">The text is not such a key.</exception>
    public static VerificationKey FromPem(string pem, string source = "key")
    {
        ArgumentNullException.ThrowIfNull(pem);
        ArgumentNullException.ThrowIfNull(source);
        var (label, der) = KeyPem.ReadSingle(pem, source);
        return label == "PUBLIC KEY"
            ? new VerificationKey(der, source)
            : throw new SigningKeyException(source, $"its PEM block is '{label}', not 'PUBLIC KEY'.");
    }

    /// <summary>The key as SubjectPublicKeyInfo PEM.</summary>
    /// <returns>The PEM text.</returns>
    public string ExportPem() => new(PemEncoding.Write("PUBLIC KEY", _spki));

    /// <summary>Checks a signature made by <see cref="SigningKey.Sign"/> with the matching private key.</summary>
    /// <param name="data">The signed bytes.</param>
    /// <param name="signature">The signature.</param>
    /// <returns>Whether it is valid.</returns>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (Type == SigningKeyType.Ed25519)
        {
            var key = NSec.Cryptography.PublicKey.Import(SignatureAlgorithm.Ed25519, _spki, KeyBlobFormat.PkixPublicKey);
            return SignatureAlgorithm.Ed25519.Verify(key, data, signature);
        }

        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(_spki, out _);
        return ecdsa.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }
}
