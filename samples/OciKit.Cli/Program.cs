using System.CommandLine;
using OciKit.Cli;
using OciKit.Cli.Commands;

// The ocikit CLI: a thin shell over the OciKit library. Each command lives in its own file under Commands/.
var root = new RootCommand("ocikit: build, pull, push and inspect OCI container images without a daemon.");
GlobalOptions.AddTo(root);
root.Subcommands.Add(BuildCommand.Create());
root.Subcommands.Add(ParseCommand.Create());

return await CliRunner.InvokeAsync(root, args).ConfigureAwait(false);
