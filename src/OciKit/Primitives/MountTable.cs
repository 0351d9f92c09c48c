using System.Runtime.InteropServices;
using System.Text;

namespace OciKit.Primitives;

/// <summary>
/// The mounts of this process' mount namespace (<c>/proc/self/mountinfo</c>), to detach what a killed container left
/// mounted below a folder before the folder is deleted: deleting through a stale overlayfs or bind mount would reach
/// into a lower layer or a host path. Hand-written P/Invoke because the BCL has no umount2.
/// </summary>
internal static class MountTable
{
    private const int MntDetach = 2;

    /// <summary>The mount points at or below a folder, deepest first (empty where there is no <c>/proc/self/mountinfo</c>).</summary>
    public static IReadOnlyList<string> Below(string folder)
    {
        const string MountInfo = "/proc/self/mountinfo";
        if (!OperatingSystem.IsLinux() || !File.Exists(MountInfo))
        {
            return [];
        }

        var root = Path.GetFullPath(folder).TrimEnd('/');
        var prefix = root + "/";
        var points = new List<string>();
        foreach (var line in File.ReadLines(MountInfo))
        {
            // Field 5 is the mount point, with space, tab, newline and backslash written as octal escapes.
            var fields = line.Split(' ');
            if (fields.Length > 4)
            {
                var point = Unescape(fields[4]);
                if (point == root || point.StartsWith(prefix, StringComparison.Ordinal))
                {
                    points.Add(point);
                }
            }
        }

        points.Sort(static (a, b) => b.Length.CompareTo(a.Length));
        return points;
    }

    /// <summary>Lazily detaches (<c>MNT_DETACH</c>) every mount at or below a folder; returns how many were detached.</summary>
    public static int DetachBelow(string folder)
    {
        var detached = 0;
        foreach (var point in Below(folder))
        {
            // A mount already gone (a race with another collector) is not an error.
            if (umount2(point, MntDetach) == 0)
            {
                detached++;
            }
        }

        return detached;
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var builder = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                builder.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                builder.Append(field[i]);
            }
        }

        return builder.ToString();
    }

    [DllImport("libc", SetLastError = true, ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int umount2([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);
}
