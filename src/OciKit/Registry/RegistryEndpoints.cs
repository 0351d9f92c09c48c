using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace OciKit.Registry;

/// <summary>Which scheme a registry is reached with, and how its TLS certificate is trusted.</summary>
internal static class RegistryEndpoints
{
    /// <summary>Whether a <c>host[:port]</c> is on the loopback interface (<c>localhost</c>, 127.0.0.0/8, ::1).</summary>
    public static bool IsLoopback(string authority)
    {
        var host = HostOf(authority);
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Whether plain HTTP may be used for a registry or realm: loopback, or marked insecure by the caller.</summary>
    public static bool MayUsePlainHttp(string authority, RegistryClientOptions options)
        => IsLoopback(authority) || options.InsecureRegistries.Contains(authority) || options.InsecureRegistries.Contains(HostOf(authority));

    /// <summary>Validates a server certificate with the registry's own trust options, or the system's trust.</summary>
    public static bool ValidateCertificate(HttpRequestMessage request, X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors, RegistryClientOptions options)
    {
        var authority = request.RequestUri?.Authority ?? string.Empty;
        if (!options.Tls.TryGetValue(authority, out var tls) && !options.Tls.TryGetValue(HostOf(authority), out tls))
        {
            return errors == SslPolicyErrors.None;
        }

        if (tls.SkipVerify)
        {
            return true;
        }

        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (tls.TrustedCertificates.IsDefaultOrEmpty)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var trusted in tls.TrustedCertificates)
        {
            custom.ChainPolicy.CustomTrustStore.Add(trusted);
        }

        if (chain is not null)
        {
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(certificate);
    }

    private static string HostOf(string authority)
    {
        if (authority.StartsWith('['))
        {
            var end = authority.IndexOf(']', StringComparison.Ordinal);
            return end > 0 ? authority[..(end + 1)] : authority;
        }

        var colon = authority.LastIndexOf(':');
        return colon > 0 ? authority[..colon] : authority;
    }
}
