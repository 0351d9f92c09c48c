using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Auth;

/// <summary>Where a resolved credential came from.</summary>
public enum CredentialSource
{
    /// <summary>The caller's <see cref="CredentialOptions.Credentials"/>.</summary>
    Explicit,

    /// <summary><c>OCIKIT_REGISTRY_*</c> environment variables.</summary>
    Environment,

    /// <summary>An <c>auths</c> entry of Docker's <c>config.json</c>.</summary>
    DockerConfig,

    /// <summary>A credential helper named by Docker's <c>config.json</c> or a containers <c>auth.json</c>.</summary>
    CredentialHelper,

    /// <summary>An <c>auths</c> entry of a podman/skopeo <c>auth.json</c>.</summary>
    ContainersAuthFile,
}

/// <summary>A credential and where it was found.</summary>
/// <param name="Credential">The credential (its <c>ToString</c> hides the secret).</param>
/// <param name="Source">The kind of source.</param>
/// <param name="Origin">
/// Which one: the file path, the helper program (<c>docker-credential-pass</c>), the environment variable holding the
/// user name, or <c>explicit</c>.
/// </param>
public sealed record ResolvedCredential(RegistryCredential Credential, CredentialSource Source, string Origin);

/// <summary>
/// Finds the credential for a registry the way Docker, podman and skopeo would, without any HTTP.
/// </summary>
/// <remarks>
/// <para>Sources are tried in this order; the first that has a credential wins:</para>
/// <list type="number">
/// <item><description>Explicit credentials (<see cref="CredentialOptions.Credentials"/>).</description></item>
/// <item><description>Environment variables (<c>OCIKIT_REGISTRY_&lt;HOST&gt;_USERNAME</c>/<c>_PASSWORD</c>, then
/// <c>OCIKIT_REGISTRY_USERNAME</c>/<c>_PASSWORD</c>; see <see cref="CredentialOptions"/>).</description></item>
/// <item><description>Docker's <c>$DOCKER_CONFIG/config.json</c> (default <c>~/.docker/config.json</c>): the registry's
/// <c>credHelpers</c> entry, else <c>credsStore</c>, else the <c>auths</c> entry. As in Docker, when a helper is
/// configured for the registry, only the helper is asked.</description></item>
/// <item><description>The containers <c>auth.json</c> files: <c>$REGISTRY_AUTH_FILE</c> (or else
/// <c>$XDG_RUNTIME_DIR/containers/auth.json</c>), then <c>$XDG_CONFIG_HOME/containers/auth.json</c> (default
/// <c>~/.config/containers/auth.json</c>); in each, a <c>credHelpers</c> entry, then the most specific <c>auths</c>
/// entry (<c>host/namespace/repo</c> before <c>host</c>). Helpers named here are given the registry host (as
/// containers/image does, <c>docker.io</c> for Docker Hub) where Docker's are given its server URL.</description></item>
/// </list>
/// <para>
/// Keys are matched as Docker does: <c>host</c>, <c>https://host</c>, <c>https://host/v1/</c> and <c>http://host</c>
/// all name <c>host</c>; Docker Hub (<c>docker.io</c>, <c>index.docker.io</c>, <c>registry-1.docker.io</c>) is found
/// under <c>https://index.docker.io/v1/</c> first. Missing files are skipped; unknown fields are ignored.
/// </para>
/// <para>
/// Nothing is cached: every call reads the files again and may run a helper process, so a client should resolve once
/// per registry and operation. An instance holds no state besides its options and may be shared between threads.
/// </para>
/// </remarks>
public sealed class CredentialResolver
{
    private readonly CredentialOptions _options;
    private readonly CredentialHelper _helper;

    /// <summary>Creates a resolver.</summary>
    /// <param name="options">Where to look; <see langword="null"/> for <see cref="CredentialOptions.Default"/>.</param>
    public CredentialResolver(CredentialOptions? options = null)
    {
        _options = options ?? CredentialOptions.Default;
        _helper = new CredentialHelper(_options);
    }

    /// <summary>The options the resolver uses.</summary>
    public CredentialOptions Options => _options;

    /// <summary>The Docker configuration file the resolver reads (it may not exist).</summary>
    public string DockerConfigPath => _options.DockerConfigPath;

    /// <summary>Finds the credential for a registry.</summary>
    /// <param name="registry">The registry, for example <c>ghcr.io</c>, <c>localhost:5000</c>, <c>docker.io</c> or <c>https://index.docker.io/v1/</c>.</param>
    /// <param name="cancellationToken">Cancels file reads and helper runs.</param>
    /// <returns>The credential and its source, or <see langword="null"/> when no source has one (use anonymous access).</returns>
    /// <exception cref="ArgumentException"><paramref name="registry"/> is null or empty.</exception>
    /// <exception cref="CredentialFileException">A credential file is malformed or unreadable.</exception>
    /// <exception cref="CredentialHelperException">A configured credential helper is missing or fails.</exception>
    /// <exception cref="OciFormatException">An <c>OCIKIT_REGISTRY_*_USERNAME</c> variable holds a user name with <c>:</c>.</exception>
    public Task<ResolvedCredential?> ResolveAsync(string registry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        return ResolveAsync(registry, null, cancellationToken);
    }

