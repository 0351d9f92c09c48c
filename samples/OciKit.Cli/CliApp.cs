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
        var host = new CliHost(stdout, stderr, stdin ?? TextReader.Null);
        return CliRunner.InvokeAsync(CreateRoot(host), args, host, cancellationToken);
    }

    private static RootCommand CreateRoot(CliHost host)
    {
        var root = new RootCommand("ocikit: build, pull, push, copy and inspect OCI container images without a daemon.");
        GlobalOptions.AddTo(root);
        root.Subcommands.Add(BuildCommand.Create());
        root.Subcommands.Add(PullCommand.Create(host));
        root.Subcommands.Add(PushCommand.Create(host));
        root.Subcommands.Add(CopyCommand.Create(host));
        root.Subcommands.Add(TagCommand.Create(host));
        root.Subcommands.Add(ImagesCommand.Create(host));
        root.Subcommands.Add(RmiCommand.Create(host));
        root.Subcommands.Add(PruneCommand.Create(host));
        root.Subcommands.Add(InspectCommand.Create(host));
        root.Subcommands.Add(ManifestCommand.Create(host));
        root.Subcommands.Add(ConfigCommand.Create(host));
        root.Subcommands.Add(DigestCommand.Create(host));
        root.Subcommands.Add(TagsCommand.Create(host));
        root.Subcommands.Add(SearchCommand.Create(host));
        root.Subcommands.Add(LoginCommand.Create(host));
        root.Subcommands.Add(LogoutCommand.Create(host));
        root.Subcommands.Add(DiffCommand.Create(host));
        root.Subcommands.Add(CommitCommand.Create(host));
        root.Subcommands.Add(ParseCommand.Create(host));
        return root;
    }
}
