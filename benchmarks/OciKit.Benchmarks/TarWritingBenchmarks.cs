using System.Formats.Tar;
using BenchmarkDotNet.Attributes;
using OciKit.Layers;

namespace OciKit.Benchmarks;

/// <summary>
/// Tar writing alone, without the disk and without compression: the entries of the .NET runtime folder with their
/// content preloaded into memory. The BCL's <see cref="TarWriter"/> with plain ustar entries is the baseline; the
/// layer tar writer adds deterministic headers, PAX records where needed and length checks; the third method adds the
/// diffID SHA-256 every layer pays.
/// </summary>
[MemoryDiagnoser]
[Throughput]
public class TarWritingBenchmarks : IThroughputBenchmark
{
    private List<LayerEntry> _entries = [];
    private Dictionary<string, byte[]> _contents = [];
    private long _tarLength;

    /// <inheritdoc />
    public long InputBytes => _tarLength;

    /// <summary>Reads the runtime folder into memory and prepares the canonical entry list.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _contents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var entries = new List<LayerEntry>();
        foreach (var entry in LayerDirectory.ReadEntries(LayerBenchmarkData.RuntimeDirectory))
        {
            if (entry.Type == LayerEntryType.File)
            {
                var bytes = File.ReadAllBytes(Path.Combine(LayerBenchmarkData.RuntimeDirectory, entry.Path));
                _contents[entry.TarPath] = bytes;
                entries.Add(LayerEntry.File(entry.Path, bytes.Length, () => new MemoryStream(bytes, writable: false), entry.Mode));
            }
            else
            {
                entries.Add(entry);
            }
        }

        _entries = LayerWriter.Prepare(entries, LayerOptions.Default);
        _tarLength = LayerWriterTar().GetAwaiter().GetResult();
    }

    /// <summary>System.Formats.Tar with plain ustar entries (not deterministic on its own; the floor).</summary>
    /// <returns>The tar length.</returns>
    [Benchmark(Baseline = true)]
    public async Task<long> BclTarWriter()
    {
        var counter = new CountingStream();
        var writer = new TarWriter(counter, TarEntryFormat.Ustar, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            foreach (var entry in _entries)
            {
                var type = entry.Type switch
                {
                    LayerEntryType.Directory => TarEntryType.Directory,
                    LayerEntryType.Symlink => TarEntryType.SymbolicLink,
                    LayerEntryType.Hardlink => TarEntryType.HardLink,
                    _ => TarEntryType.RegularFile,
                };
                var tarEntry = new UstarTarEntry(type, entry.Type == LayerEntryType.Directory ? entry.TarPath + "/" : entry.TarPath)
                {
                    Mode = entry.Mode,
                    ModificationTime = DateTimeOffset.UnixEpoch,
                };
                if (entry.LinkTarget is not null)
                {
                    tarEntry.LinkName = entry.LinkTarget;
                }

                if (entry.Type == LayerEntryType.File)
                {
                    // Through the same length-checking wrapper as the layer writer, so both copy the content the same way
                    // (a bare MemoryStream would hand TarWriter its whole buffer in one write).
                    var content = _contents[entry.TarPath];
                    tarEntry.DataStream = new KnownLengthReadStream(new MemoryStream(content, writable: false), content.Length, entry.Path);
                }

                await writer.WriteEntryAsync(tarEntry).ConfigureAwait(false);
            }
        }

        return counter.Count;
    }

    /// <summary>The layer tar writer: deterministic headers, PAX only where needed, declared lengths checked.</summary>
    /// <returns>The tar length.</returns>
    [Benchmark]
    public async Task<long> LayerWriterTar()
    {
        var counter = new CountingStream();
        await TarLayerWriter.WriteAsync(_entries, counter, DateTimeOffset.UnixEpoch, CancellationToken.None).ConfigureAwait(false);
        return counter.Count;
    }

    /// <summary>The uncompressed layer: the tar and its diffID SHA-256 (<see cref="LayerCompression.None"/>).</summary>
    /// <returns>The layer.</returns>
    [Benchmark]
    public Task<LayerInfo> LayerWriterTarWithDiffId()
        => LayerWriter.WriteAsync(_entries, new CountingStream(), new LayerOptions { Compression = LayerCompression.None });
}
