using System.Text;

namespace OciKit.Dockerfile;

/// <summary>Prints syntax trees back as Dockerfile text that parses to the same tree (positions aside).</summary>
internal static class DockerfilePrinter
{
    public static string Format(DockerfileSyntaxTree tree)
    {
        var text = new StringBuilder();
        var directives = tree.Directives;
        if (directives.Syntax is { } syntax)
        {
            text.Append("# syntax=").Append(syntax).Append('\n');
        }

        if (directives.Escape != '\\')
        {
            text.Append("# escape=").Append(directives.Escape).Append('\n');
        }

        if (directives.Check is { } check)
        {
            text.Append("# check=").Append(check).Append('\n');
        }

        foreach (var node in tree.Instructions)
        {
            text.Append(Format(node));
        }

        return text.ToString();
    }

    public static string Format(DockerfileNode node)
    {
        var text = new StringBuilder();
        AppendLine(text, node);
        text.Append('\n');
        foreach (var heredoc in node.Heredocs)
        {
            text.Append(heredoc.Content).Append(heredoc.Name).Append('\n');
        }
        return text.ToString();
    }

    private static void AppendLine(StringBuilder text, DockerfileNode node)
    {
        text.Append(node.Keyword.ToUpperInvariant());
        foreach (var flag in node.Flags)
        {
            text.Append(' ');
            foreach (var c in flag)
            {
                // Flags are read with backslash escapes whatever the escape directive says.
                if (char.IsWhiteSpace(c) || c is '\\' or '\'' or '"')
                {
                    text.Append('\\');
                }

                text.Append(c);
            }
        }

        if (node.Next is { } next)
        {
            text.Append(next.Keyword.StartsWith("--", StringComparison.Ordinal) ? " -- " : " ");
            AppendLine(text, next);
            return;
        }

        var rest = new StringBuilder();
        var args = node.Args.AsSpan();
        if (node.Keyword == "healthcheck" && args.Length > 0)
        {
            rest.Append(' ').Append(args[0]);
            args = args[1..];
        }

        if (node.IsJson)
        {
            rest.Append(' ').Append(DockerfileJson.Array(args));
        }
        else if (node.Keyword is "env" or "label")
        {
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                rest.Append(' ').Append(args[i]).Append(node.IsLegacyForm ? " " : "=").Append(args[i + 1]);
            }
        }
        else
        {
            foreach (var arg in args)
            {
                rest.Append(' ').Append(arg);
            }
        }

        // Arguments that look like flags need the "--" that ends the flags.
        if (rest.Length > 2 && rest[1] == '-' && rest[2] == '-')
        {
            text.Append(" --");
        }

        text.Append(rest);
    }
}