    /// <summary>
    /// Finds the credential for an image's registry; containers <c>auth.json</c> entries scoped to the image's
    /// repository or one of its namespaces win over the registry-wide entry.
    /// </summary>
    /// <param name="reference">The image reference.</param>
    /// <param name="cancellationToken">Cancels file reads and helper runs.</param>
    /// <returns>The credential and its source, or <see langword="null"/> when no source has one.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reference"/> is <see langword="null"/>.</exception>
    /// <exception cref="CredentialFileException">A credential file is malformed or unreadable.</exception>
    /// <exception cref="CredentialHelperException">A configured credential helper is missing or fails.</exception>
    /// <exception cref="OciFormatException">An <c>OCIKIT_REGISTRY_*_USERNAME</c> variable holds a user name with <c>:</c>.</exception>
    public Task<ResolvedCredential?> ResolveAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return ResolveAsync(reference.Registry, reference.Repository, cancellationToken);
    }

    private async Task<ResolvedCredential?> ResolveAsync(string registry, string? repository, CancellationToken cancellationToken)
    {
        var host = RegistryKeys.ToHost(registry);
        if (FromExplicit(host) is { } given)
        {
            return given;
        }

        if (_options.UseEnvironmentVariables && FromEnvironment(host) is { } fromEnvironment)
        {
            return fromEnvironment;
        }

        if (_options.UseDockerConfig)
        {
            var path = _options.DockerConfigPath;
            var file = await AuthFile.ReadAsync(path, AuthFileFlavor.Docker, cancellationToken).ConfigureAwait(false);
            if (file is not null)
            {
                if (file.HelperFor(host) is { } helper)
                {
                    var fromHelper = await FromHelperAsync(helper, RegistryKeys.ToServerUrl(host), cancellationToken).ConfigureAwait(false);
                    if (fromHelper is not null)
                    {
                        return fromHelper;
                    }
                }
                else if (file.Find(host, null)?.Credential is { } credential)
                {
                    return new ResolvedCredential(credential, CredentialSource.DockerConfig, path);
                }
            }
        }

        if (_options.UseContainersAuthFiles)
        {
            foreach (var path in _options.ContainersAuthPaths)
            {
                var file = await AuthFile.ReadAsync(path, AuthFileFlavor.Containers, cancellationToken).ConfigureAwait(false);
                if (file is null)
                {
                    continue;
                }

                if (file.CredHelperFor(host) is { } helper)
                {
                    var fromHelper = await FromHelperAsync(helper, host, cancellationToken).ConfigureAwait(false);
                    if (fromHelper is not null)
                    {
                        return fromHelper;
                    }
                }

                if (file.Find(host, repository)?.Credential is { } credential)
                {
                    return new ResolvedCredential(credential, CredentialSource.ContainersAuthFile, path);
                }
            }
        }

        return null;
    }

    private ResolvedCredential? FromExplicit(string host)
    {
        if (_options.Credentials is null)
        {
            return null;
        }

        var serverUrl = RegistryKeys.ToServerUrl(host);
        if (_options.Credentials.TryGetValue(serverUrl, out var exact) || _options.Credentials.TryGetValue(host, out exact))
        {
            return new ResolvedCredential(exact, CredentialSource.Explicit, "explicit");
        }

        foreach (var (key, credential) in _options.Credentials)
        {
            if (RegistryKeys.Matches(key, host))
            {
                return new ResolvedCredential(credential, CredentialSource.Explicit, "explicit");
            }
        }

        return null;
    }

    private ResolvedCredential? FromEnvironment(string host)
    {
        var (specificUsername, specificPassword) = CredentialEnvironmentVariables.ForRegistry(host);
        if (FromVariables(specificUsername, specificPassword) is { } specific)
        {
            return specific;
        }

        var scope = CredentialOptions.NonEmpty(_options.GetVariable(CredentialEnvironmentVariables.Host));
        return scope is null || RegistryKeys.Matches(scope, host)
            ? FromVariables(CredentialEnvironmentVariables.Username, CredentialEnvironmentVariables.Password)
            : null;
    }

    private ResolvedCredential? FromVariables(string usernameVariable, string passwordVariable)
    {
        var username = _options.GetVariable(usernameVariable);
        var password = _options.GetVariable(passwordVariable);
        if (string.IsNullOrEmpty(username) || password is null)
        {
            return null;
        }

        if (username.Contains(':', StringComparison.Ordinal))
        {
            throw new OciFormatException("environment variable", $"the user name in {usernameVariable} contains ':'.");
        }

        return new ResolvedCredential(RegistryCredential.FromUsernamePassword(username, password), CredentialSource.Environment, usernameVariable);
    }

    // Docker gives helpers its server URL (https://index.docker.io/v1/ for Docker Hub); containers/image gives the host.
    private async Task<ResolvedCredential?> FromHelperAsync(string helper, string serverUrl, CancellationToken cancellationToken)
    {
        var credential = await _helper.GetAsync(helper, serverUrl, cancellationToken).ConfigureAwait(false);
        return credential is null ? null : new ResolvedCredential(credential, CredentialSource.CredentialHelper, CredentialHelper.ProgramPrefix + helper);
    }
}
