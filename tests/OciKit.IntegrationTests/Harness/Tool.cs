using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace OciKit.IntegrationTests.Harness;

/// <summary>What an external tool printed and how it exited.</summary>
/// <param name="Command">The command line, for messages.</param>
/// <param name="ExitCode">The process exit code.</param>
/// <param name="StdOut">Everything written to standard output.</param>
/// <param name="StdErr">Everything written to standard error.</param>
public sealed record ToolResult(string Command, int ExitCode, string StdOut, string StdErr)
{
    /// <summary>Returns this result, or throws with the tool's output when it exited non-zero.</summary>
    public ToolResult EnsureSuccess() => ExitCode == 0
        ? this
        : throw new ToolFailedException($"`{Command}` exited with {ExitCode}.\nstdout:\n{Tail(StdOut)}\nstderr:\n{Tail(StdErr)}");

    private static string Tail(string text) => text.Length <= 4000 ? text : "…" + text[^4000..];
}

/// <summary>An external tool failed, timed out or is not installed.</summary>
public sealed class ToolFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs the real peers the integration tests compare against (skopeo, umoci, podman, buildah, tar, gzip, …).
/// A missing tool is a failure with a clear message, never a silent skip: <c>./test.sh</c> installs them.
/// </summary>
public static class Tool
{
    /// <summary>The default time a tool may take before it is killed.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    /// <summary>Finds an executable on PATH (or checks an absolute path) and fails clearly when it is missing.</summary>
    public static string Locate(string executable)
    {
        if (Path.IsPathRooted(executable))
        {
            return File.Exists(executable) ? executable : throw Missing(executable);
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw Missing(executable);
    }

    /// <summary>Runs a tool to completion and captures its output.</summary>
    /// <param name="executable">Name on PATH or absolute path.</param>
    /// <param name="arguments">Arguments, passed without a shell.</param>
    /// <param name="environment">Extra environment variables (a null value removes one).</param>
    /// <param name="stdin">Text written to standard input, which is then closed.</param>
    /// <param name="workingDirectory">Working directory, default the current one.</param>
    /// <param name="timeout">How long the tool may run, default <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the run (the process is killed).</param>
    public static async Task<ToolResult> RunAsync(
        string executable,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? stdin = null,
        string? workingDirectory = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(Locate(executable))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                {
                    psi.Environment.Remove(k);
                }
                else
                {
                    psi.Environment[k] = v;
                }
            }
        }

        var command = executable + " " + string.Join(' ', psi.ArgumentList.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));
        using var process = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new ToolFailedException($"Could not start `{command}`: {ex.Message}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
        }

        process.StandardInput.Close();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new ToolFailedException($"`{command}` did not finish within {timeout ?? DefaultTimeout}.\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }

        // WaitForExitAsync returns after the output streams reach EOF, so the builders are complete.
        return new ToolResult(command, process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a tool and throws with its output unless it exits 0.</summary>
    public static async Task<ToolResult> RunCheckedAsync(string executable, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null, string? stdin = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => (await RunAsync(executable, arguments, environment, stdin, null, timeout, cancellationToken).ConfigureAwait(false)).EnsureSuccess();

    private static ToolFailedException Missing(string executable) => new(
        $"'{executable}' is not installed (not found on PATH). The integration tests drive real tools; run ./test.sh from the repository root, which installs them (apt-get).");
}
