namespace OciKit.Auth;

/// <summary>What kind of secret a <see cref="RegistryCredential"/> holds.</summary>
public enum RegistryCredentialKind
{
    /// <summary>A user name and password, sent with HTTP Basic authentication or exchanged for a token.</summary>
    UsernamePassword,

    /// <summary>
    /// An identity (refresh) token, exchanged for an access token at the token endpoint
    /// (<c>grant_type=refresh_token</c>); Docker's <c>identitytoken</c>.
    /// </summary>
    IdentityToken,

    /// <summary>A registry (bearer) token sent as is; Docker's <c>registrytoken</c>.</summary>
    RegistryToken,
}

/// <summary>
/// A credential for one registry: a user name and password, an identity (refresh) token, or a registry token.
/// </summary>
/// <remarks>
/// <see cref="ToString"/> never shows the secret; equality compares it. Create instances with
/// <see cref="FromUsernamePassword"/>, <see cref="FromIdentityToken"/> or <see cref="FromRegistryToken"/>.
/// </remarks>
public sealed record RegistryCredential
{
    /// <summary>
    /// The user name credential helpers use to say that the secret is an identity token rather than a password.
    /// </summary>
    public const string IdentityTokenUsername = "<token>";

    private RegistryCredential(RegistryCredentialKind kind, string? username, string secret)
    {
        Kind = kind;
        Username = username;
        Secret = secret;
    }

    /// <summary>What kind of secret this is.</summary>
    public RegistryCredentialKind Kind { get; }

    /// <summary>The user name: always set for <see cref="RegistryCredentialKind.UsernamePassword"/>, optional for an identity token.</summary>
    public string? Username { get; }

    /// <summary>The secret: the password, the identity token or the registry token, depending on <see cref="Kind"/>.</summary>
    public string Secret { get; }

    /// <summary>The password, or <see langword="null"/> when this is not a user name and password.</summary>
    public string? Password => Kind == RegistryCredentialKind.UsernamePassword ? Secret : null;

    /// <summary>The identity (refresh) token, or <see langword="null"/> when this is not one.</summary>
    public string? IdentityToken => Kind == RegistryCredentialKind.IdentityToken ? Secret : null;

    /// <summary>The registry token, or <see langword="null"/> when this is not one.</summary>
    public string? RegistryToken => Kind == RegistryCredentialKind.RegistryToken ? Secret : null;

    /// <summary>A user name and password.</summary>
    /// <param name="username">The user name; it may not contain <c>:</c> (HTTP Basic, RFC 7617).</param>
    /// <param name="password">The password.</param>
    /// <returns>The credential.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The user name is empty or contains <c>:</c>.</exception>
    public static RegistryCredential FromUsernamePassword(string username, string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentNullException.ThrowIfNull(password);
        if (username.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException("A registry user name may not contain ':'.", nameof(username));
        }

        return new RegistryCredential(RegistryCredentialKind.UsernamePassword, username, password);
    }

    /// <summary>An identity (refresh) token, as <c>docker login</c> stores for registries that issue one.</summary>
    /// <param name="token">The token.</param>
    /// <param name="username">The user name it was issued to, if known.</param>
    /// <returns>The credential.</returns>
    /// <exception cref="ArgumentException">The token is null or empty.</exception>
    public static RegistryCredential FromIdentityToken(string token, string? username = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        return new RegistryCredential(
            RegistryCredentialKind.IdentityToken,
            string.IsNullOrEmpty(username) || username == IdentityTokenUsername ? null : username,
            token);
    }

    /// <summary>A registry (bearer) token, sent to the registry as is.</summary>
    /// <param name="token">The token.</param>
    /// <returns>The credential.</returns>
    /// <exception cref="ArgumentException">The token is null or empty.</exception>
    public static RegistryCredential FromRegistryToken(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        return new RegistryCredential(RegistryCredentialKind.RegistryToken, null, token);
    }

    /// <summary>A description of the credential that shows its kind and user name but never its secret.</summary>
    /// <returns>For example <c>RegistryCredential { Kind = UsernamePassword, Username = bob, Secret = *** }</c>.</returns>
    public override string ToString()
        => $"RegistryCredential {{ Kind = {Kind}, Username = {Username ?? "(none)"}, Secret = *** }}";
}
