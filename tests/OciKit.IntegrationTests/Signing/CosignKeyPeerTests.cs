using System.Security.Cryptography;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.Signing;

namespace OciKit.IntegrationTests.Signing;

/// <summary>
/// cosign's encrypted key format against peers: OpenSSL's scrypt derives the same key as the one the reader uses (with
/// cosign's parameters), and <c>ocikit sign</c> signs with such a key file so that <c>ocikit verify</c> accepts the
/// image with its public key.
/// </summary>
[Collection(RegistryCollection.Name)]
public class CosignKeyPeerTests(RegistryFixture fixture)
{
    [Fact]
    public async Task Openssl_scrypt_agrees_and_a_cosign_key_file_signs_through_the_cli()
    {
        var salt = RandomNumberGenerator.GetBytes(32);
        var ours = CosignEncryptedKey.DeriveKey("pass word", salt, 32768, 8, 1, "test");
        var openssl = await Tool.RunCheckedAsync("openssl", ["kdf", "-keylen", "32", "-kdfopt", "pass:pass word", "-kdfopt", "hexsalt:" + Convert.ToHexString(salt), "-kdfopt", "n:32768", "-kdfopt", "r:8", "-kdfopt", "p:1", "SCRYPT"]);
        Assert.Equal(Convert.ToHexString(ours), openssl.StdOut.Trim().Replace(":", "", StringComparison.Ordinal));

        using var dir = new TempDir();
        var cli = new CliRun(dir);
        const string Variable = "OCIKIT_IT_COSIGN_KEY_PASSPHRASE";
        Environment.SetEnvironmentVariable(Variable, "cosign passphrase");
        using (var key = SigningKey.Generate(SigningKeyType.EcdsaP256))
        {
            var pkcs8 = Convert.FromBase64String(string.Concat(key.ExportPem().Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal))));
            var body = Convert.ToBase64String(CosignEncryptedKey.Encrypt(pkcs8, "cosign passphrase"), Base64FormattingOptions.InsertLineBreaks);
            await File.WriteAllTextAsync(dir.Combine("cosign.key"), $"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
            await File.WriteAllTextAsync(dir.Combine("cosign.pub"), key.PublicKey.ExportPem());
        }

        await BusyboxImage.PushAsync(fixture.Registry, "signing/cosign-key", "v1");
        var image = $"{fixture.Registry.Host}/signing/cosign-key:v1";
        (await cli.RunAsync("sign", "--key", dir.Combine("cosign.key"), "--passphrase-env", Variable, image)).Succeeded();
        (await cli.RunAsync("verify", "--key", dir.Combine("cosign.pub"), image)).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("cosign.key"), image)).FailedWith(1, "no passphrase was given");
    }
}
