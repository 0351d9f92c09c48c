using System.CommandLine;
using System.Net;
using OciKit.Auth;
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
        var parseResult = root.Parse(args);
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
            var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = host.Out, Error = host.Err };
            return await parseResult.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var verbose = parseResult.GetValue(GlobalOptions.Verbose);
            await host.Err.WriteLineAsync("ocikit: " + (verbose ? ex.ToString() : OneLine(ex.Message))).ConfigureAwait(false);
            return ExitCodeFor(ex);
        }
    }

    public static int ExitCodeFor(Exception exception) => exception switch
    {
        // A registry's 404 (MANIFEST_UNKNOWN, NAME_UNKNOWN) is "not found": the user named something that is not there.
        RegistryException { StatusCode: HttpStatusCode.NotFound } => UserError,
        // RegistryDigestMismatchException too: a lying Docker-Content-Digest or a corrupt blob is the registry's fault.
        RegistryException or RegistryAuthenticationException or CredentialHelperException => RegistryError,
        OciException => UserError,
        ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException => UserError,
        NotSupportedException or UnauthorizedAccessException => UserError,
        OperationCanceledException => InternalError,
        _ => InternalError,
    };

    public static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
