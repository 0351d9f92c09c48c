using System.Collections.Immutable;
using System.CommandLine;
using OciKit.Auth;
using OciKit.Layout;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.Cli;

/// <summary>The standard streams one run of the CLI uses.</summary>
internal sealed class CliHost(TextWriter stdout, TextWriter stderr, TextReader stdin)
{
    private static readonly AsyncLocal<CliHost?> CurrentHost = new();

    /// <summary>The streams of the run in progress on this async flow; the console outside a run.</summary>
    public static CliHost Current
    {
        get => CurrentHost.Value ?? new CliHost(Console.Out, Console.Error, Console.In);
        set => CurrentHost.Value = value;
    }

    public TextWriter Out { get; } = stdout;

    public TextWriter Err { get; } = stderr;

    public TextReader In { get; } = stdin;

    /// <summary>Whether results go to an interactive terminal (then progress is drawn as live bars).</summary>
    public bool IsTerminal => ReferenceEquals(Out, Console.Out) && !Console.IsOutputRedirected;
}

/// <summary>What a command needs from the global options: library options, the store, the progress sink.</summary>
internal sealed class CliSession(ParseResult parseResult, CliHost host)
{
    public CliHost Host { get; } = host;

    public TextWriter Out => Host.Out;

    public bool Quiet { get; } = parseResult.GetValue(GlobalOptions.Quiet);

    public bool Verbose { get; } = parseResult.GetValue(GlobalOptions.Verbose);

    public bool NoProgress { get; } = parseResult.GetValue(GlobalOptions.NoProgress);

    public string StorePath { get; } = parseResult.GetValue(GlobalOptions.Store) is { Length: > 0 } store ? Path.GetFullPath(store) : OciLayout.DefaultPath;

    /// <summary>Where credentials are read and written: the standard files, or <c>--authfile</c>.</summary>
    public CredentialOptions CredentialOptions { get; } = parseResult.GetValue(GlobalOptions.AuthFile) is { Length: > 0 } file
        ? CredentialOptions.Default with { DockerConfigFile = file }
        : CredentialOptions.Default;

    private readonly ImmutableArray<string> _insecure = [.. parseResult.GetValue(GlobalOptions.InsecureRegistries) ?? []];

    /// <summary>The registry client options: insecure registries may use HTTP or unverified TLS (as Docker's insecure-registries).</summary>
    public RegistryClientOptions ClientOptions => new()
    {
        InsecureRegistries = [.. _insecure],
        Tls = _insecure.Distinct(StringComparer.OrdinalIgnoreCase).ToImmutableDictionary(h => h, _ => new RegistryTlsOptions(SkipVerify: true), StringComparer.OrdinalIgnoreCase),
        Credentials = ReferenceEquals(CredentialOptions, CredentialOptions.Default)
            ? RegistryClientOptions.StandardCredentials
            : RegistryClientOptions.CredentialsFrom(new CredentialResolver(CredentialOptions)),
    };

    public static CliSession Of(ParseResult parseResult, CliHost host) => new(parseResult, host);

    public static CliSession Of(ParseResult parseResult) => new(parseResult, CliHost.Current);

    public RegistryClient CreateClient() => new(ClientOptions);

    public async Task<LocalImages> OpenStoreAsync(CancellationToken cancellationToken) =>
        new(await OciLayout.OpenAsync(StorePath, cancellationToken: cancellationToken).ConfigureAwait(false));

    /// <summary>Writes an informational line unless <c>--quiet</c>.</summary>
    public Task InfoAsync(string line) => Quiet ? Task.CompletedTask : Out.WriteLineAsync(line);

    /// <summary>Runs a transfer with progress: live bars on a terminal, one line per blob event otherwise, nothing when quiet.</summary>
    public Task<T> WithProgressAsync<T>(Func<IProgress<TransferProgress>?, Task<T>> work) =>
        Quiet || NoProgress ? work(null)
        : Host.IsTerminal ? TerminalProgress.RunAsync(work)
        : work(new LineProgress(Host.Err));
}
