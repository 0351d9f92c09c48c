using Microsoft.Win32.SafeHandles;

namespace OciKit.Execution;

/// <summary>
/// A pseudo-terminal allocated for a container process (<c>ocikit run -t</c>): the runtime gets the slave as its
/// standard streams and controlling terminal; the master is read for the output (standard error merged into it, as
/// Docker does with a terminal) and written with the input. The size is the caller's terminal's, else 80x24.
/// </summary>
internal sealed class PseudoTerminal : IDisposable
{
    private const ushort DefaultRows = 24;
    private const ushort DefaultColumns = 80;

    private readonly SafeFileHandle _master;
    private SafeFileHandle? _slave;

    private PseudoTerminal(SafeFileHandle master, string slavePath, SafeFileHandle slave)
    {
        _master = master;
        SlavePath = slavePath;
        _slave = slave;
        Output = new FileStream(RootfsNative.Duplicate(master), FileAccess.Read, bufferSize: 0);
        Input = new FileStream(RootfsNative.Duplicate(master), FileAccess.Write, bufferSize: 0);
    }

    /// <summary>The slave's path (<c>/dev/pts/N</c>).</summary>
    public string SlavePath { get; }

    /// <summary>The master's read side: what the process writes to its terminal. Ends (EIO) once no slave is open.</summary>
    public Stream Output { get; }

    /// <summary>The master's write side: what the process reads from its terminal.</summary>
    public Stream Input { get; }

    /// <summary>Allocates a pseudo-terminal sized like the caller's terminal (standard output, input or error), else 80x24.</summary>
    /// <param name="runtime">The runtime's name, for the error.</param>
    /// <exception cref="ContainerRunException">The machine gave no pseudo-terminal.</exception>
    public static PseudoTerminal Open(string runtime)
    {
        SafeFileHandle? master = null;
        SafeFileHandle? slave = null;
        try
        {
            (master, var slavePath) = RootfsNative.OpenPseudoTerminal();
            // The slave stays open here until the process ended: the master must not read end-of-file before the
            // runtime has opened it, and reads it once every process holding it is gone.
            slave = RootfsNative.OpenTerminal(slavePath);
            var (rows, columns) = CallersWindowSize();
            RootfsNative.SetWindowSize(master, rows, columns);
            return new PseudoTerminal(master, slavePath, slave);
        }
        catch (IOException e)
        {
            slave?.Dispose();
            master?.Dispose();
            throw new ContainerRunException(runtime, $"Could not allocate a terminal for the container: {e.Message}", innerException: e);
        }
    }

    /// <summary>The caller's terminal's size (standard output, input, then error), or 80x24 when none is a terminal.</summary>
    public static (ushort Rows, ushort Columns) CallersWindowSize()
    {
        foreach (var fd in new[] { 1, 0, 2 })
        {
            if (RootfsNative.TryGetWindowSize(fd, out var rows, out var columns))
            {
                return (rows, columns);
            }
        }

        return (DefaultRows, DefaultColumns);
    }

    /// <summary>
    /// Sets the terminal's size; the kernel then sends SIGWINCH to the terminal's foreground process group (the runtime,
    /// which passes the size on to the container's own terminal, or with bwrap the container's processes).
    /// </summary>
    public void Resize(ushort rows, ushort columns) => RootfsNative.SetWindowSize(_master, rows, columns);

    /// <summary>Closes this side's slave: once the process' copies are closed too, <see cref="Output"/> ends.</summary>
    public void CloseSlave()
    {
        _slave?.Dispose();
        _slave = null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        CloseSlave();
        Output.Dispose();
        Input.Dispose();
        _master.Dispose();
    }
}
