using System.Text;
using OciKit.Dockerfile;

namespace OciKit.Build;

/// <summary>
/// What a RUN instruction executes and how its history records it, as BuildKit's Dockerfile frontend forms them
/// (<c>dispatchRun</c> and <c>runCommandString</c> in dockerfile2llb).
/// </summary>
internal static class RunCommandLine
{
    /// <summary>Where a heredoc script that starts with <c>#!</c> is mounted to be executed as a file, as BuildKit does.</summary>
    public const string ScriptDirectory = "/dev/pipes";

    /// <summary>
    /// The process' argv. Shell form runs through <paramref name="shell"/>; exec form runs as written. A command that is
    /// one heredoc alone (<c>RUN &lt;&lt;EOF</c>) runs the heredoc's body with the shell, or, when the body starts with
    /// <c>#!</c>, as an executable file (<paramref name="script"/>, mounted under <see cref="ScriptDirectory"/>);
    /// any other command with heredocs gets their bodies and terminators appended, for the shell to read.
    /// </summary>
    public static IReadOnlyList<string> Args(RunInstruction run, IReadOnlyList<string> shell, out (string Name, string Content)? script)
    {
        script = null;
        List<string> args = [.. run.Command];
        if (!run.Heredocs.IsDefaultOrEmpty && run.PrependShell && args.Count == 1)
        {
            var first = run.Heredocs[0];
            if (run.Heredocs.Length == 1 && IsHeredocAlone(args[0], first.Name))
            {
                if (first.Content.StartsWith("#!", StringComparison.Ordinal))
                {
                    script = (first.Name, first.Content);
                    args = [ScriptDirectory + "/" + first.Name];
                }
                else
                {
                    args = [first.Content];
                }
            }
            else
            {
                var text = new StringBuilder(args[0]).Append('\n');
                foreach (var heredoc in run.Heredocs)
                {
                    text.Append(heredoc.Content);
                    if (heredoc.Content.Length > 0 && !heredoc.Content.EndsWith('\n'))
                    {
                        text.Append('\n');
                    }

                    text.Append(heredoc.Name).Append('\n');
                }

                args = [text.ToString()];
            }
        }

        return run.PrependShell ? [.. shell, string.Join(' ', args)] : args;
    }

    /// <summary>
    /// The history's <c>created_by</c>: <c>RUN</c>, then <c>|N NAME=value…</c> when the stage declared build
    /// arguments (each with the value the command sees, empty for one without a value), then argv joined by spaces.
    /// </summary>
    public static string CreatedBy(IReadOnlyList<string> args, IReadOnlyList<KeyValuePair<string, string>> buildArgs)
    {
        var text = new StringBuilder("RUN ");
        if (buildArgs.Count > 0)
        {
            text.Append('|').Append(buildArgs.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(' ');
            foreach (var (name, value) in buildArgs)
            {
                text.Append(name).Append('=').Append(value).Append(' ');
            }
        }

        return text.Append(string.Join(' ', args)).ToString();
    }

    /// <summary>Whether the command is nothing but the heredoc word (<c>&lt;&lt;EOF</c>, <c>&lt;&lt;-EOF</c>, quoted or not).</summary>
    private static bool IsHeredocAlone(string command, string name)
    {
        var word = command.Trim();
        if (!word.StartsWith("<<", StringComparison.Ordinal))
        {
            return false;
        }

        word = word[2..];
        if (word.StartsWith('-'))
        {
            word = word[1..];
        }

        word = word.Trim();
        if (word.Length >= 2 && (word[0] is '"' or '\'') && word[^1] == word[0])
        {
            word = word[1..^1];
        }

        return string.Equals(word, name, StringComparison.Ordinal);
    }
}
