using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OciKit.Auth;

/// <summary>Where <see cref="DockerCredentialStore.StoreAsync"/> put a credential.</summary>
/// <param name="Source"><see cref="CredentialSource.CredentialHelper"/> or <see cref="CredentialSource.DockerConfig"/>.</param>
/// <param name="Origin">The helper program (<c>docker-credential-pass</c>) or the path of <c>config.json</c>.</param>
public sealed record CredentialLocation(CredentialSource Source, string Origin);

/// <summary>
/// Stores and erases registry credentials as <c>docker login</c> and <c>docker logout</c> do: through the credential
/// helper Docker's <c>config.json</c> configures for the registry (<c>credHelpers</c>, else <c>credsStore</c>), or
/// else in the file's <c>auths</c> map.
/// </summary>
/// <remarks>
/// <para>
/// The file is <c>$DOCKER_CONFIG/config.json</c> (default <c>~/.docker/config.json</c>). Every field OciKit does not
/// manage is kept. Entries are keyed as Docker keys them (<c>https://index.docker.io/v1/</c> for Docker Hub, the host
/// otherwise) and written in Docker's shape: <c>{"auth": base64("user:password")}</c>, plus <c>identitytoken</c> for
/// an identity token or <c>registrytoken</c> for a registry token. When a helper holds the secret, the file keeps an
/// empty entry for the registry, as Docker does.
/// </para>
/// <para>
/// The file is replaced atomically (written to a temporary file in the same directory with mode 0600, then renamed
/// over the original); a symbolic link is followed and its target replaced.
/// </para>
/// </remarks>
public sealed class DockerCredentialStore
{
    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        IndentCharacter = '\t',
        IndentSize = 1,
        // The file is never embedded in HTML; keep base64 '+', '/' and '=' readable as Docker writes them.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly CredentialOptions _options;
    private readonly CredentialHelper _helper;

    /// <summary>Creates a store.</summary>
    /// <param name="options">The environment and home directory to use; <see langword="null"/> for <see cref="CredentialOptions.Default"/>.</param>
    public DockerCredentialStore(CredentialOptions? options = null)
    {
        _options = options ?? CredentialOptions.Default;
        _helper = new CredentialHelper(_options);
    }

    /// <summary>The Docker configuration file this store reads and writes.</summary>
    public string ConfigPath => _options.DockerConfigPath;

    /// <summary>Stores a credential for a registry (what <c>docker login</c> does after a successful check).</summary>
    /// <param name="registry">The registry, for example <c>ghcr.io</c> or <c>docker.io</c>.</param>
    /// <param name="credential">The credential.</param>
    /// <param name="cancellationToken">Cancels the file write or helper run.</param>
    /// <returns>Where the credential went.</returns>
    /// <exception cref="ArgumentException"><paramref name="registry"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="credential"/> is <see langword="null"/>.</exception>
    /// <exception cref="NotSupportedException">A credential helper is configured and the credential is a registry token, which helpers cannot hold.</exception>
    /// <exception cref="CredentialFileException">The existing file is malformed, or the file cannot be written.</exception>
    /// <exception cref="CredentialHelperException">The configured helper is missing or fails.</exception>
    public async Task<CredentialLocation> StoreAsync(string registry, RegistryCredential credential, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        ArgumentNullException.ThrowIfNull(credential);
        var path = ConfigPath;
        var (root, file) = await LoadAsync(path, cancellationToken).ConfigureAwait(false);
        var serverUrl = RegistryKeys.ToServerUrl(registry);
        var auths = GetAuths(path, root);

        CredentialLocation location;
        if (file.HelperFor(registry) is { } helper)
        {
            await _helper.StoreAsync(helper, serverUrl, credential, cancellationToken).ConfigureAwait(false);
            auths[serverUrl] = new JsonObject();
            location = new CredentialLocation(CredentialSource.CredentialHelper, CredentialHelper.ProgramPrefix + helper);
        }
        else
        {
            auths[serverUrl] = ToEntry(credential);
            location = new CredentialLocation(CredentialSource.DockerConfig, path);
        }

        await WriteAsync(path, root, cancellationToken).ConfigureAwait(false);
        return location;
    }

