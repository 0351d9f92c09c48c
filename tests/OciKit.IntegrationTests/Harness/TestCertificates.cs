using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OciKit.IntegrationTests.Harness;

/// <summary>Certificates the tests generate for themselves; the machine's trust store is never touched.</summary>
public static class TestCertificates
{
    /// <summary>A self-signed server certificate for 127.0.0.1 and localhost (ECDSA P-256), valid for a day.</summary>
    public static X509Certificate2 CreateServerCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.UtcNow;
        return ServerRequest(key).CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    /// <summary>A server certificate for 127.0.0.1 and localhost (ECDSA P-256, with its private key) issued by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 CreateServerCertificate(X509Certificate2 issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.UtcNow;
        using var issued = ServerRequest(key).Create(issuer, now.AddMinutes(-4), now.AddHours(23), RandomNumberGenerator.GetBytes(12));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A CA certificate (ECDSA P-256) that can sign other certificates.</summary>
    public static X509Certificate2 CreateCertificateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    /// <summary>A leaf certificate (ECDSA P-256, with its private key) issued by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 CreateSigningCertificate(X509Certificate2 issuer, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(issuer, now.AddMinutes(-4), now.AddHours(23), serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes a certificate as PEM.</summary>
    public static void WriteCertificatePem(X509Certificate2 certificate, string path) => File.WriteAllText(path, certificate.ExportCertificatePem());

    /// <summary>Writes a certificate's ECDSA private key as PKCS#8 PEM.</summary>
    public static void WritePrivateKeyPem(X509Certificate2 certificate, string path)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The certificate has no ECDSA private key.");
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A TLS server certificate's request for 127.0.0.1 and localhost: its names, key usage and server authentication.</summary>
    private static CertificateRequest ServerRequest(ECDsa key)
    {
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request;
    }
}
