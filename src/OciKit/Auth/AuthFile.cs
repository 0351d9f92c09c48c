using System.Collections.Immutable;
using System.Text;
using System.Text.Json;

namespace OciKit.Auth;

/// <summary>Which tool's rules a credential file follows when its keys are matched.</summary>
internal enum AuthFileFlavor
{
    /// <summary>Docker's <c>config.json</c>: keys name hosts; any path in a key is ignored.</summary>
    Docker,

    /// <summary>containers-auth.json(5): a key without scheme may name <c>host/namespace/repository</c>.</summary>
    Containers,
}

/// <summary>One <c>auths</c> entry: its key and the credential it holds (<see langword="null"/> for an empty entry).</summary>
internal sealed record AuthFileEntry(string Key, RegistryCredential? Credential);

/// <summary>
/// The credential parts of a Docker <c>config.json</c> or a containers <c>auth.json</c>
/// (<see href="https://github.com/containers/image/blob/main/docs/containers-auth.json.5.md">containers-auth.json(5)</see>);
/// every other field is ignored.
/// </summary>
internal sealed record AuthFile(
    string Path,
    AuthFileFlavor Flavor,
    ImmutableArray<AuthFileEntry> Auths,
    ImmutableArray<KeyValuePair<string, string>> CredHelpers,
    string? CredsStore)
{
    // Duplicate keys are refused: Go would take the last, JsonObject would throw later, a reader could take the first.
    internal static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
        AllowDuplicateProperties = false,
    };

    /// <summary>Reads a file, or returns <see langword="null"/> when it does not exist.</summary>
    public static async Task<AuthFile?> ReadAsync(string path, AuthFileFlavor flavor, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialFileException(path, "it cannot be read", e);
        }

        return Parse(path, flavor, bytes);
    }

    public static AuthFile Parse(string path, AuthFileFlavor flavor, ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            // Docker treats an empty config.json as an empty configuration.
            return new AuthFile(path, flavor, [], [], null);
        }

        using var document = ParseDocument(path, bytes);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new CredentialFileException(path, "the top level is not a JSON object");
        }

        var auths = ImmutableArray.CreateBuilder<AuthFileEntry>();
        if (root.TryGetProperty("auths", out var authsElement) && authsElement.ValueKind != JsonValueKind.Null)
        {
            if (authsElement.ValueKind != JsonValueKind.Object)
            {
                throw new CredentialFileException(path, "'auths' is not an object");
            }

            foreach (var entry in authsElement.EnumerateObject())
            {
                auths.Add(new AuthFileEntry(entry.Name, ReadEntry(path, entry.Name, entry.Value)));
            }
        }

        var helpers = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        if (root.TryGetProperty("credHelpers", out var helpersElement) && helpersElement.ValueKind != JsonValueKind.Null)
        {
            if (helpersElement.ValueKind != JsonValueKind.Object)
            {
                throw new CredentialFileException(path, "'credHelpers' is not an object");
            }

            foreach (var helper in helpersElement.EnumerateObject())
            {
                if (helper.Value.ValueKind != JsonValueKind.String)
                {
                    throw new CredentialFileException(path, $"the credHelpers entry for '{helper.Name}' is not a string");
                }

                if (helper.Value.GetString() is { Length: > 0 } name)
                {
                    helpers.Add(new(helper.Name, name));
                }
            }
        }

        string? store = null;
        if (root.TryGetProperty("credsStore", out var storeElement) && storeElement.ValueKind != JsonValueKind.Null)
        {
            store = storeElement.ValueKind == JsonValueKind.String
                ? CredentialOptions.NonEmpty(storeElement.GetString())
                : throw new CredentialFileException(path, "'credsStore' is not a string");
        }

        return new AuthFile(path, flavor, auths.ToImmutable(), helpers.ToImmutable(), store);
    }

    internal static JsonDocument ParseDocument(string path, ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            // The parser's own message may quote the content, so only its position is reported.
            throw new CredentialFileException(path, $"it is not valid JSON or repeats a key (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
        }
    }

    /// <summary>The helper configured for a registry: its <c>credHelpers</c> entry, else <c>credsStore</c>.</summary>
    public string? HelperFor(string registry)
    {
        var serverUrl = RegistryKeys.ToServerUrl(registry);
        foreach (var (key, helper) in CredHelpers)
        {
            if (key == serverUrl)
            {
                return helper;
            }
        }

        foreach (var (key, helper) in CredHelpers)
        {
            if (RegistryKeys.Matches(key, registry))
            {
                return helper;
            }
        }

        return CredsStore;
    }

    /// <summary>The <c>credHelpers</c> entry for a registry (without the <c>credsStore</c> fallback).</summary>
    public string? CredHelperFor(string registry)
    {
        var store = this with { CredsStore = null };
        return store.HelperFor(registry);
    }

    /// <summary>The entry for a registry (and repository, for containers files), if any.</summary>
    public AuthFileEntry? Find(string registry, string? repository)
    {
        var host = RegistryKeys.ToHost(registry);
        if (Flavor == AuthFileFlavor.Containers)
        {
            // Most specific first: host/a/b/c, host/a/b, host/a, then the host (containers-auth.json(5)).
            AuthFileEntry? best = null;
            var bestLength = -1;
            foreach (var entry in Auths)
            {
                var length = ScopeLength(entry.Key, host, repository);
                if (length > bestLength)
                {
                    best = entry;
                    bestLength = length;
                }
            }

            return best;
        }

        var serverUrl = RegistryKeys.ToServerUrl(registry);
        foreach (var entry in Auths)
        {
            if (entry.Key == serverUrl)
            {
                return entry;
            }
        }

        foreach (var entry in Auths)
        {
            if (RegistryKeys.Matches(entry.Key, host))
            {
                return entry;
            }
        }

        return null;
    }

    // How specifically a containers key matches: -1 no match, 0 the host, n the length of a matching namespace.
    private static int ScopeLength(string key, string host, string? repository)
    {
        if (RegistryKeys.HasScheme(key))
        {
            return RegistryKeys.Matches(key, host) ? 0 : -1;
        }

        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return RegistryKeys.Matches(key, host) ? 0 : -1;
        }

        if (!RegistryKeys.Matches(key[..slash], host) || repository is null)
        {
            return -1;
        }

        var scope = key[(slash + 1)..].TrimEnd('/');
        if (scope.Length == 0)
        {
            return 0;
        }

        if (RegistryKeys.ToHost(key[..slash]) == RegistryKeys.DockerHub && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        return repository == scope || repository.StartsWith(scope + "/", StringComparison.Ordinal) ? scope.Length : -1;
    }

    private static RegistryCredential? ReadEntry(string path, string key, JsonElement entry)
    {
        if (entry.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new CredentialFileException(path, $"the auths entry for '{key}' is not an object");
        }

        var auth = ReadString(path, key, entry, "auth");
        var username = ReadString(path, key, entry, "username");
        var password = ReadString(path, key, entry, "password");
        var identityToken = ReadString(path, key, entry, "identitytoken");
        var registryToken = ReadString(path, key, entry, "registrytoken");

        if (!string.IsNullOrEmpty(auth))
        {
            (username, password) = DecodeAuth(path, key, auth);
        }

        if (!string.IsNullOrEmpty(identityToken))
        {
            return RegistryCredential.FromIdentityToken(identityToken, username);
        }

        if (!string.IsNullOrEmpty(registryToken))
        {
            return RegistryCredential.FromRegistryToken(registryToken);
        }

        if (string.IsNullOrEmpty(username) && string.IsNullOrEmpty(password))
        {
            return null;
        }

        if (string.IsNullOrEmpty(username) || username.Contains(':', StringComparison.Ordinal))
        {
            throw new CredentialFileException(path, $"the auths entry for '{key}' has no valid user name");
        }

        return RegistryCredential.FromUsernamePassword(username, password ?? string.Empty);
    }

    private static string? ReadString(string path, string key, JsonElement entry, string field)
    {
        if (!entry.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new CredentialFileException(path, $"'{field}' in the auths entry for '{key}' is not a string");
    }

    private static (string Username, string Password) DecodeAuth(string path, string key, string auth)
    {
        var buffer = new byte[auth.Length];
        if (!Convert.TryFromBase64String(auth.Trim(), buffer, out var written))
        {
            throw new CredentialFileException(path, $"'auth' in the auths entry for '{key}' is not valid base64");
        }

        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, written);
        }
        catch (DecoderFallbackException)
        {
            throw new CredentialFileException(path, $"'auth' in the auths entry for '{key}' is not UTF-8 text");
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? throw new CredentialFileException(path, $"'auth' in the auths entry for '{key}' is not of the form username:password")
            : (decoded[..colon], decoded[(colon + 1)..]);
    }
}
