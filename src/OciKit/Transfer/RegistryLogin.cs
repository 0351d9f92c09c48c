using OciKit.Auth;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>
/// <c>docker login</c> and <c>docker logout</c>: checks a credential against the registry, then stores it where
/// Docker, podman, skopeo and OciKit all find it (Docker's <c>config.json</c>, or the credential helper it names).
/// </summary>
public static class RegistryLogin
{
    /// <summary>Checks a credential against a registry and stores it.</summary>
    /// <param name="registry">The registry, for example <c>ghcr.io</c>, <c>127.0.0.1:5000</c> or <c>https://index.docker.io/v1/</c>.</param>
    /// <param name="credential">The credential.</param>
    /// <param name="clientOptions">How to reach the registry (TLS, insecure hosts); its credential provider is replaced by <paramref name="credential"/>.</param>
    /// <param name="credentialOptions">Where to store it; <see langword="null"/> for the standard <c>config.json</c>.</param>
    /// <param name="cancellationToken">Cancels the check and the write.</param>
    /// <returns>Where the credential was stored.</returns>
    /// <exception cref="RegistryAuthenticationException">The registry refused the credential; nothing is stored.</exception>
    /// <exception cref="RegistryException">The registry is unreachable; nothing is stored.</exception>
    /// <exception cref="CredentialFileException">The configuration file is malformed or cannot be written.</exception>
    public static async Task<CredentialLocation> LoginAsync(
        string registry, RegistryCredential credential, RegistryClientOptions? clientOptions = null, CredentialOptions? credentialOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        ArgumentNullException.ThrowIfNull(credential);
        var host = RegistryKeys.ToHost(registry);
        var options = (clientOptions ?? new RegistryClientOptions()) with { Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(credential) };
        using (var client = new RegistryClient(options))
        {
            await client.CheckCredentialsAsync(host, cancellationToken).ConfigureAwait(false);
        }

        return await new DockerCredentialStore(credentialOptions).StoreAsync(host, credential, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Erases the stored credential for a registry.</summary>
    /// <param name="registry">The registry.</param>
    /// <param name="credentialOptions">Where credentials are stored; <see langword="null"/> for the standard <c>config.json</c>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> when a credential was removed.</returns>
    public static Task<bool> LogoutAsync(string registry, CredentialOptions? credentialOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        return new DockerCredentialStore(credentialOptions).EraseAsync(RegistryKeys.ToHost(registry), cancellationToken);
    }
}
