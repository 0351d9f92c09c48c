using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace OciKit.Execution;

/// <summary>
/// Runs a runtime's foreground process (<c>runc run</c>, <c>bwrap …</c>) with its standard streams as pipes, copying
/// them to and from a <see cref="ContainerIO"/> as data arrives.
/// </summary>
internal static class RuntimeProcess
{
    private const int TailLength = 4096;

    /// <summary>The outcome of a runtime process: its exit code and the end of its standard error.</summary>
    public sealed record Outcome(int ExitCode, string StderrTail);

    /// <summary>
    /// Starts <paramref name="executable"/>, pumps the streams and waits for it to exit. When
    /// <paramref name="cancellationToken"/> fires, <paramref name="stop"/> is called with the started process (it must
    /// make it exit); then this waits for the exit and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <remarks>
    /// With <paramref name="terminal"/>, the runtime runs through <c>/bin/sh</c> and util-linux' <c>setsid --ctty</c>
    /// (a new session whose controlling terminal is the slave, which is also its standard input, output and error);
    /// the input goes to the master and the master's output to <see cref="ContainerIO.Stdout"/>.
    /// </remarks>
    public static async Task<Outcome> RunAsync(string executable, IEnumerable<string> arguments, ContainerIO io, Func<Process, Task> stop, CancellationToken cancellationToken, PseudoTerminal? terminal = null)
    {
        if (terminal is not null)
        {
            var setsid = ContainerRuntimes.Find("setsid")
                ?? throw new ContainerRunException(Path.GetFileName(executable), "A terminal (-t) needs setsid from util-linux, which is not on PATH: apt-get install util-linux.", OciKit.Primitives.FailureKind.NotSupported);
            // $0 is setsid, $1 the slave; the redirections open the slave in this process, setsid makes it the
            // controlling terminal of the new session (--ctty) and passes the runtime's exit code on (--wait).
            arguments = ["-c", "tty=$1; shift; exec \"$0\" --ctty --wait \"$@\" <\"$tty\" >\"$tty\" 2>&1", setsid, terminal.SlavePath, executable, .. arguments];
            executable = "/bin/sh";
        }

        var info = StartInfo(executable, arguments);

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ContainerRunException(Path.GetFileName(executable), $"Could not start {executable}: {e.Message}", innerException: e);
        }

        // The caller's terminal resized (SIGWINCH, which .NET delivers as a PosixSignal): the container's follows it.
        using var resize = terminal is null || OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => ResizeTerminal(terminal));
        using var stdinStop = new CancellationTokenSource();
        Task stdin;
        var tail = new StringBuilder();
        var terminalTail = new StringBuilder();
        Task stdout;
        if (terminal is null)
        {
            stdin = FeedAsync(io.Stdin, process.StandardInput.BaseStream, stdinStop.Token);
            stdout = CopyAsync(process.StandardOutput.BaseStream, io.Stdout, null);
        }
        else
        {
            process.StandardInput.Close();
            stdin = FeedAsync(io.Stdin, terminal.Input, stdinStop.Token);
            stdout = Task.WhenAll(CopyAsync(terminal.Output, io.Stdout, terminalTail), CopyAsync(process.StandardOutput.BaseStream, io.Stdout, null));
        }

        var stderr = CopyAsync(process.StandardError.BaseStream, io.Stderr, tail);
        var cancelled = false;
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            cancelled = true;
            await stop(process).ConfigureAwait(false);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await stdinStop.CancelAsync().ConfigureAwait(false);
        }

        // The pipes end when the last process holding them (the container's) exits: the output is complete. A
        // terminal's master ends once no slave is open: the runtime's are closed, this side's is closed now.
        terminal?.CloseSlave();
        await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        // The input copy is not awaited: a source that ignores cancellation (a console) must not hold the result back;
        // it ends on its own, every error of it handled.
        _ = stdin;
        if (cancelled)
        {
            throw new OperationCanceledException(cancellationToken);
        }

        return new Outcome(process.ExitCode, terminalTail.Append(tail).ToString());
    }

    private static void ResizeTerminal(PseudoTerminal terminal)
    {
        try
        {
            var (rows, columns) = PseudoTerminal.CallersWindowSize();
            terminal.Resize(rows, columns);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The run is ending: its terminal is closed or closing.
        }
    }

    private static async Task FeedAsync(Stream? source, Stream pipe, CancellationToken cancellationToken)
    {
        try
        {
            if (source is not null)
            {
                await source.CopyToAsync(pipe, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The process stopped reading (exited or closed its input): what it did not read is not an error.
        }
        finally
        {
            try
            {
                await pipe.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // A broken pipe on close: the process is gone already.
            }
        }
    }

    private static async Task CopyAsync(Stream pipe, Stream? destination, StringBuilder? tail)
    {
        var buffer = new byte[16384];
        int read;
        while ((read = await ReadAsync(pipe, buffer).ConfigureAwait(false)) > 0)
        {
            if (destination is not null)
            {
                await destination.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                await destination.FlushAsync().ConfigureAwait(false);
            }

            if (tail is not null)
            {
                tail.Append(Encoding.UTF8.GetString(buffer, 0, read));
                if (tail.Length > TailLength)
                {
                    tail.Remove(0, tail.Length - TailLength);
                }
            }
        }
    }

    /// <summary>A read; a terminal master whose slaves are all closed fails with EIO, which is its end of file.</summary>
    private static async ValueTask<int> ReadAsync(Stream pipe, byte[] buffer)
    {
        try
        {
            return await pipe.ReadAsync(buffer).ConfigureAwait(false);
        }
        catch (IOException) when (pipe is FileStream)
        {
            return 0;
        }
    }

    /// <summary>Runs a short runtime command (<c>kill</c>, <c>delete</c>) to completion, ignoring its output.</summary>
    public static async Task<int> RunQuietAsync(string executable, IEnumerable<string> arguments)
    {
        var info = StartInfo(executable, arguments);

        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        await Task.WhenAll(output, error).ConfigureAwait(false);
        return process.ExitCode;
    }

    /// <summary>How a runtime is started: its three standard streams redirected, the arguments passed as they are.</summary>
    private static ProcessStartInfo StartInfo(string executable, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }
}
