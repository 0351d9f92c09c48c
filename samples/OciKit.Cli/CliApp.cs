using System.CommandLine;
using OciKit.Cli.Commands;

namespace OciKit.Cli;

/// <summary>The <c>ocikit</c> command line, runnable in-process (tests) as well as from <c>Program</c>.</summary>
public static class CliApp
{
    /// <summary>Runs one command line.</summary>
    /// <param name="args">The arguments, without the program name.</param>
    /// <param name="stdout">Where results go.</param>
    /// <param name="stderr">Where errors and (when <paramref name="stdout"/> is not a terminal) progress go.</param>
    /// <param name="stdin">Where <c>--password-stdin</c> and <c>parse -f -</c> read; default empty.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The exit code: 0 success, 1 user error, 2 registry or authentication error, 3 internal error.</returns>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader? stdin = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        return CliRunner.InvokeAsync(Root.Value, args, new CliHost(stdout, stderr, stdin ?? TextReader.Null), cancellationToken);
    }

    // Built once: System.CommandLine records parents in options and commands, so building trees per run from shared
    // option objects would race between concurrent in-process runs. Parsing one finished tree is safe; each run's
    // streams travel in CliHost.Current.
    private static readonly Lazy<RootCommand> Root = new(CreateRoot);

    private static RootCommand CreateRoot()
    {
        var root = new RootCommand("ocikit: build, pull, push, copy and inspect OCI container images without a daemon.");
        GlobalOptions.AddTo(root);
        root.Subcommands.Add(BuildCommand.Create());
        root.Subcommands.Add(PullCommand.Create());
        root.Subcommands.Add(PushCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(TagCommand.Create());
        root.Subcommands.Add(ImagesCommand.Create());
        root.Subcommands.Add(RmiCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ManifestCommand.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(DigestCommand.Create());
        root.Subcommands.Add(TagsCommand.Create());
        root.Subcommands.Add(SearchCommand.Create());
        root.Subcommands.Add(LoginCommand.Create());
        root.Subcommands.Add(LogoutCommand.Create());
        root.Subcommands.Add(DiffCommand.Create());
        root.Subcommands.Add(CommitCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(PsCommand.Create());
        root.Subcommands.Add(RmCommand.Create());
        root.Subcommands.Add(ParseCommand.Create());
        root.Subcommands.Add(SbomCommand.Create());
        root.Subcommands.Add(KeyCommand.Create());
        root.Subcommands.Add(SignCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        return root;
    }
}
