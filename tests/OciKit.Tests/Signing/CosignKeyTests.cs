using System.Text;
using OciKit.Signing;

namespace OciKit.Tests.Signing;

/// <summary>
/// cosign's encrypted private keys (scrypt + NaCl secretbox in a JSON PEM body): both PEM labels and both key types
/// read back, the empty passphrase tried when none is given, a wrong or missing passphrase typed and never echoed,
/// and hostile parameters refused before any work.
/// </summary>
public sealed class CosignKeyTests
{
    private const string Passphrase = "s3cret passphrase";

    [Theory]
    [InlineData(SigningKeyType.EcdsaP256, CosignEncryptedKey.SigstoreLabel)]
    [InlineData(SigningKeyType.Ed25519, CosignEncryptedKey.CosignLabel)]
    public void A_cosign_key_reads_back_with_its_passphrase_and_signs_for_its_public_key(SigningKeyType type, string label)
    {
        using var original = SigningKey.Generate(type);
        var pem = CosignPem(original, Passphrase, label);

        using var read = SigningKey.FromPem(pem, Passphrase, "cosign.key");
        Assert.Equal(type, read.PublicKey.Type);
        Assert.Equal(original.PublicKey.Fingerprint, read.PublicKey.Fingerprint);
        var payload = "payload"u8.ToArray();
        Assert.True(original.PublicKey.Verify(payload, read.Sign(payload)));
    }

    [Fact]
    public void A_wrong_or_missing_passphrase_is_typed_and_never_echoed_and_the_empty_one_is_tried_without_one()
    {
        using var original = SigningKey.Generate(SigningKeyType.EcdsaP256);
        var pem = CosignPem(original, Passphrase, CosignEncryptedKey.SigstoreLabel);

        var wrong = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, "not it", "cosign.key"));
        Assert.Equal(SigningKeyProblem.PassphraseWrong, wrong.Problem);
        Assert.DoesNotContain("not it", wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Passphrase, wrong.Message, StringComparison.Ordinal);
        Assert.Contains("cosign.key", wrong.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, null, "cosign.key"));
        Assert.Equal(SigningKeyProblem.PassphraseMissing, missing.Problem);

        // cosign generate-key-pair with an empty COSIGN_PASSWORD: readable without a passphrase.
        using var empty = SigningKey.FromPem(CosignPem(original, string.Empty, CosignEncryptedKey.SigstoreLabel), null, "cosign.key");
        Assert.Equal(original.PublicKey.Fingerprint, empty.PublicKey.Fingerprint);
    }

    [Theory]
    [InlineData("""{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAA"}""", "out of the bounds")]
    [InlineData("""{"kdf":{"name":"scrypt","params":{"N":1000,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAA"}""", "out of the bounds")]
    [InlineData("""{"kdf":{"name":"pbkdf2","params":{},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAA"},"ciphertext":"AAAA"}""", "not scrypt")]
    [InlineData("""{"kdf":{"name":"scrypt","params":{"N":1024,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"aes","nonce":"AAAA"},"ciphertext":"AAAA"}""", "not nacl/secretbox")]
    [InlineData("""{"kdf":{"name":"scrypt","params":{"N":1024,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAA"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAA"}""", "wrong length")]
    [InlineData("""not json""", "not cosign's encrypted key JSON")]
    public void A_malformed_or_hostile_body_is_an_unusable_key(string json, string reason)
    {
        var pem = $"-----BEGIN {CosignEncryptedKey.SigstoreLabel}-----\n{Convert.ToBase64String(Encoding.UTF8.GetBytes(json))}\n-----END {CosignEncryptedKey.SigstoreLabel}-----\n";
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, Passphrase, "cosign.key"));
        Assert.Equal(SigningKeyProblem.Unusable, error.Problem);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    /// <summary>A key as cosign writes it: its PKCS#8 sealed by scrypt (N=32768, r=8, p=1) and a secretbox, in a JSON PEM body.</summary>
    internal static string CosignPem(SigningKey key, string passphrase, string label)
    {
        var pkcs8 = Convert.FromBase64String(string.Concat(key.ExportPem().Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal))));
        var json = CosignEncryptedKey.Encrypt(pkcs8, passphrase);
        return $"-----BEGIN {label}-----\n{Convert.ToBase64String(json, Base64FormattingOptions.InsertLineBreaks)}\n-----END {label}-----\n";
    }
}
