using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OciKit.IntegrationTests.Harness;

/// <summary>How a <see cref="RegistryServer"/> authenticates clients.</summary>
public enum RegistryAuthMode
{
    /// <summary>No authentication, plain HTTP.</summary>
    Anonymous,

    /// <summary>htpasswd Basic authentication over TLS with a self-signed certificate the test generated.</summary>
    BasicTls,

    /// <summary>Token authentication as Docker Hub does it: a Bearer challenge pointing at a <see cref="TokenServer"/>.</summary>
    Token,
}

/// <summary>
/// The CNCF distribution server (Debian's <c>docker-registry</c>) on a free 127.0.0.1 port, with its own storage and
/// generated configuration; stopped and deleted on dispose.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    /// <summary>The user the Basic and token modes know.</summary>
    public const string User = "tester";

    /// <summary>That user's password (test-only).</summary>
    public const string Password = "s3cret-Pa55word!";

    /// <summary>The token service name.</summary>
    public const string TokenService = "ocikit-test-registry";

    private readonly TempDir _dir;
    private readonly System.Diagnostics.Process _process;
    private readonly StringBuilder _log = new();

    private RegistryServer(TempDir dir, RegistryAuthMode mode, int port, System.Diagnostics.Process process, X509Certificate2? certificate, TokenServer? tokenServer)
    {
        _dir = dir;
        Mode = mode;
        Port = port;
        _process = process;
        Certificate = certificate;
        TokenServer = tokenServer;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
    }

    /// <summary>The authentication mode.</summary>
    public RegistryAuthMode Mode { get; }

    /// <summary>The loopback port.</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:PORT</c>, the registry part of image references.</summary>
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>The base URI (<c>http</c> or <c>https</c>).</summary>
    public Uri BaseUri => new($"{(Mode == RegistryAuthMode.BasicTls ? "https" : "http")}://{Host}/");

    /// <summary>The self-signed server certificate (Basic mode).</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>The token server (token mode).</summary>
    public TokenServer? TokenServer { get; }

    /// <summary>The registry's storage directory.</summary>
    public string StorageDirectory => _dir.Combine("storage");

    /// <summary>What the registry logged so far (one line per request among others).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts a registry without authentication.</summary>
    public static Task<RegistryServer> StartAnonymousAsync(CancellationToken cancellationToken = default)
        => StartAsync(RegistryAuthMode.Anonymous, null, cancellationToken);

    /// <summary>Starts a registry with htpasswd Basic auth over TLS (user <see cref="User"/>).</summary>
    public static Task<RegistryServer> StartBasicTlsAsync(CancellationToken cancellationToken = default)
        => StartAsync(RegistryAuthMode.BasicTls, null, cancellationToken);

    /// <summary>
    /// Starts a registry with token auth. The default policy gives anonymous users pull on every repository and
    /// <see cref="User"/> pull and push; pass another to restrict.
    /// </summary>
    public static Task<RegistryServer> StartTokenAsync(Func<string?, TokenAccess, IReadOnlyList<string>>? policy = null, CancellationToken cancellationToken = default)
        => StartAsync(RegistryAuthMode.Token, policy ?? DefaultPolicy, cancellationToken);

    /// <summary>Anonymous: pull; <see cref="User"/>: pull, push and delete.</summary>
    public static IReadOnlyList<string> DefaultPolicy(string? user, TokenAccess requested)
        => user == User ? ["pull", "push", "delete", "*"] : ["pull"];

    /// <summary>An HttpClient for this registry that trusts its certificate through the client's own options.</summary>
    public HttpClient CreateHttpClient()
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false };
        if (Certificate is not null)
        {
            var thumbprint = Certificate.GetCertHashString();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == thumbprint;
        }

        return new HttpClient(handler) { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>The Basic Authorization header value for <see cref="User"/>.</summary>
    public static AuthenticationHeaderValue BasicAuthorization()
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")));

    /// <summary>
    /// How many successful requests with this method and a path containing <paramref name="pathContains"/> the
    /// registry logged, once the log is settled (see <see cref="SettleLog"/>). For exact counts of what a client sent,
    /// prefer a <see cref="FaultProxy"/> in front of the registry: it records each request before forwarding it.
    /// </summary>
    public int CountRequests(string method, string pathContains)
    {
        SettleLog();
        return Log.Split('\n').Count(l => l.Contains("msg=\"response completed\"", StringComparison.Ordinal)
            && l.Contains($"http.request.method={method} ", StringComparison.Ordinal)
            && l.Contains(pathContains, StringComparison.Ordinal));
    }

    /// <summary>
    /// Waits until the log holds the lines of the requests the registry answered before this call. The log is read
    /// from the registry's output pipe asynchronously, so a line can arrive after the client has its answer; this sends
    /// a sentinel request (<c>GET /v2/?ocikit-log-sentinel=…</c>, which the registry logs in every mode: 200, or a 401
    /// warning) and returns once its line has been read. The registry writes its lines to one pipe in order, and writes
    /// a request's line when its handler returns, so every request answered before the sentinel was sent is logged
    /// ahead of it.
    /// </summary>
    public void SettleLog()
    {
        var marker = "ocikit-log-sentinel=" + Guid.NewGuid().ToString("N");
        using (var client = CreateHttpClient())
        using (var request = new HttpRequestMessage(HttpMethod.Get, "v2/?" + marker))
        using (client.Send(request))
        {
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        lock (_log)
        {
            while (_log.ToString().IndexOf(marker, StringComparison.Ordinal) < 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    throw new ToolFailedException($"docker-registry did not log the sentinel request {marker} within 30 s:\n{_log}");
                }

                Monitor.Wait(_log, left);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        TokenServer?.Dispose();
        Certificate?.Dispose();
        _dir.Dispose();
    }

    private static async Task<RegistryServer> StartAsync(RegistryAuthMode mode, Func<string?, TokenAccess, IReadOnlyList<string>>? policy, CancellationToken cancellationToken)
    {
        var executable = Tool.Locate("docker-registry");
        var dir = new TempDir("ocikit-registry");
        X509Certificate2? certificate = null;
        TokenServer? tokenServer = null;
        var port = FreePort.Next();
        var config = new StringBuilder();
        config.Append($"""
            version: 0.1
            log:
              level: info
              formatter: text
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {dir.Combine("storage")}
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:{port}
              secret: ocikit-test-secret

            """);
        switch (mode)
        {
            case RegistryAuthMode.BasicTls:
                certificate = TestCertificates.CreateServerCertificate();
                TestCertificates.WriteCertificatePem(certificate, dir.Combine("server.crt"));
                TestCertificates.WritePrivateKeyPem(certificate, dir.Combine("server.key"));
                // Go's bcrypt accepts the $2a$ hashes BCrypt.Net writes; cost 5 keeps the test fast.
                File.WriteAllText(dir.Combine("htpasswd"), $"{User}:{BCrypt.Net.BCrypt.HashPassword(Password, 5)}\n");
                config.Append($"""
                      tls:
                        certificate: {dir.Combine("server.crt")}
                        key: {dir.Combine("server.key")}
                    auth:
                      htpasswd:
                        realm: ocikit-test
                        path: {dir.Combine("htpasswd")}

                    """);
                break;
            case RegistryAuthMode.Token:
                using (var ca = TestCertificates.CreateCertificateAuthority("ocikit test token CA"))
                {
                    TestCertificates.WriteCertificatePem(ca, dir.Combine("token-ca.crt"));
                    tokenServer = new TokenServer(ca, TokenService, "ocikit-test-issuer", new Dictionary<string, string> { [User] = Password }, policy!);
                }

                config.Append($"""
                    auth:
                      token:
                        realm: {tokenServer.Realm}
                        service: {TokenService}
                        issuer: ocikit-test-issuer
                        rootcertbundle: {dir.Combine("token-ca.crt")}

                    """);
                break;
        }

        File.WriteAllText(dir.Combine("config.yml"), config.ToString());
        var psi = new System.Diagnostics.ProcessStartInfo(executable, ["serve", dir.Combine("config.yml")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new System.Diagnostics.Process { StartInfo = psi };
        var server = new RegistryServer(dir, mode, port, process, certificate, tokenServer);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var client = CreateHttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new ToolFailedException($"docker-registry exited with {_process.ExitCode} while starting:\n{Log}");
            }

            try
            {
                using var response = await client.GetAsync("v2/", cancellationToken).ConfigureAwait(false);
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new ToolFailedException($"docker-registry did not answer /v2/ on {BaseUri} within 30 s:\n{Log}");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
            Monitor.PulseAll(_log);
        }
    }
}
