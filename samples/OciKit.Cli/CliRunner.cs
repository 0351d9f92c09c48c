using System.CommandLine;
using System.Net;
using OciKit.Auth;
using OciKit.Primitives;
using OciKit.Registry;

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

    public static async Task<int> InvokeAsync(RootCommand root, string[] args, CliHost host, CancellationToken cancellationToken)
    {
        CliHost.Current = host;
        var parseResult = root.Parse(Commands.RunCommand.SeparateCommand(args));
        if (parseResult.Errors.Count > 0)
        {
            // One line, whatever the number of errors.
            var errors = string.Join("; ", parseResult.Errors.Select(e => e.Message).Distinct());
            await host.Err.WriteLineAsync($"ocikit: {OneLine(errors)} (see 'ocikit --help')").ConfigureAwait(false);
            return UserError;
        }

        try
        {
            // Our own handler below maps library exceptions to exit codes; System.CommandLine's would print a stack trace.
            // Ctrl-C cancels the token; `ocikit run` then stops its container (SIGTERM, 10 s, SIGKILL), which the
            // default 2 s before the process is ended would cut short, leaving the container behind.
            var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = host.Out, Error = host.Err, ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
            return await parseResult.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var verbose = parseResult.GetValue(GlobalOptions.Verbose);
            await host.Err.WriteLineAsync("ocikit: " + (verbose ? ex.ToString() : OneLine(ex.Message))).ConfigureAwait(false);
            return ExitCodeFor(ex);
        }
    }

    /// <summary>The exit code of a failure, from the library's one classification (<see cref="Failure.Classify"/>).</summary>
    public static int ExitCodeFor(Exception exception) => Failure.Classify(exception) switch
    {
        // Not found (a registry's MANIFEST_UNKNOWN or NAME_UNKNOWN too) is the user's: they named something that is not there.
        FailureKind.Caller or FailureKind.NotFound or FailureKind.Content or FailureKind.NotSupported or FailureKind.IO => UserError,
        FailureKind.Registry or FailureKind.Authentication => RegistryError,
        _ => InternalError,
    };

    public static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
