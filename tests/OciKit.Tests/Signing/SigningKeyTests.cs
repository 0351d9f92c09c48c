using System.Text;
using OciKit.Signing;

namespace OciKit.Tests.Signing;

/// <summary>Keys: generated, written as PEM (plain and encrypted PKCS#8), read back, and bad key files refused by type.</summary>
public class SigningKeyTests
{
    private static readonly byte[] Data = "the payload"u8.ToArray();

    public static TheoryData<SigningKeyType> Types => new() { SigningKeyType.Ed25519, SigningKeyType.EcdsaP256 };

    [Theory]
    [MemberData(nameof(Types))]
    public void A_plain_key_round_trips_through_PEM_and_still_signs_for_its_public_key(SigningKeyType type)
    {
        using var key = SigningKey.Generate(type);
        var pem = key.ExportPem();
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem, StringComparison.Ordinal);

        using var read = SigningKey.FromPem(pem, passphrase: null);
        Assert.Equal(type, read.Type);
        Assert.Equal(key.PublicKey.Fingerprint, read.PublicKey.Fingerprint);
        Assert.True(key.PublicKey.Verify(Data, read.Sign(Data)));
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void An_encrypted_key_round_trips_with_its_passphrase(SigningKeyType type)
    {
        using var key = SigningKey.Generate(type);
        var pem = key.ExportPem("correct horse");
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", pem, StringComparison.Ordinal);

        using var read = SigningKey.FromPem(pem, "correct horse");
        Assert.Equal(key.PublicKey.Fingerprint, read.PublicKey.Fingerprint);
        Assert.True(key.PublicKey.Verify(Data, read.Sign(Data)));
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void A_wrong_passphrase_is_a_typed_error_that_does_not_echo_it(SigningKeyType type)
    {
        using var key = SigningKey.Generate(type);
        var pem = key.ExportPem("correct horse");

        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, "battery staple", "app.key"));
        Assert.Contains("app.key", error.Message, StringComparison.Ordinal);
        Assert.Contains("passphrase is wrong", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("battery", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("horse", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_encrypted_key_without_a_passphrase_is_refused()
    {
        using var key = SigningKey.Generate(SigningKeyType.Ed25519);
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(key.ExportPem("p"), null, "app.key"));
        Assert.Contains("no passphrase", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void The_public_key_round_trips_and_verifies_only_its_own_signatures(SigningKeyType type)
    {
        using var key = SigningKey.Generate(type);
        using var other = SigningKey.Generate(type);
        var pub = VerificationKey.FromPem(key.PublicKey.ExportPem());
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", key.PublicKey.ExportPem(), StringComparison.Ordinal);
        Assert.Equal(type, pub.Type);

        var signature = key.Sign(Data);
        Assert.True(pub.Verify(Data, signature));
        Assert.False(pub.Verify("another payload"u8, signature));
        Assert.False(pub.Verify(Data, other.Sign(Data)));
    }

    [Fact]
    public void Ed25519_signatures_are_pure_64_byte_and_ECDSA_ones_DER_sequences()
    {
        using var ed = SigningKey.Generate(SigningKeyType.Ed25519);
        using var ec = SigningKey.Generate(SigningKeyType.EcdsaP256);
        Assert.Equal(64, ed.Sign(Data).Length);
        Assert.Equal(ed.Sign(Data), ed.Sign(Data)); // deterministic (RFC 8032), no prehash
        Assert.Equal(0x30, ec.Sign(Data)[0]);
    }

    [Theory]
    [InlineData("not a key at all", "not PEM")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PKCS#8 private key")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE'")]
    [InlineData("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "not a PKCS#8 EncryptedPrivateKeyInfo")]
    public void Corrupt_private_key_files_are_typed_errors_naming_the_file(string pem, string reason)
    {
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, "p", "/keys/app.key"));
        Assert.Contains("/keys/app.key", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupted_key_body_is_refused_without_echoing_it()
    {
        using var key = SigningKey.Generate(SigningKeyType.EcdsaP256);
        var pem = key.ExportPem();
        var lines = pem.Split('\n');
        var body = lines[1];
        lines[1] = body[..10] + new string('A', body.Length - 10);
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(string.Join('\n', lines), null, "app.key"));
        Assert.DoesNotContain(body[10..30], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_private_key_is_not_a_public_key_and_an_RSA_or_other_curve_key_is_refused()
    {
        using var key = SigningKey.Generate(SigningKeyType.EcdsaP256);
        Assert.Throws<SigningKeyException>(() => VerificationKey.FromPem(key.ExportPem(), "app.key"));

        using var p384 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384);
        var curveError = Assert.Throws<SigningKeyException>(() => VerificationKey.FromPem(p384.ExportSubjectPublicKeyInfoPem(), "p384.pub"));
        Assert.Contains("only P-256", curveError.Message, StringComparison.Ordinal);

        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var rsaError = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(rsa.ExportPkcs8PrivateKeyPem(), null, "rsa.key"));
        Assert.Contains("neither Ed25519 nor ECDSA P-256", rsaError.Message, StringComparison.Ordinal);
    }

    // Not a base64 string (it has spaces and "!"), so the PEM text can never hold it by chance.
    private const string Passphrase = "pass phrase!";

    [Theory]
    [MemberData(nameof(Types))]
    public async Task Key_files_are_written_with_a_private_mode_and_read_back(SigningKeyType type)
    {
        var dir = Directory.CreateTempSubdirectory("ocikit-keys-");
        try
        {
            using var key = SigningKey.Generate(type);
            var (privatePath, publicPath) = await KeyFiles.WriteAsync(key, Path.Combine(dir.FullName, "sub", "cosign"), Passphrase);
            Assert.Equal(Path.Combine(dir.FullName, "sub", "cosign.key"), privatePath);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
            }

            Assert.Equal<string>(["cosign.key", "cosign.pub"], Directory.GetFiles(Path.Combine(dir.FullName, "sub")).Select(f => Path.GetFileName(f)!).Order().ToArray());
            using var read = await KeyFiles.ReadSigningKeyAsync(privatePath, Passphrase);
            var pub = await KeyFiles.ReadVerificationKeyAsync(publicPath);
            Assert.True(pub.Verify(Data, read.Sign(Data)));
            Assert.DoesNotContain(Passphrase, await File.ReadAllTextAsync(privatePath, Encoding.ASCII), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
