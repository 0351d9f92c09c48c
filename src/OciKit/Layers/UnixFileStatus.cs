using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OciKit.Layers;

/// <summary>
/// The few <c>lstat(2)</c> fields the BCL does not expose (device, inode, file type), for hard-link detection and for
/// telling devices, FIFOs and sockets from regular files. Available on Linux x64 and arm64 with glibc or musl, whose
/// <c>struct stat</c> both start with 64-bit <c>st_dev</c> and <c>st_ino</c>; elsewhere <see cref="TryGet"/> answers
/// <see langword="false"/> and callers fall back to what the BCL knows.
/// </summary>
internal static partial class UnixFileStatus
{
    private const int FileTypeMask = 0xF000;
    private const int RegularFile = 0x8000;
    private const int Directory = 0x4000;
    private const int SymbolicLink = 0xA000;

    private static readonly bool Supported = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    private static bool _broken;

    /// <summary>What kind of file a status describes.</summary>
    public enum Kind
    {
        /// <summary>A regular file.</summary>
        Regular,

        /// <summary>A directory.</summary>
        Directory,

        /// <summary>A symbolic link.</summary>
        Symlink,

        /// <summary>A device, FIFO or socket.</summary>
        Special,
    }

    /// <summary>Reads a path's device, inode and kind without following a final symlink.</summary>
    public static bool TryGet(string path, out ulong device, out ulong inode, out Kind kind)
    {
        device = 0;
        inode = 0;
        kind = Kind.Regular;
        if (!Supported || _broken)
        {
            return false;
        }

        var buffer = new byte[256];
        try
        {
            if (NativeMethods.lstat(path, buffer) != 0)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _broken = true;
            return false;
        }

        device = BinaryPrimitives.ReadUInt64LittleEndian(buffer);
        inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8));

        // st_mode follows st_nlink (8 bytes) on x64 and precedes it on arm64.
        var modeOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16;
        var mode = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(modeOffset)) & FileTypeMask;
        kind = mode switch
        {
            RegularFile => Kind.Regular,
            Directory => Kind.Directory,
            SymbolicLink => Kind.Symlink,
            _ => Kind.Special,
        };
        return true;
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true, ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int lstat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);
    }
}
