using System.CommandLine;
using System.Text;
using OciKit.Dockerfile;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>ocikit parse</c>: parses a Dockerfile and prints its syntax tree; what a build would reject is a warning
/// (an error with <c>--check</c>), a syntax error is an error.
/// </summary>
internal static class ParseCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--file", "-f")
        {
            Description = "The Dockerfile to parse ('-' for standard input).",
            DefaultValueFactory = _ => "Dockerfile",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print the syntax tree as JSON; standard output holds only the tree, warnings stay on standard error.",
        };
        var check = new Option<bool>("--check")
        {
            Description = "Make the warnings errors: print them as 'FILE:LINE:COL: problem' and exit 1, without the tree.",
        };

        var command = new Command(
            "parse",
            "Parse a Dockerfile and print its syntax tree. What a build would reject (unknown instruction or flag, bad "
            + "arguments, no FROM) is a warning on standard error, 'FILE:LINE:COL: warning: problem'; a syntax error fails.");
        command.Options.Add(file);
        command.Options.Add(json);
        command.Options.Add(check);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var path = parseResult.GetValue(file) ?? "Dockerfile";
            string text;
            string name;
            if (path == "-")
            {
                text = await host.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
                name = "<stdin>";
            }
            else
            {
                if (!File.Exists(path))
                {
                    await host.Err.WriteLineAsync($"ocikit: Dockerfile '{path}' does not exist.").ConfigureAwait(false);
                    return CliRunner.UserError;
                }

                text = await File.ReadAllTextAsync(path, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
                name = path;
            }

            DockerfileSyntaxTree tree;
            try
            {
                tree = DockerfileSyntaxTree.Parse(text, name);
            }
            catch (DockerfileSyntaxException e)
            {
                await host.Err.WriteLineAsync(e.Message).ConfigureAwait(false);
                return CliRunner.UserError;
            }

            var diagnostics = ParsedDockerfile.Analyze(tree, name).Diagnostics;
            if (parseResult.GetValue(check) && !diagnostics.IsEmpty)
            {
                foreach (var diagnostic in diagnostics)
                {
                    await host.Err.WriteLineAsync(diagnostic.Message).ConfigureAwait(false);
                }

                return CliRunner.UserError;
            }

            foreach (var diagnostic in diagnostics)
            {
                await host.Err.WriteLineAsync($"{diagnostic.File}:{diagnostic.Line}:{diagnostic.Column}: warning: {diagnostic.Problem}").ConfigureAwait(false);
            }

            if (parseResult.GetValue(json))
            {
                await host.Out.WriteLineAsync(tree.ToJson()).ConfigureAwait(false);
                return CliRunner.Success;
            }

            await host.Out.WriteAsync(Listing(tree)).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }

    private static string Listing(DockerfileSyntaxTree tree)
    {
        var text = new StringBuilder();
        text.Append("escape ").Append(tree.Directives.Escape);
        if (tree.Directives.Syntax is { } syntax)
        {
            text.Append("  syntax ").Append(syntax);
        }

        if (tree.Directives.Check is { } check)
        {
            text.Append("  check ").Append(check);
        }

        text.Append('\n');
        foreach (var node in tree.Instructions)
        {
            Append(text, node, "");
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, DockerfileNode node, string indent)
    {
        var lines = node.StartLine == node.EndLine ? $"{node.StartLine}" : $"{node.StartLine}-{node.EndLine}";
        text.Append(indent).Append(lines.PadRight(8)).Append(node.Keyword.ToUpperInvariant());
        foreach (var flag in node.Flags)
        {
            text.Append(' ').Append(flag);
        }

        if (node.IsJson)
        {
            text.Append(" (exec)");
        }

        if (node.IsLegacyForm)
        {
            text.Append(" (legacy)");
        }

        foreach (var arg in node.Args)
        {
            text.Append(" [").Append(arg).Append(']');
        }

        text.Append('\n');
        foreach (var heredoc in node.Heredocs)
        {
            text.Append(indent).Append("        <<").Append(heredoc.Name).Append(heredoc.Expand ? "" : " (no expansion)")
                .Append(": ").Append(heredoc.Content.Split('\n').Length - 1).Append(" line(s)\n");
        }

        if (node.Next is { } next)
        {
            Append(text, next, indent + "    ");
        }
    }
}
