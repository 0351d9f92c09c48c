using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using ICSharpCode.SharpZipLib.BZip2;
using OciKit.Layers;

namespace OciKit.Tests.Build.Sources;

/// <summary>Builds small tar archives, in every compression ADD accepts, for the extractor tests.</summary>
internal static class ArchiveTestData
{
    /// <summary>
    /// <c>d/</c> and <c>d/f.txt</c> ("hello xz\n", mode 0640, uid 7, gid 8), made with GNU tar and <c>xz -9</c>:
    /// the BCL and the library's dependencies have no xz encoder.
    /// </summary>
    public const string XzArchiveBase64 = "/Td6WFoAAATm1rRGAgAhARwAAAAQz1jM4Cf/AHldADILvBunjDRE4cIPLUAms7F2quVJAVeDQuRhXqYwADKmTl/HF8utYDsG0Plosh7MsZYMwi0PWkluHxkcPC5kBAkyvDvh4G0yUUMuwoYpcM9HwA4RS7rk1BPKQRDrCfyeNG6ZgE+sDbRot6375LkX80Zh4+/kibgOGYQAAAAAt9yQqLc63uAAAZUBgFAAABbiezKxxGf7AgAAAAAEWVo=";

    public static PaxTarEntry Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0)
        => new(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid };

    public static PaxTarEntry File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0)
        => new(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };

    public static PaxTarEntry Symlink(string name, string target)
        => new(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0x1FF };

    public static PaxTarEntry Hardlink(string name, string target, int mode = 0x1A4, int uid = 0, int gid = 0)
        => new(TarEntryType.HardLink, name) { LinkName = target, Mode = (UnixFileMode)mode, Uid = uid, Gid = gid };

    public static byte[] Tar(params TarEntry[] entries)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                writer.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }

    public static byte[] Compress(byte[] data, string compression)
    {
        using var output = new MemoryStream();
        switch (compression)
        {
            case "none":
                return data;
            case "gzip":
                using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(data);
                }

                break;
            case "bzip2":
                using (var bzip2 = new BZip2OutputStream(output) { IsStreamOwner = false })
                {
                    bzip2.Write(data);
                }

                break;
            case "zstd":
                using (var zstd = new ZstdSharp.CompressionStream(output, leaveOpen: true))
                {
                    zstd.Write(data);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(compression), compression, null);
        }

        return output.ToArray();
    }

    public static string Content(LayerEntry entry)
    {
        using var stream = entry.OpenContent!();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static Dictionary<string, LayerEntry> ByPath(IEnumerable<LayerEntry> entries) => entries.ToDictionary(e => e.Path, StringComparer.Ordinal);
}
