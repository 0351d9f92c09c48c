namespace OciKit.Auth;

/// <summary>
/// How credential stores name registries: Docker keys Docker Hub as <c>https://index.docker.io/v1/</c> and every
/// other registry by host; older files and other tools write <c>https://host</c>, <c>https://host/v1/</c> or
/// <c>http://host</c>.
/// </summary>
public static class RegistryKeys
{
    /// <summary>The key Docker stores Docker Hub credentials under, and the server URL it gives credential helpers.</summary>
    public const string DockerHubServerUrl = "https://index.docker.io/v1/";

    /// <summary>The registry name of Docker Hub in references.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>
    /// The registry host a key or registry name stands for, as Docker's <c>ConvertToHostname</c> reads it (the scheme
    /// and any path are dropped), with every Docker Hub alias (<c>index.docker.io</c>, <c>registry-1.docker.io</c>,
    /// <c>registry.hub.docker.com</c>) read as <c>docker.io</c>.
    /// </summary>
    /// <param name="key">A registry, for example <c>ghcr.io</c>, <c>localhost:5000</c> or <c>https://index.docker.io/v1/</c>.</param>
    /// <returns>The host, for example <c>docker.io</c> or <c>localhost:5000</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public static string ToHost(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var host = StripScheme(key.Trim());
        var slash = host.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            host = host[..slash];
        }

        return IsDockerHubHost(host) ? DockerHub : host;
    }

    /// <summary>
    /// The server URL Docker uses for a registry: the key in <c>config.json</c> and the input to a credential
    /// helper. It is <see cref="DockerHubServerUrl"/> for Docker Hub and the host otherwise.
    /// </summary>
    /// <param name="registry">A registry name or key.</param>
    /// <returns>The server URL.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="registry"/> is <see langword="null"/>.</exception>
    public static string ToServerUrl(string registry)
    {
        var host = ToHost(registry);
        return host == DockerHub ? DockerHubServerUrl : host;
    }

    /// <summary>Whether a key (in any of the forms Docker accepts) names the same registry as <paramref name="registry"/>.</summary>
    /// <param name="key">The key from a credential file.</param>
    /// <param name="registry">The registry.</param>
    /// <returns><see langword="true"/> when both name the same host (host names compared without case).</returns>
    public static bool Matches(string key, string registry)
        => string.Equals(ToHost(key), ToHost(registry), StringComparison.OrdinalIgnoreCase);

    internal static string StripScheme(string key)
    {
        if (key.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return key[8..];
        }

        return key.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? key[7..] : key;
    }

    internal static bool HasScheme(string key) => StripScheme(key).Length != key.Length;

    private static bool IsDockerHubHost(string host)
        => host.Equals(DockerHub, StringComparison.OrdinalIgnoreCase)
        || host.Equals("index.docker.io", StringComparison.OrdinalIgnoreCase)
        || host.Equals("registry-1.docker.io", StringComparison.OrdinalIgnoreCase)
        || host.Equals("registry.hub.docker.com", StringComparison.OrdinalIgnoreCase);
}
