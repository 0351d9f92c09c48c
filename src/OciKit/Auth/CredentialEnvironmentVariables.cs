namespace OciKit.Auth;

/// <summary>
/// The names of the environment variables credential resolution reads (see <see cref="CredentialOptions"/> for how
/// they are used).
/// </summary>
public static class CredentialEnvironmentVariables
{
    /// <summary>The prefix of every OciKit credential variable: <c>OCIKIT_REGISTRY</c>.</summary>
    public const string Prefix = "OCIKIT_REGISTRY";

    /// <summary>The user name for every registry, or for <see cref="Host"/> when that is set.</summary>
    public const string Username = Prefix + UsernameSuffix;

    /// <summary>The password for every registry, or for <see cref="Host"/> when that is set.</summary>
    public const string Password = Prefix + PasswordSuffix;

    /// <summary>The registry <see cref="Username"/> and <see cref="Password"/> are for; unset means every registry.</summary>
    public const string Host = Prefix + "_HOST";

    /// <summary>The end of a user name variable; host-specific ones are <c>OCIKIT_REGISTRY_&lt;HOST&gt;_USERNAME</c>.</summary>
    public const string UsernameSuffix = "_USERNAME";

    /// <summary>The end of a password variable; host-specific ones are <c>OCIKIT_REGISTRY_&lt;HOST&gt;_PASSWORD</c>.</summary>
    public const string PasswordSuffix = "_PASSWORD";

    /// <summary>Docker's configuration directory (default <c>~/.docker</c>).</summary>
    public const string DockerConfig = "DOCKER_CONFIG";

    /// <summary>The containers auth file to use instead of <c>$XDG_RUNTIME_DIR/containers/auth.json</c>.</summary>
    public const string RegistryAuthFile = "REGISTRY_AUTH_FILE";

    /// <summary>The user's runtime directory, holding <c>containers/auth.json</c>.</summary>
    public const string XdgRuntimeDir = "XDG_RUNTIME_DIR";

    /// <summary>The user's configuration directory (default <c>~/.config</c>), holding <c>containers/auth.json</c>.</summary>
    public const string XdgConfigHome = "XDG_CONFIG_HOME";

    /// <summary>The names of the variables holding the user name and password for one registry host.</summary>
    /// <param name="registry">The registry, for example <c>ghcr.io</c> or <c>localhost:5000</c>.</param>
    /// <returns>For example <c>OCIKIT_REGISTRY_GHCR_IO_USERNAME</c> and <c>OCIKIT_REGISTRY_GHCR_IO_PASSWORD</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="registry"/> is <see langword="null"/>.</exception>
    public static (string Username, string Password) ForRegistry(string registry)
    {
        var prefix = Prefix + "_" + HostPart(registry);
        return (prefix + UsernameSuffix, prefix + PasswordSuffix);
    }

    /// <summary>The part of a variable name that stands for a registry host: <c>ghcr.io</c> gives <c>GHCR_IO</c>.</summary>
    /// <param name="registry">The registry host, with port if any (any key form <see cref="RegistryKeys.ToHost"/> reads).</param>
    /// <returns>The host in upper case with every character other than A–Z and 0–9 replaced by <c>_</c>; <c>DOCKER_IO</c> for Docker Hub.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="registry"/> is <see langword="null"/>.</exception>
    public static string HostPart(string registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var name = RegistryKeys.ToHost(registry).ToUpperInvariant().ToCharArray();
        for (var i = 0; i < name.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(name[i]))
            {
                name[i] = '_';
            }
        }

        return new string(name);
    }
}