    /// <summary>
    /// Erases the credential for a registry (what <c>docker logout</c> does): from the configured helper, and every
    /// <c>auths</c> entry whose key names the registry.
    /// </summary>
    /// <param name="registry">The registry.</param>
    /// <param name="cancellationToken">Cancels the file write or helper run.</param>
    /// <returns><see langword="true"/> when a credential or entry was removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="registry"/> is null or empty.</exception>
    /// <exception cref="CredentialFileException">The existing file is malformed, or the file cannot be written.</exception>
    /// <exception cref="CredentialHelperException">The configured helper is missing or fails.</exception>
    public async Task<bool> EraseAsync(string registry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        var path = ConfigPath;
        if (!File.Exists(path))
        {
            return false;
        }

        var (root, file) = await LoadAsync(path, cancellationToken).ConfigureAwait(false);
        var removed = false;
        if (file.HelperFor(registry) is { } helper)
        {
            removed = await _helper.EraseAsync(helper, RegistryKeys.ToServerUrl(registry), cancellationToken).ConfigureAwait(false);
        }

        if (root["auths"] is JsonObject auths)
        {
            var keys = auths.Select(p => p.Key).Where(k => RegistryKeys.Matches(k, registry)).ToList();
            foreach (var key in keys)
            {
                auths.Remove(key);
            }

            if (keys.Count > 0)
            {
                removed = true;
                await WriteAsync(path, root, cancellationToken).ConfigureAwait(false);
            }
        }

        return removed;
    }

    private static JsonObject ToEntry(RegistryCredential credential)
    {
        var entry = new JsonObject();
        switch (credential.Kind)
        {
            case RegistryCredentialKind.UsernamePassword:
                entry["auth"] = Encode(credential.Username + ":" + credential.Secret);
                break;
            case RegistryCredentialKind.IdentityToken:
                if (credential.Username is not null)
                {
                    entry["auth"] = Encode(credential.Username + ":");
                }

                entry["identitytoken"] = credential.Secret;
                break;
            default:
                entry["registrytoken"] = credential.Secret;
                break;
        }

        return entry;
    }

    private static string Encode(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static JsonObject GetAuths(string path, JsonObject root)
    {
        switch (root["auths"])
        {
            case JsonObject existing:
                return existing;
            case null:
                var created = new JsonObject();
                root["auths"] = created;
                return created;
            default:
                throw new CredentialFileException(path, "'auths' is not an object");
        }
    }

    private static async Task<(JsonObject Root, AuthFile File)> LoadAsync(string path, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = File.Exists(path) ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialFileException(path, "it cannot be read", e);
        }

        // Validates the credential fields (and reports malformed JSON without quoting it) before the tree is edited.
        var file = AuthFile.Parse(path, AuthFileFlavor.Docker, bytes);
        if (bytes.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return (new JsonObject(), file);
        }

        var root = JsonNode.Parse(bytes, documentOptions: AuthFile.DocumentOptions) as JsonObject
            ?? throw new CredentialFileException(path, "the top level is not a JSON object");
        return (root, file);
    }

    private static async Task WriteAsync(string path, JsonObject root, CancellationToken cancellationToken)
    {
        var target = path;
        try
        {
            if (File.Exists(path) && File.ResolveLinkTarget(path, returnFinalTarget: true) is { } linkTarget)
            {
                target = linkTarget.FullName;
            }

            var directory = Path.GetDirectoryName(Path.GetFullPath(target))!;
            if (!Directory.Exists(directory))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(directory);
                }
                else
                {
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }

            var temporary = Path.Combine(directory, Path.GetFileName(target) + "." + Guid.NewGuid().ToString("N")[..12] + ".tmp");
            var streamOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                streamOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            try
            {
                var stream = new FileStream(temporary, streamOptions);
                await using (stream.ConfigureAwait(false))
                {
                    var bytes = Encoding.UTF8.GetBytes(root.ToJsonString(WriteOptions) + "\n");
                    await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                    await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                    stream.Flush(flushToDisk: true);
                }

                File.Move(temporary, target, overwrite: true);
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialFileException(path, "it cannot be written", e);
        }
    }
}
