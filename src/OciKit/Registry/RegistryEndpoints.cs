using System.Collections.Concurrent;
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

    /// <summary>
    /// Whether a failed HTTPS probe shows that the registry does not speak HTTPS there, so that plain HTTP may be tried
    /// (where allowed): the TLS handshake failed (the server answered, but not with TLS: "wrong version number"), or
    /// the connection was refused (nothing listens on the HTTPS port, which differs from HTTP's when no port is given).
    /// A timeout is not such a failure.
    /// </summary>
    public static bool IsNotHttps(Exception failure)
    {
        for (var ex = failure; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case RegistryTimeoutException or TimeoutException or OperationCanceledException:
                    return false;
                case HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError }:
                    return true;
                case System.Security.Authentication.AuthenticationException:
                    return true;
                case System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused }:
                    return true;
            }
        }

        return false;
    }

    /// <summary>Whether a failure is (or was caused by) a timeout: the attempt saw no answer, and another would only wait again.</summary>
    public static bool IsTimeout(Exception failure)
    {
        for (var ex = failure; ex is not null; ex = ex.InnerException)
        {
            if (ex is RegistryTimeoutException or TimeoutException or OperationCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a request failed below HTTP, without an answer: the connection was refused, reset or dropped, or what
    /// came back was not HTTP.
    /// </summary>
    public static bool IsBelowHttp(Exception failure)
    {
        for (var ex = failure; ex is not null; ex = ex.InnerException)
        {
            if (ex is HttpRequestException { StatusCode: null } or IOException or System.Net.Sockets.SocketException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a failure is (or was caused by) a refused connection: nothing listens there.</summary>
    public static bool IsConnectionRefused(Exception failure)
    {
        for (var ex = failure; ex is not null; ex = ex.InnerException)
        {
            if (ex is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Validates a server certificate with the registry's own trust options, or the system's trust.</summary>
    public static bool ValidateCertificate(string authority, X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors, RegistryClientOptions options)
    {
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

/// <summary>
/// The network transport: one <see cref="SocketsHttpHandler"/> per <c>host[:port]</c>, so that each validates TLS
/// certificates with that authority's <see cref="RegistryClientOptions.Tls"/> (a <see cref="SocketsHttpHandler"/>'s
/// validation callback is not told the request's port) and bounds connecting by
/// <see cref="RegistryClientOptions.ConnectTimeout"/> (TCP connect and TLS handshake).
/// </summary>
internal sealed class RegistryTransport(RegistryClientOptions options, Action<string, SslPolicyErrors> rejected) : HttpMessageHandler
{
    private readonly ConcurrentDictionary<string, Lazy<HttpMessageInvoker>> _byAuthority = new(StringComparer.OrdinalIgnoreCase);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("A request without a URL.");
        var invoker = _byAuthority.GetOrAdd(uri.Scheme + "://" + uri.Authority, _ => new Lazy<HttpMessageInvoker>(() => Create(uri.Authority))).Value;
        return invoker.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var lazy in _byAuthority.Values.Where(l => l.IsValueCreated))
            {
                lazy.Value.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private HttpMessageInvoker Create(string authority)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.ConnectTimeout,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    var valid = RegistryEndpoints.ValidateCertificate(authority, certificate as X509Certificate2, chain, errors, options);
                    if (!valid)
                    {
                        rejected(authority, errors);
                    }

                    return valid;
                },
            },
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }
}
