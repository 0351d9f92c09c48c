using System.CommandLine;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit build</c>: builds an image from a Dockerfile into the local store or another destination.</summary>
internal static class BuildCommand
{
    public static Command Create()
    {
        var context = new Argument<string>("context")
        {
            Description = "The build context directory.",
            DefaultValueFactory = _ => ".",
        };
        var file = new Option<string?>("--file", "-f") { Description = "The Dockerfile (default: CONTEXT/Dockerfile)." };
        var tags = new Option<string[]>("--tag", "-t") { Description = "A name for the image, repository[:tag]; repeatable." };

        var command = new Command("build", "Build an image from a Dockerfile, without a daemon.");
        command.Arguments.Add(context);
        command.Options.Add(file);
        command.Options.Add(tags);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var contextDirectory = Path.GetFullPath(parseResult.GetValue(context) ?? ".");
            var dockerfile = parseResult.GetValue(file) ?? Path.Combine(contextDirectory, "Dockerfile");
            if (!Directory.Exists(contextDirectory))
            {
                throw new DirectoryNotFoundException($"Build context '{contextDirectory}' does not exist.");
            }

            if (!File.Exists(dockerfile))
            {
                throw new FileNotFoundException($"Dockerfile '{dockerfile}' does not exist.", dockerfile);
            }

            // The build engine (OciKit.Build) has not landed yet; say so plainly rather than pretend.
            await Console.Error.WriteLineAsync(
                $"ocikit: 'build' is not implemented yet: the build engine (OciKit.Build) has not landed. Context: {contextDirectory}")
                .ConfigureAwait(false);
            return CliRunner.InternalError;
        });
        return command;
    }
}
