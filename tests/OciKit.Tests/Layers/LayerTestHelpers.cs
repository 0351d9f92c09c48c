using System.Formats.Tar;
using System.Text;
using OciKit.Layers;

namespace OciKit.Tests.Layers;

internal static class LayerTestHelpers
{
    public static LayerEntry TextFile(string path, string content, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        return LayerEntry.File(path, bytes.Length, () => new MemoryStream(bytes, writable: false), mode);
    }

    public static LayerEntry BytesFile(string path, byte[] bytes) => LayerEntry.File(path, bytes.Length, () => new MemoryStream(bytes, writable: false));

    public static async Task<(LayerInfo Info, byte[] Blob)> BuildAsync(IEnumerable<LayerEntry> entries, LayerOptions? options = null)
    {
        using var blob = new MemoryStream();
        var info = await LayerWriter.WriteAsync(entries, blob, options ?? new LayerOptions { MaxDegreeOfParallelism = 2 });
        return (info, blob.ToArray());
    }

    /// <summary>Reads a blob back through the library's reader, copying contents out.</summary>
    public static async Task<List<(LayerReadEntry Entry, byte[] Content)>> ReadAsync(byte[] blob, string mediaType)
    {
        var result = new List<(LayerReadEntry, byte[])>();
        await foreach (var entry in LayerReader.ReadEntriesAsync(new MemoryStream(blob), mediaType))
        {
            var content = new MemoryStream();
            if (entry.Content is not null)
            {
                await entry.Content.CopyToAsync(content);
            }

            result.Add((entry, content.ToArray()));
        }

        return result;
    }

    /// <summary>Reads an uncompressed tar straight through System.Formats.Tar.</summary>
    public static List<(TarEntry Entry, byte[] Content)> ReadTar(byte[] tar)
    {
        var result = new List<(TarEntry, byte[])>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry(copyData: true) is { } entry)
        {
            var content = new MemoryStream();
            entry.DataStream?.CopyTo(content);
            result.Add((entry, content.ToArray()));
        }

        return result;
    }
}
