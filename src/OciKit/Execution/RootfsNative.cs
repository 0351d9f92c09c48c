using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace OciKit.Execution;

/// <summary>
/// The Linux system calls a container root file system needs. Hand-written because the BCL has no lchown, mknod,
/// link, extended attributes, utimensat without following links, mount or umount2, nor pseudo-terminals. Linux x64 and arm64 (glibc or musl).
/// </summary>
internal static class RootfsNative
{
    public const int FileTypeMask = 0xF000;
    public const int TypeFifo = 0x1000;
    public const int TypeCharDevice = 0x2000;
    public const int TypeDirectory = 0x4000;
    public const int TypeBlockDevice = 0x6000;
    public const int TypeRegular = 0x8000;
    public const int TypeSymlink = 0xA000;
    public const int TypeSocket = 0xC000;

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int ENODATA = 61;
    private const int ENOENT = 2;
    private const int ERANGE = 34;
    private const int EINVAL = 22;

    /// <summary>Whether these calls work here (Linux on x64 or arm64).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>Whether the process runs as root (owners can be kept, devices created, overlayfs mounted).</summary>
    public static bool IsRoot => IsSupported && NativeMethods.geteuid() == 0;

    /// <summary>The lstat(2) fields a change comparison needs.</summary>
    public readonly record struct Status(ulong Device, ulong Inode, int Mode, int Uid, int Gid, ulong RDev, long Size, long Nlink, long MtimeSec, long MtimeNsec, long CtimeSec, long CtimeNsec)
    {
        public int Type => Mode & FileTypeMask;

        public UnixFileMode Permissions => (UnixFileMode)(Mode & 0xFFF);

        public bool IsDirectory => Type == TypeDirectory;

        public bool IsSymlink => Type == TypeSymlink;

        public bool IsRegular => Type == TypeRegular;

        public bool IsOverlayWhiteout => Type == TypeCharDevice && RDev == 0;

        public DateTimeOffset ModificationTime => DateTimeOffset.FromUnixTimeSeconds(MtimeSec).AddTicks(MtimeNsec / 100);

        public int Major => (int)(((RDev >> 32) & 0xFFFFF000) | ((RDev >> 8) & 0xFFF));

        public int Minor => (int)(((RDev >> 12) & 0xFFFFFF00) | (RDev & 0xFF));
    }

    /// <summary>lstat(2); false when the path does not exist.</summary>
    public static bool TryLstat(string path, out Status status)
    {
        var bytes = new byte[256];
        if (NativeMethods.lstat(path, bytes) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            status = default;
            return errno is ENOENT or 20 /* ENOTDIR */ ? false : throw Error("lstat", path, errno);
        }

        status = ParseStat(bytes);
        return true;
    }

    /// <summary>fstat(2) of an open file.</summary>
    public static Status Fstat(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        var bytes = new byte[256];
        return NativeMethods.fstat(handle, bytes) == 0 ? ParseStat(bytes) : throw Error("fstat", "an open file", Marshal.GetLastPInvokeError());
    }

