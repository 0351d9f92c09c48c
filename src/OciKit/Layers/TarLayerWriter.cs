using System.Buffers;
using System.Formats.Tar;
using System.Globalization;
using System.Text;

namespace OciKit.Layers;

/// <summary>
/// Writes prepared entries as a deterministic tar stream with <see cref="TarWriter"/>: ustar headers where they suffice,
/// GNU headers where only a number is too large, and PAX extended headers only where needed (long or non-ASCII names,
/// large sizes or ids, extended attributes).
/// </summary>
/// <remarks>
/// The PAX extended header block is written here rather than by <see cref="PaxTarEntry"/>, because the BCL names it
/// <c>PaxHeaders.{process id}</c>, which would make identical content differ from run to run. Its name is
/// <c>DIR/PaxHeaders/NAME</c> (what GNU tar's deterministic <c>exthdr.name=%d/PaxHeaders/%f</c> gives).
/// Format: <see href="https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html#tag_20_94_13_03">POSIX pax, pax Header Block</see>.
/// </remarks>
internal static class TarLayerWriter
{
    private const int BlockSize = 512;
    private const int UstarNameLength = 100;
    private const int UstarOwnerNameLength = 32;
    private const long MaxOctal7 = 0x1F_FFFF;          // 7 octal digits: uid, gid
    private const long MaxOctal11 = 0x1_FFFF_FFFF;     // 11 octal digits: size

    public static async Task WriteAsync(IReadOnlyList<LayerEntry> entries, Stream output, DateTimeOffset mtime, CancellationToken cancellationToken)
    {
        var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            foreach (var entry in entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await WriteEntryAsync(writer, entry, output, mtime, cancellationToken).ConfigureAwait(false);
            }
        }

