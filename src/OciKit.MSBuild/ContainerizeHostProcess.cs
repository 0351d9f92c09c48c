using System.Diagnostics;
using System.Text;
using Microsoft.Build.Framework;
using TaskLoggingHelper = Microsoft.Build.Utilities.TaskLoggingHelper;

namespace OciKit.MSBuild;

/// <summary>
/// Runs the task's work in the out-of-process host (<c>OciKit.MSBuild.Host</c>, NativeAOT): writes the task's inputs
/// (<see cref="ContainerizeInputs"/>) to a private temporary directory, starts the host on it, logs its lines as they come, and reads its outcome.
/// </summary>
/// <remarks>
/// The task starts the process itself rather than deriving from <c>ToolTask</c>: the host needs no command line to
/// build or parse (two paths), its result is a file rather than canonical error lines, and cancellation asks the host
/// to stop (its standard input closes, so it winds down as the task would in process and deletes what it half wrote)
/// before killing it, where <c>ToolTask</c> kills at once.
/// </remarks>
internal sealed class ContainerizeHostProcess(string executable, TaskLoggingHelper log, Action<int>? onStarted = null, StepTiming? timing = null)
{
    /// <summary>How long a cancelled host may take to stop before it is killed.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs the work in the host.</summary>
    /// <param name="inputs">The task's inputs.</param>
    /// <param name="cancellationToken">Stops the host (OCIK0007, as in process).</param>
    /// <param name="early">A host started ahead and waiting for its job (<see cref="OciKitStartHost"/>), which gets it when it still can; the caller disposes it.</param>
    /// <returns>The host's outcome, or null when the host could not be started (the caller then runs in process).</returns>
    public ContainerizeJobOutcome? Run(ContainerizeInputs inputs, CancellationToken cancellationToken, EarlyHost? early = null)
    {
        // Directory.CreateTempSubdirectory makes it 0700: the inputs name files and variables only, yet stay private.
        DirectoryInfo directory;
        try
        {
            directory = Directory.CreateTempSubdirectory("ocikit-job-");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No temporary directory to hand the host its inputs (TMPDIR missing, full, read-only): the work runs in
            // process, which reports its own failures with their codes.
            log.LogMessage(MessageImportance.Low, $"OciKit: no temporary directory for the out-of-process host ({e.Message}): running in process.");
            return null;
        }

        var inputsPath = Path.Combine(directory.FullName, "inputs.json");
        var outcomePath = Path.Combine(directory.FullName, "outcome.json");
        try
        {
            try
            {
                ContainerizeWire.WriteInputs(inputsPath, inputs);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogMessage(MessageImportance.Low, $"OciKit: the out-of-process host's inputs cannot be written ({e.Message}): running in process.");
                return null;
            }

            if (early is not null && early.HandOver(inputsPath, outcomePath))
            {
                log.LogMessage(MessageImportance.Low, $"OciKit: running out of process, in the host started ahead: {early.Executable}");
                timing?.Mark("inputs written, handed to the host started ahead");
                onStarted?.Invoke(early.Process.Id);
                return Follow(early.Process, early.Errors, outcomePath, cancellationToken);
            }

            var start = StartInfo(executable);
            start.ArgumentList.Add(inputsPath);
            start.ArgumentList.Add(outcomePath);

            Process? started;
            try
            {
                started = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                log.LogMessage(MessageImportance.Low, $"OciKit: the out-of-process host {executable} does not start ({e.Message}): running in process.");
                return null;
            }

            using var process = started ?? throw new IOException($"{executable} did not start.");
            log.LogMessage(MessageImportance.Low, $"OciKit: running out of process: {executable}");
            timing?.Mark("inputs written, host started");
            onStarted?.Invoke(process.Id);
            return Follow(process, CollectErrors(process), outcomePath, cancellationToken);
        }
        finally
        {
            // The files it is known to hold, then the directory itself: a recursive delete would have the node
            // JIT-compile its file-system enumerator (about ten generic methods, 1–2 ms) on every build. Anything else
            // in it (a host stopped while writing its outcome's temporary file) gets the recursive delete.
            File.Delete(inputsPath);
            File.Delete(outcomePath);
            try
            {
                directory.Delete();
            }
            catch (IOException)
            {
                directory.Delete(recursive: true);
            }
        }
    }

    /// <summary>How the host is started: its standard streams redirected, UTF-8 each way.</summary>
    internal static ProcessStartInfo StartInfo(string executable) => new(executable)
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
        StandardOutputEncoding = Encoding.UTF8,
        StandardErrorEncoding = Encoding.UTF8,

        // Named, so that the node does not ask the console for its input encoding.
        StandardInputEncoding = new UTF8Encoding(false),
    };

    /// <summary>Collects what a started host writes to standard error, as it comes.</summary>
    internal static StringBuilder CollectErrors(Process process)
    {
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        return errors;
    }

    /// <summary>Logs the host's lines as they come, waits for it to exit (stopping it on cancellation), and reads its outcome.</summary>
    private ContainerizeJobOutcome Follow(Process process, StringBuilder errors, string outcomePath, CancellationToken cancellationToken)
    {
        using (cancellationToken.Register(() => Stop(process)))
        {
            // On the task's own thread: MSBuild's logging helpers may only be used while the task runs.
            while (process.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith(ContainerizeHostProtocol.DetailPrefix, StringComparison.Ordinal))
                {
                    log.LogMessage(MessageImportance.Low, line[ContainerizeHostProtocol.DetailPrefix.Length..]);
                }
                else
                {
                    log.LogMessage(MessageImportance.Normal, line.StartsWith(ContainerizeHostProtocol.ProgressPrefix, StringComparison.Ordinal) ? line[ContainerizeHostProtocol.ProgressPrefix.Length..] : line);
                }
            }

            process.WaitForExit();
        }

        timing?.Mark("host exited");

        if (File.Exists(outcomePath))
        {
            try
            {
                return ContainerizeWire.ReadOutcome(outcomePath);
            }
            catch (FormatException e)
            {
                return new ContainerizeJobOutcome(null, null, $"its outcome cannot be read: {e.Message}");
            }
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return new ContainerizeJobOutcome(null, ErrorCodes.Cancelled, ErrorCodes.Describe(ErrorCodes.Cancelled, new OperationCanceledException(cancellationToken)));
        }

        string stderr;
        lock (errors)
        {
            stderr = errors.ToString().Trim();
        }

        return new ContainerizeJobOutcome(null, null, $"it exited with code {process.ExitCode} and no outcome. {stderr}");
    }

    private static async Task<bool> ExitedAsync(Process process, CancellationToken cancellationToken)
    {
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Asks the host to stop (its standard input closes), and kills it if it has not within <see cref="StopTimeout"/>.</summary>
    private static void Stop(Process process)
    {
        try
        {
            process.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Already gone.
        }

        _ = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(StopTimeout);
                if (!await ExitedAsync(process, timeout.Token).ConfigureAwait(false))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        });
    }
}
