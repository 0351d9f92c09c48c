namespace OciKit.Execution;

/// <summary>
/// The terminal the caller runs in, for <c>run -t</c>: while a container has a terminal of its own, the caller's must
/// pass keys and output through untouched (raw mode), as <c>docker run -t</c> does — otherwise every line ends in
/// CR CR LF, typed input is echoed twice and Ctrl-C stops the caller instead of reaching the container's terminal.
/// </summary>
public static class HostTerminal
{
    /// <summary>
    /// Puts standard input's terminal into raw mode until the returned object is disposed; does nothing (and returns an
    /// object whose disposal does nothing) when standard input is not a terminal.
    /// </summary>
    /// <returns>Restores the terminal's settings when disposed.</returns>
    public static IDisposable EnterRawMode()
    {
        const int StandardInput = 0;
        var saved = OperatingSystem.IsLinux() ? RootfsNative.TryMakeRaw(StandardInput) : null;
        return new Restorer(saved);
    }

    private sealed class Restorer(byte[]? saved) : IDisposable
    {
        private byte[]? _saved = saved;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _saved, null) is { } settings)
            {
                RootfsNative.RestoreTerminal(0, settings);
            }
        }
    }
}