        if (entries.Count == 0)
        {
            // TarWriter writes the end-of-archive blocks only after an entry; an empty layer is still a valid tar
            // (two zero blocks, the empty layer Docker and BuildKit write), which tar readers require.
            await output.WriteAsync(new byte[2 * BlockSize], cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteEntryAsync(TarWriter writer, LayerEntry entry, Stream output, DateTimeOffset mtime, CancellationToken cancellationToken)
    {
        var isDirectory = entry.Type == LayerEntryType.Directory;
        var tarPath = isDirectory ? entry.TarPath + "/" : entry.TarPath;
        var type = entry.Type switch
        {
            LayerEntryType.Directory => TarEntryType.Directory,
            LayerEntryType.Symlink => TarEntryType.SymbolicLink,
            LayerEntryType.Hardlink => TarEntryType.HardLink,
            LayerEntryType.CharacterDevice => TarEntryType.CharacterDevice,
            LayerEntryType.BlockDevice => TarEntryType.BlockDevice,
            LayerEntryType.Fifo => TarEntryType.Fifo,
            _ => TarEntryType.RegularFile,
        };

        var records = new List<KeyValuePair<string, byte[]>>();
        var name = tarPath;
        if (!FitsUstar(tarPath, UstarNameLength))
        {
            records.Add(Record("path", tarPath));
            name = Placeholder(tarPath, UstarNameLength, isDirectory);
        }

        var linkName = entry.LinkTarget;
        if (linkName is not null && !FitsUstar(linkName, UstarNameLength))
        {
            records.Add(Record("linkpath", linkName));
            linkName = Placeholder(linkName, UstarNameLength, false);
        }

        var userName = entry.UserName ?? string.Empty;
        if (!FitsUstar(userName, UstarOwnerNameLength))
        {
            records.Add(Record("uname", userName));
            userName = string.Empty;
        }

        var groupName = entry.GroupName ?? string.Empty;
        if (!FitsUstar(groupName, UstarOwnerNameLength))
        {
            records.Add(Record("gname", groupName));
            groupName = string.Empty;
        }

        var needsGnu = false;
        if (entry.Uid > MaxOctal7)
        {
            records.Add(Record("uid", entry.Uid.ToString(CultureInfo.InvariantCulture)));
            needsGnu = true;
        }

        if (entry.Gid > MaxOctal7)
        {
            records.Add(Record("gid", entry.Gid.ToString(CultureInfo.InvariantCulture)));
            needsGnu = true;
        }

        if (entry.Size > MaxOctal11)
        {
            records.Add(Record("size", entry.Size.ToString(CultureInfo.InvariantCulture)));
            needsGnu = true;
        }

        if (entry.ExtendedAttributes is { Count: > 0 } xattrs)
        {
            foreach (var (key, value) in xattrs)
            {
                if (string.IsNullOrEmpty(key) || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal))
                {
                    throw new ArgumentException($"Extended attribute name '{key}' of '{entry.Path}' is empty or contains '=' or NUL.");
                }

                records.Add(new("SCHILY.xattr." + key, value.ToArray()));
            }
        }

        if (records.Count > 0)
        {
            records.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            await WritePaxHeaderAsync(output, tarPath, records, mtime, cancellationToken).ConfigureAwait(false);
        }

        // GNU headers only for numbers ustar cannot hold (written base-256; readers also get the PAX record).
        PosixTarEntry tarEntry = needsGnu ? new GnuTarEntry(type, name) : new UstarTarEntry(type, name);
        tarEntry.Mode = entry.Mode;
        tarEntry.Uid = entry.Uid;
        tarEntry.Gid = entry.Gid;
        tarEntry.UserName = userName;
        tarEntry.GroupName = groupName;
        tarEntry.ModificationTime = entry.ModificationTime is { } own ? DateTimeOffset.FromUnixTimeSeconds(own.ToUnixTimeSeconds()) : mtime;
        if (entry.Type is LayerEntryType.CharacterDevice or LayerEntryType.BlockDevice)
        {
            tarEntry.DeviceMajor = entry.DeviceMajor;
            tarEntry.DeviceMinor = entry.DeviceMinor;
        }

        if (linkName is not null)
        {
            tarEntry.LinkName = linkName;
        }

        if (entry.Type == LayerEntryType.File)
        {
            var content = new KnownLengthReadStream(entry.OpenContent!(), entry.Size, entry.Path);
            await using (content.ConfigureAwait(false))
            {
                tarEntry.DataStream = content;
                await writer.WriteEntryAsync(tarEntry, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            await writer.WriteEntryAsync(tarEntry, cancellationToken).ConfigureAwait(false);
        }
    }

    // The name the PAX extended header entry itself carries: deterministic, ASCII and at most 100 bytes.
    internal static string PaxHeaderName(string tarPath)
    {
        var trimmed = tarPath.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        var name = slash < 0 ? "PaxHeaders/" + trimmed : trimmed[..slash] + "/PaxHeaders/" + trimmed[(slash + 1)..];
        return Placeholder(name, UstarNameLength, false);
    }

    private static async Task WritePaxHeaderAsync(Stream output, string tarPath, List<KeyValuePair<string, byte[]>> records, DateTimeOffset mtime, CancellationToken cancellationToken)
    {
        var data = new MemoryStream();
        foreach (var (key, value) in records)
        {
            WriteRecord(data, key, value);
        }

        var size = (int)data.Length;
        var padded = (size + BlockSize - 1) / BlockSize * BlockSize;
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize + padded);
        try
        {
            var block = buffer.AsSpan(0, BlockSize + padded);
            block.Clear();
            WriteHeader(block[..BlockSize], PaxHeaderName(tarPath), size, mtime.ToUnixTimeSeconds());
            data.GetBuffer().AsSpan(0, size).CopyTo(block[BlockSize..]);
            await output.WriteAsync(buffer.AsMemory(0, BlockSize + padded), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // A record is "LEN KEY=VALUE\n" where LEN counts the whole record, itself included.
    private static void WriteRecord(MemoryStream data, string key, byte[] value)
    {
        var keyLength = Encoding.UTF8.GetByteCount(key);
        var bodyLength = 1 + keyLength + 1 + value.Length + 1;
        var length = bodyLength + 1;
        while (length.ToString(CultureInfo.InvariantCulture).Length + bodyLength != length)
        {
            length = length.ToString(CultureInfo.InvariantCulture).Length + bodyLength;
        }

        data.Write(Encoding.ASCII.GetBytes(length.ToString(CultureInfo.InvariantCulture) + " "));
        data.Write(Encoding.UTF8.GetBytes(key));
        data.WriteByte((byte)'=');
        data.Write(value);
        data.WriteByte((byte)'\n');
    }

    // A ustar header of type 'x' (https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html#tag_20_94_13_06).
    private static void WriteHeader(Span<byte> header, string name, long size, long mtime)
    {
        Encoding.ASCII.GetBytes(name, header[..UstarNameLength]);
        Octal(header.Slice(100, 8), 0x1A4);   // mode 0644
        Octal(header.Slice(108, 8), 0);       // uid
        Octal(header.Slice(116, 8), 0);       // gid
        Octal(header.Slice(124, 12), size);
        Octal(header.Slice(136, 12), mtime);
        header[156] = (byte)'x';
        "ustar\0"u8.CopyTo(header[257..]);
        "00"u8.CopyTo(header[263..]);

        // The checksum is the sum of all header bytes with the checksum field itself read as spaces.
        header.Slice(148, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }

        Octal(header.Slice(148, 7), sum);
    }

    // Zero-padded octal digits filling all but the last byte of the field, which stays NUL.
    private static void Octal(Span<byte> field, long value)
    {
        for (var i = field.Length - 2; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }

        field[^1] = 0;
    }

    private static KeyValuePair<string, byte[]> Record(string key, string value) => new(key, Encoding.UTF8.GetBytes(value));

    private static bool FitsUstar(string value, int maxLength) => value.Length <= maxLength && Ascii.IsValid(value);

    // An ASCII stand-in of at most maxLength bytes for a header field whose real value is in a PAX record.
    private static string Placeholder(string value, int maxLength, bool keepTrailingSlash)
    {
        var builder = new StringBuilder(Math.Min(value.Length, maxLength));
        foreach (var c in value)
        {
            if (builder.Length == maxLength - (keepTrailingSlash ? 1 : 0))
            {
                break;
            }

            builder.Append(char.IsAscii(c) && !char.IsControl(c) ? c : '_');
        }

        if (keepTrailingSlash && (builder.Length == 0 || builder[^1] != '/'))
        {
            builder.Append('/');
        }

        return builder.ToString();
    }
}