    /// <summary>The kernel's <c>struct stat</c> on x64 or arm64.</summary>
    private static Status ParseStat(byte[] bytes)
    {
        var x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        long U64(int offset) => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(offset));
        int U32(int offset) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
        return x64
            ? new Status((ulong)U64(0), (ulong)U64(8), U32(24), U32(28), U32(32), (ulong)U64(40), U64(48), U64(16), U64(88), U64(96), U64(104), U64(112))
            : new Status((ulong)U64(0), (ulong)U64(8), U32(16), U32(24), U32(28), (ulong)U64(32), U64(48), (uint)U32(20), U64(88), U64(96), U64(104), U64(112));
    }

    /// <summary>lstat(2) of a path that must exist.</summary>
    public static Status Lstat(string path) => TryLstat(path, out var status) ? status : throw new FileNotFoundException($"'{path}' does not exist.", path);

    public static void Lchown(string path, int uid, int gid) => Check(NativeMethods.lchown(path, uid, gid), "lchown", path);

    public static void Chmod(string path, UnixFileMode mode) => Check(NativeMethods.chmod(path, (int)mode), "chmod", path);

    public static void Mknod(string path, int type, UnixFileMode mode, int major, int minor)
    {
        var dev = (((ulong)major & 0xFFFFF000) << 32) | (((ulong)major & 0xFFF) << 8) | (((ulong)minor & 0xFFFFFF00) << 12) | ((ulong)minor & 0xFF);
        Check(NativeMethods.mknod(path, type | (int)mode, dev), "mknod", path);
    }

    public static void Link(string existing, string path) => Check(NativeMethods.link(existing, path), "link", path);

    public static void Symlink(string target, string path) => Check(NativeMethods.symlink(target, path), "symlink", path);

    public static void Mkdir(string path, UnixFileMode mode) => Check(NativeMethods.mkdir(path, (int)mode), "mkdir", path);

    public static void Unlink(string path) => Check(NativeMethods.unlink(path), "unlink", path);

    public static void Rmdir(string path) => Check(NativeMethods.rmdir(path), "rmdir", path);

    public static void Rename(string from, string to) => Check(NativeMethods.rename(from, to), "rename", to);

    public static string ReadLink(string path)
    {
        var buffer = new byte[4096];
        var n = NativeMethods.readlink(path, buffer, buffer.Length);
        if (n < 0)
        {
            throw Error("readlink", path, Marshal.GetLastPInvokeError());
        }

        return Encoding.UTF8.GetString(buffer, 0, (int)n);
    }

    /// <summary>Sets access and modification time without following a final symlink.</summary>
    public static void SetModificationTime(string path, DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rest);
        if (rest < 0)
        {
            sec--;
            rest += TimeSpan.TicksPerSecond;
        }

        long[] times = [sec, rest * 100, sec, rest * 100];
        Check(NativeMethods.utimensat(AtFdCwd, path, times, AtSymlinkNoFollow), "utimensat", path);
    }

    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        var bytes = value.ToArray();
        Check(NativeMethods.lsetxattr(path, name, bytes, (nuint)bytes.Length, 0), "lsetxattr", path);
    }

    /// <summary>The extended attributes of a path (not following a final symlink), by name.</summary>
    public static SortedDictionary<string, byte[]> GetXattrs(string path, Func<string, bool>? keep = null)
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var size = NativeMethods.llistxattr(path, null, 0);
        if (size <= 0)
        {
            return result;
        }

        var names = new byte[(int)size + 256];
        size = NativeMethods.llistxattr(path, names, (nuint)names.Length);
        if (size < 0)
        {
            return result;
        }

        foreach (var name in Encoding.UTF8.GetString(names, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            if (keep is not null && !keep(name))
            {
                continue;
            }

            if (TryGetXattr(path, name, out var value))
            {
                result[name] = value;
            }
        }

        return result;
    }

    public static bool TryGetXattr(string path, string name, out byte[] value)
    {
        var length = NativeMethods.lgetxattr(path, name, null, 0);
        while (length >= 0)
        {
            var buffer = new byte[(int)length];
            var read = NativeMethods.lgetxattr(path, name, buffer, (nuint)buffer.Length);
            if (read >= 0)
            {
                value = buffer.AsSpan(0, (int)read).ToArray();
                return true;
            }

            if (Marshal.GetLastPInvokeError() != ERANGE)
            {
                break;
            }

            length = NativeMethods.lgetxattr(path, name, null, 0);
        }

        value = [];
        return false;
    }

    public static void Mount(string source, string target, string fsType, ulong flags, string? data)
        => Check(NativeMethods.mount(source, target, fsType, flags, data), "mount", target);

    /// <summary>Detaches a mount (MNT_DETACH); false when nothing is mounted there.</summary>
    public static bool Unmount(string target)
    {
        if (NativeMethods.umount2(target, 2) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is EINVAL or ENOENT ? false : throw Error("umount2", target, errno);
    }

    /// <summary>
    /// Opens a new pseudo-terminal master (<c>/dev/ptmx</c>, close-on-exec, not the caller's controlling terminal),
    /// grants and unlocks its slave; returns the master and the slave's path. Hand-written too: the BCL has no
    /// pseudo-terminal API (posix_openpt, grantpt, unlockpt, ptsname_r) nor ioctl.
    /// </summary>
    public static (Microsoft.Win32.SafeHandles.SafeFileHandle Master, string SlavePath) OpenPseudoTerminal()
    {
        const int ORdWr = 2, ONoCtty = 0x100, OCloExec = 0x80000;
        var fd = NativeMethods.posix_openpt(ORdWr | ONoCtty | OCloExec);
        if (fd < 0)
        {
            throw Error("posix_openpt", "/dev/ptmx", Marshal.GetLastPInvokeError());
        }

        var master = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        try
        {
            Check(NativeMethods.grantpt(fd), "grantpt", "/dev/ptmx");
            Check(NativeMethods.unlockpt(fd), "unlockpt", "/dev/ptmx");
            var name = new byte[256];
            var error = NativeMethods.ptsname_r(fd, name, name.Length);
            if (error != 0)
            {
                throw Error("ptsname_r", "/dev/ptmx", error);
            }

            return (master, Encoding.UTF8.GetString(name, 0, Array.IndexOf(name, (byte)0)));
        }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    /// <summary>Opens a pseudo-terminal slave (read-write, close-on-exec, not as the controlling terminal).</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenTerminal(string path)
    {
        const int ORdWr = 2, ONoCtty = 0x100, OCloExec = 0x80000;
        var fd = NativeMethods.open(path, ORdWr | ONoCtty | OCloExec);
        return fd >= 0 ? new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true) : throw Error("open", path, Marshal.GetLastPInvokeError());
    }

    /// <summary>A second descriptor of an open file (close-on-exec), so reading and writing do not share one stream.</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle Duplicate(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        const int FDupFdCloExec = 1030;
        var fd = NativeMethods.fcntl(handle, FDupFdCloExec, 0);
        return fd >= 0 ? new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true) : throw Error("fcntl", "F_DUPFD_CLOEXEC", Marshal.GetLastPInvokeError());
    }

    /// <summary>The window size (rows, columns) of the terminal open as descriptor <paramref name="fd"/>, when it is one.</summary>
    public static bool TryGetWindowSize(int fd, out ushort rows, out ushort columns)
    {
        const ulong TiocGWinSz = 0x5413;
        var size = new ushort[4];
        var ok = NativeMethods.ioctl(fd, TiocGWinSz, size) == 0 && size[0] > 0 && size[1] > 0;
        (rows, columns) = ok ? (size[0], size[1]) : ((ushort)0, (ushort)0);
        return ok;
    }

    /// <summary>Sets the window size of a terminal (its master or slave).</summary>
    public static void SetWindowSize(Microsoft.Win32.SafeHandles.SafeFileHandle terminal, ushort rows, ushort columns)
    {
        const ulong TiocSWinSz = 0x5414;
        var added = false;
        terminal.DangerousAddRef(ref added);
        try
        {
            Check(NativeMethods.ioctl((int)terminal.DangerousGetHandle(), TiocSWinSz, [rows, columns, 0, 0]), "ioctl(TIOCSWINSZ)", "pseudo-terminal");
        }
        finally
        {
            if (added)
            {
                terminal.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Puts the terminal open as descriptor <paramref name="fd"/> into raw mode (cfmakeraw: no echo, no line editing,
    /// no signals from keys, no CR/LF translation); returns its previous settings, or null when it is no terminal.
    /// </summary>
    public static byte[]? TryMakeRaw(int fd)
    {
        const int TcsaNow = 0;
        var saved = new byte[TermiosSize];
        if (NativeMethods.tcgetattr(fd, saved) != 0)
        {
            return null;
        }

        var raw = (byte[])saved.Clone();
        NativeMethods.cfmakeraw(raw);
        return NativeMethods.tcsetattr(fd, TcsaNow, raw) == 0 ? saved : null;
    }

    /// <summary>Gives a terminal back the settings <see cref="TryMakeRaw"/> returned (after output has drained).</summary>
    public static void RestoreTerminal(int fd, byte[] saved)
    {
        const int TcsaDrain = 1;
        _ = NativeMethods.tcsetattr(fd, TcsaDrain, saved);
    }

    private static void Check(int result, string call, string path)
    {
        if (result != 0)
        {
            throw Error(call, path, Marshal.GetLastPInvokeError());
        }
    }

    private static IOException Error(string call, string path, int errno)
        => new($"{call} '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno == ENODATA ? 0 : errno);

    // struct termios is 60 bytes with glibc on Linux (x64 and arm64); a larger buffer is harmless.
    private const int TermiosSize = 64;

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int tcgetattr(int fd, [Out] byte[] termios);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int tcsetattr(int fd, int optionalActions, byte[] termios);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern void cfmakeraw([In, Out] byte[] termios);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int lstat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int fstat(Microsoft.Win32.SafeHandles.SafeFileHandle fd, [Out] byte[] buffer);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int lchown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int uid, int gid);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int chmod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int mknod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode, ulong dev);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int symlink([MarshalAs(UnmanagedType.LPUTF8Str)] string target, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int mkdir([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int unlink([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int rmdir([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int rename([MarshalAs(UnmanagedType.LPUTF8Str)] string from, [MarshalAs(UnmanagedType.LPUTF8Str)] string to);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern nint readlink([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer, nint size);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int utimensat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, long[] times, int flags);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int lsetxattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, byte[] value, nuint size, int flags);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern nint lgetxattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, [Out] byte[]? value, nuint size);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern nint llistxattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[]? list, nuint size);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int mount([MarshalAs(UnmanagedType.LPUTF8Str)] string source, [MarshalAs(UnmanagedType.LPUTF8Str)] string target, [MarshalAs(UnmanagedType.LPUTF8Str)] string fsType, ulong flags, [MarshalAs(UnmanagedType.LPUTF8Str)] string? data);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int umount2([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);

        [DllImport("libc", SetLastError = false, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern uint geteuid();

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int posix_openpt(int flags);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int grantpt(int fd);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int unlockpt(int fd);

        [DllImport("libc", SetLastError = false, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int ptsname_r(int fd, [Out] byte[] buffer, nint length);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int fcntl(Microsoft.Win32.SafeHandles.SafeFileHandle fd, int command, int argument);

        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int ioctl(int fd, ulong request, [In, Out] ushort[] argument);
    }
}
