using System.CommandLine;

namespace OciKit.Cli;

/// <summary>Runs the command line and maps library exceptions to the CLI's exit codes.</summary>
internal static class CliRunner
{
    /// <summary>Success.</summary>
    public const int Success = 0;

    /// <summary>Bad arguments, a bad Dockerfile, something not found: the user can fix it.</summary>
    public const int UserError = 1;

    /// <summary>The registry or authentication failed.</summary>
    public const int RegistryError = 2;

    /// <summary>A defect or an unexpected failure.</summary>
    public const int InternalError = 3;

    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            foreach (var error in parseResult.Errors)
            {
                await Console.Error.WriteLineAsync($"ocikit: {error.Message}").ConfigureAwait(false);
            }

            return UserError;
        }

        try
        {
            // Our own handler below maps library exceptions to exit codes; System.CommandLine's would print a stack trace.
            return await parseResult.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var verbose = parseResult.GetValue(GlobalOptions.Verbose);
            await Console.Error.WriteLineAsync("ocikit: " + (verbose ? ex.ToString() : ex.Message)).ConfigureAwait(false);
            return ExitCodeFor(ex);
        }
    }

    public static int ExitCodeFor(Exception exception) => exception switch
    {
        OciException => UserError,
        ArgumentException or FileNotFoundException or DirectoryNotFoundException => UserError,
        NotSupportedException => UserError,
        _ => InternalError,
    };
}
