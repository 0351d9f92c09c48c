namespace OciKit.Auth;

/// <summary>
/// Where <see cref="CredentialResolver"/> and <see cref="DockerCredentialStore"/> look for credentials, and what
/// environment, home directory and helper search path they use (so that callers and tests can supply their own
/// instead of the process's).
/// </summary>
/// <remarks>
/// <para>The environment variables read (all from <see cref="Environment"/>; their names are in <see cref="CredentialEnvironmentVariables"/>):</para>
/// <list type="table">
/// <item><term><c>OCIKIT_REGISTRY_&lt;HOST&gt;_USERNAME</c>, <c>OCIKIT_REGISTRY_&lt;HOST&gt;_PASSWORD</c></term>
/// <description>A user name and password for one registry. <c>&lt;HOST&gt;</c> is the registry host (with port) in upper
/// case, with every character other than <c>A-Z</c> and <c>0-9</c> replaced by <c>_</c>: <c>GHCR_IO</c> for
/// <c>ghcr.io</c>, <c>LOCALHOST_5000</c> for <c>localhost:5000</c>, <c>DOCKER_IO</c> for Docker Hub.</description></item>
/// <item><term><c>OCIKIT_REGISTRY_USERNAME</c>, <c>OCIKIT_REGISTRY_PASSWORD</c></term>
/// <description>A user name and password for the registry named by <c>OCIKIT_REGISTRY_HOST</c>, or, when that is not
/// set, for every registry. Host-specific variables win.</description></item>
/// <item><term><c>DOCKER_CONFIG</c></term><description>The directory holding Docker's <c>config.json</c>
/// (default <c>~/.docker</c>).</description></item>
/// <item><term><c>REGISTRY_AUTH_FILE</c>, <c>XDG_RUNTIME_DIR</c>, <c>XDG_CONFIG_HOME</c></term>
/// <description>Where podman, skopeo and buildah keep <c>auth.json</c>.</description></item>
/// <item><term><c>HOME</c>, <c>PATH</c></term><description>The home directory and the credential helper search path,
/// unless <see cref="HomeDirectory"/> or <see cref="HelperSearchPath"/> say otherwise.</description></item>
/// </list>
/// <para>A pair is used only when both its user name and its password variable are set and the user name is not empty.</para>
/// </remarks>
public sealed record CredentialOptions
{
    /// <summary>The options that read the process environment and the user's home directory.</summary>
    public static CredentialOptions Default { get; } = new();

    /// <summary>
    /// Credentials the caller gives explicitly, keyed by registry (in any form <see cref="RegistryKeys.ToHost"/> reads,
    /// for example <c>ghcr.io</c> or <c>https://index.docker.io/v1/</c>). They are tried first.
    /// </summary>
    public IReadOnlyDictionary<string, RegistryCredential>? Credentials { get; init; }

    /// <summary>The environment variables to read, or <see langword="null"/> for the process environment.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>The home directory, or <see langword="null"/> for <c>HOME</c> from <see cref="Environment"/> (else the user profile).</summary>
    /// <exception cref="ArgumentException">The path is not absolute.</exception>
    public string? HomeDirectory
    {
        get;
        init => field = value is null || Path.IsPathFullyQualified(value)
            ? value
            : throw new ArgumentException("The home directory must be an absolute path.", nameof(HomeDirectory));
    }

    /// <summary>
    /// The directories searched for <c>docker-credential-&lt;name&gt;</c> programs, separated by
    /// <see cref="Path.PathSeparator"/>, or <see langword="null"/> for <c>PATH</c> from <see cref="Environment"/>.
    /// </summary>
    public string? HelperSearchPath { get; init; }

    /// <summary>Whether the <c>OCIKIT_REGISTRY_*</c> environment variables are read (default <see langword="true"/>).</summary>
    public bool UseEnvironmentVariables { get; init; } = true;

    /// <summary>Whether Docker's <c>config.json</c> (and the helpers it names) is read (default <see langword="true"/>).</summary>
    public bool UseDockerConfig { get; init; } = true;

    /// <summary>Whether podman/skopeo <c>auth.json</c> files are read (default <see langword="true"/>).</summary>
    public bool UseContainersAuthFiles { get; init; } = true;

    internal string? GetVariable(string name)
    {
        if (Environment is not null)
        {
            return Environment.TryGetValue(name, out var value) ? value : null;
        }

        return System.Environment.GetEnvironmentVariable(name);
    }

    internal string ResolveHome()
    {
        var home = HomeDirectory ?? NonEmpty(GetVariable("HOME")) ?? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        return Path.GetFullPath(home);
    }

    /// <summary>
    /// Docker's <c>config.json</c> to read and write instead of <c>$DOCKER_CONFIG/config.json</c> (what skopeo and podman
    /// call <c>--authfile</c>), or <see langword="null"/> for the standard location.
    /// </summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    public string? DockerConfigFile
    {
        get;
        init => field = value is null ? null : value.Length > 0 ? Path.GetFullPath(value) : throw new ArgumentException("The file path is empty.", nameof(DockerConfigFile));
    }

    internal string DockerConfigPath
        => DockerConfigFile ?? Path.Combine(NonEmpty(GetVariable(CredentialEnvironmentVariables.DockerConfig)) ?? Path.Combine(ResolveHome(), ".docker"), "config.json");

    // Order of containers/image's getPathToAuth: REGISTRY_AUTH_FILE replaces the runtime file; the config-home file follows.
    internal IReadOnlyList<string> ContainersAuthPaths
    {
        get
        {
            var paths = new List<string>();
            var authFile = NonEmpty(GetVariable(CredentialEnvironmentVariables.RegistryAuthFile));
            var runtimeDir = NonEmpty(GetVariable(CredentialEnvironmentVariables.XdgRuntimeDir));
            if (authFile is not null)
            {
                paths.Add(Path.GetFullPath(authFile));
            }
            else if (runtimeDir is not null)
            {
                paths.Add(Path.Combine(runtimeDir, "containers", "auth.json"));
            }

            var configHome = NonEmpty(GetVariable(CredentialEnvironmentVariables.XdgConfigHome)) ?? Path.Combine(ResolveHome(), ".config");
            paths.Add(Path.Combine(configHome, "containers", "auth.json"));
            return paths;
        }
    }

    internal IReadOnlyList<string> HelperDirectories
        => (HelperSearchPath ?? GetVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
