using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace OciKit.Auth;

/// <summary>
/// Runs Docker credential helpers (<c>docker-credential-&lt;name&gt; get|store|erase</c>) as the
/// <see href="https://github.com/docker/docker-credential-helpers">docker-credential-helpers protocol</see> defines:
/// <c>get</c> and <c>erase</c> read the server URL on standard input; <c>store</c> reads
/// <c>{"ServerURL","Username","Secret"}</c>; <c>get</c> prints the same object.
/// </summary>
internal sealed class CredentialHelper
{
    internal const string ProgramPrefix = "docker-credential-";
    private const int MaxDetailLength = 200;

    private readonly CredentialOptions _options;

    public CredentialHelper(CredentialOptions options) => _options = options;

    public async Task<RegistryCredential?> GetAsync(string helper, string serverUrl, CancellationToken cancellationToken)
    {
        var (exitCode, stdout, stderr) = await RunAsync(helper, "get", serverUrl, serverUrl, cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            return IsNotFound(stdout, stderr) ? null : throw Failure(helper, "get", serverUrl, exitCode, stdout, stderr, null);
        }

        string? username;
        string? secret;
        try
        {
            using var document = JsonDocument.Parse(stdout);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CredentialHelperException(ProgramPrefix + helper, "get", serverUrl, "its answer is not a JSON object", exitCode);
            }

            username = GetString(root, "Username");
            secret = GetString(root, "Secret");
        }
        catch (JsonException)
        {
            // Never quote the answer: it may hold the secret.
            throw new CredentialHelperException(ProgramPrefix + helper, "get", serverUrl, "its answer is not valid JSON", exitCode);
        }
        catch (InvalidOperationException)
        {
            throw new CredentialHelperException(ProgramPrefix + helper, "get", serverUrl, "its answer has a field of the wrong type", exitCode);
        }

        if (string.IsNullOrEmpty(secret))
        {
            return null;
        }

        if (username == RegistryCredential.IdentityTokenUsername)
        {
            return RegistryCredential.FromIdentityToken(secret);
        }

        return string.IsNullOrEmpty(username) || username.Contains(':', StringComparison.Ordinal)
            ? throw new CredentialHelperException(ProgramPrefix + helper, "get", serverUrl, "its answer has no valid user name", exitCode)
            : RegistryCredential.FromUsernamePassword(username, secret);
    }

    public async Task StoreAsync(string helper, string serverUrl, RegistryCredential credential, CancellationToken cancellationToken)
    {
        var username = credential.Kind switch
        {
            RegistryCredentialKind.UsernamePassword => credential.Username!,
            RegistryCredentialKind.IdentityToken => RegistryCredential.IdentityTokenUsername,
            _ => throw new NotSupportedException("A credential helper cannot store a registry token."),
        };
        var input = JsonSerializer.Serialize(new HelperCredential(serverUrl, username, credential.Secret), HelperJsonContext.Default.HelperCredential);
        var (exitCode, stdout, stderr) = await RunAsync(helper, "store", serverUrl, input, cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw Failure(helper, "store", serverUrl, exitCode, stdout, stderr, credential.Secret);
        }
    }

    /// <summary>Erases a credential; returns <see langword="false"/> when the helper had none.</summary>
    public async Task<bool> EraseAsync(string helper, string serverUrl, CancellationToken cancellationToken)
    {
        var (exitCode, stdout, stderr) = await RunAsync(helper, "erase", serverUrl, serverUrl, cancellationToken).ConfigureAwait(false);
        if (exitCode == 0)
        {
            return true;
        }

        return IsNotFound(stdout, stderr) ? false : throw Failure(helper, "erase", serverUrl, exitCode, stdout, stderr, null);
    }

    internal string FindProgram(string helper, string operation, string serverUrl)
    {
        var program = ProgramPrefix + helper;
        if (helper.Length == 0 || helper.IndexOfAny(['/', '\\']) >= 0 || helper.Contains("..", StringComparison.Ordinal))
        {
            throw new CredentialHelperException(program, operation, serverUrl, "the helper name is not a plain name");
        }

        foreach (var directory in _options.HelperDirectories)
        {
            // Like Go's exec.LookPath since 1.19: a relative PATH entry would run a program from the working directory.
            if (!Path.IsPathFullyQualified(directory))
            {
                continue;
            }

            var candidate = Path.Combine(directory, OperatingSystem.IsWindows() ? program + ".exe" : program);
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                return candidate;
            }
        }

        throw new CredentialHelperException(program, operation, serverUrl, "the program was not found on the helper search path");
    }

    private static bool IsExecutable(string path)
        => OperatingSystem.IsWindows()
            || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(
        string helper, string operation, string serverUrl, string input, CancellationToken cancellationToken)
    {
        var program = FindProgram(helper, operation, serverUrl);
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(operation);
        if (_options.Environment is { } environment)
        {
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new CredentialHelperException(ProgramPrefix + helper, operation, serverUrl, $"the program could not be started ({e.Message})");
        }

        try
        {
            var stdoutTask = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderrTask = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.StandardInput.WriteAsync(input.AsMemory(), cancellationToken).ConfigureAwait(false);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The helper exited without reading its input; its exit code and output tell why.
            }

            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            var stdout = await stdoutTask.ConfigureAwait(false);
            var stderr = await stderrTask.ConfigureAwait(false);
            return (process.ExitCode, stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            throw;
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    // docker-credential-helpers' ErrCredentialsNotFound is "credentials not found in native keychain"; other helpers shorten it.
    private static bool IsNotFound(string stdout, string stderr)
        => stdout.Contains("credentials not found", StringComparison.OrdinalIgnoreCase)
        || stderr.Contains("credentials not found", StringComparison.OrdinalIgnoreCase);

    private static CredentialHelperException Failure(string helper, string operation, string serverUrl, int exitCode, string stdout, string stderr, string? secret)
    {
        var text = string.IsNullOrWhiteSpace(stdout) ? stderr : stdout;
        var line = text.Trim().Split('\n', 2)[0].Trim();
        if (line.Length > MaxDetailLength)
        {
            line = line[..MaxDetailLength] + "…";
        }

        // A structured answer may carry a secret; a helper's error message is one line of prose.
        if (line.StartsWith('{') || line.Contains("\"Secret\"", StringComparison.Ordinal)
            || (!string.IsNullOrEmpty(secret) && line.Contains(secret, StringComparison.Ordinal)))
        {
            line = "(output withheld)";
        }

        var reason = line.Length == 0 ? $"it exited with code {exitCode}" : $"it exited with code {exitCode}: {line}";
        return new CredentialHelperException(ProgramPrefix + helper, operation, serverUrl, reason, exitCode);
    }

    private static string? GetString(JsonElement root, string name)
        => root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.GetString() : null;
}

/// <summary>The credential object of the helper protocol.</summary>
internal sealed record HelperCredential(
    [property: System.Text.Json.Serialization.JsonPropertyName("ServerURL")] string ServerUrl,
    [property: System.Text.Json.Serialization.JsonPropertyName("Username")] string Username,
    [property: System.Text.Json.Serialization.JsonPropertyName("Secret")] string Secret);

[System.Text.Json.Serialization.JsonSerializable(typeof(HelperCredential))]
internal sealed partial class HelperJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
