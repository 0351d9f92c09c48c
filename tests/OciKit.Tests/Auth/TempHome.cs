using System.Text;
using OciKit.Auth;

namespace OciKit.Tests.Auth;

/// <summary>A temporary home directory with its own environment, so tests never touch the real one or each other.</summary>
internal sealed class TempHome : IDisposable
{
    public TempHome()
    {
        Root = Path.Combine(Path.GetTempPath(), "ocikit-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Bin = Directory.CreateDirectory(Path.Combine(Root, "bin")).FullName;
        HelperStore = Directory.CreateDirectory(Path.Combine(Root, "helper-store")).FullName;
        Environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["HOME"] = Root,
            ["FAKE_HELPER_DIR"] = HelperStore,
        };
    }

    public string Root { get; }

    public string Bin { get; }

    public string HelperStore { get; }

    public Dictionary<string, string> Environment { get; }

    public string DockerConfig => Path.Combine(Root, ".docker", "config.json");

    public string ContainersAuth => Path.Combine(Root, ".config", "containers", "auth.json");

    public CredentialOptions Options(IReadOnlyDictionary<string, RegistryCredential>? credentials = null)
        => new() { Environment = new Dictionary<string, string>(Environment), HelperSearchPath = Bin, Credentials = credentials };

    public CredentialResolver Resolver() => new(Options());

    public string Write(string relativePath, string content)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public static string Auth(string username, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes(username + ":" + password));

    /// <summary>Installs <c>docker-credential-{name}</c>: a bash script keeping credentials as files in <see cref="HelperStore"/>.</summary>
    public void InstallFakeHelper(string name)
        => InstallScript(name, """
            #!/bin/bash
            set -u
            dir="$FAKE_HELPER_DIR"
            op="$1"
            input="$(cat)"
            echo "$op" >> "$dir/log"
            keyof() { printf '%s' "$1" | base64 -w0 | tr '/+' '_-'; }
            case "$op" in
              get)
                key=$(keyof "$input")
                if [ -f "$dir/$key" ]; then cat "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
              store)
                url=$(printf '%s' "$input" | sed -E 's/.*"ServerURL":"([^"]*)".*/\1/')
                printf '%s' "$input" > "$dir/$(keyof "$url")" ;;
              erase)
                key=$(keyof "$input")
                if [ -f "$dir/$key" ]; then rm "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
              *) echo "unknown operation"; exit 2 ;;
            esac
            """);

    public void InstallScript(string name, string script)
    {
        var path = Path.Combine(Bin, "docker-credential-" + name);
        File.WriteAllText(path, script.ReplaceLineEndings("\n") + "\n");
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Fake credential helpers are bash scripts.");
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void SeedHelper(string serverUrl, string username, string secret)
    {
        var key = Convert.ToBase64String(Encoding.UTF8.GetBytes(serverUrl)).Replace('/', '_').Replace('+', '-');
        File.WriteAllText(Path.Combine(HelperStore, key), $$"""{"ServerURL":"{{serverUrl}}","Username":"{{username}}","Secret":"{{secret}}"}""");
    }

    public string[] HelperLog()
    {
        var log = Path.Combine(HelperStore, "log");
        return File.Exists(log) ? File.ReadAllLines(log) : [];
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
