using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using OciKit.Layers;

namespace OciKit.Benchmarks;

/// <summary>The inputs the layer benchmarks share: the .NET runtime folder (about 70 MB) and its uncompressed tar.</summary>
public static class LayerBenchmarkData
{
    /// <summary>How much of the runtime tar the compression benchmarks compress (16 MiB keeps runs short).</summary>
    public const int SliceSize = 16 * 1024 * 1024;

    private static readonly Lazy<byte[]> Tar = new(() =>
    {
        using var tar = new MemoryStream();
        LayerWriter.WriteDirectoryAsync(RuntimeDirectory, tar, new LayerOptions { Compression = LayerCompression.None }).GetAwaiter().GetResult();
        return tar.ToArray();
    });

    /// <summary>The shared framework folder of the running runtime, read in place (never written).</summary>
    public static string RuntimeDirectory => Path.GetDirectoryName(typeof(object).Assembly.Location)!;

    /// <summary>The uncompressed layer tar of <see cref="RuntimeDirectory"/>.</summary>
    public static byte[] RuntimeTar => Tar.Value;

    /// <summary>The first <see cref="SliceSize"/> bytes of <see cref="RuntimeTar"/>.</summary>
    public static byte[] Slice() => RuntimeTar.AsSpan(0, Math.Min(SliceSize, RuntimeTar.Length)).ToArray();
}

/// <summary>Marks how many input bytes one invocation of a benchmark processes, for the MB/s column.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InputAttribute(InputSize size) : Attribute
{
    /// <summary>Which input the benchmark processes.</summary>
    public InputSize Size { get; } = size;
}

/// <summary>The inputs a benchmark can process.</summary>
public enum InputSize
{
    /// <summary><see cref="LayerBenchmarkData.SliceSize"/> bytes.</summary>
    Slice,

    /// <summary>The whole runtime tar.</summary>
    RuntimeTar,
}

/// <summary>Throughput in MB/s (10^6 bytes per second of the mean), from the benchmark's <see cref="InputAttribute"/>.</summary>
public sealed class ThroughputColumn : IColumn
{
    /// <inheritdoc />
    public string Id => nameof(ThroughputColumn);

    /// <inheritdoc />
    public string ColumnName => "MB/s";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => 0;

    /// <inheritdoc />
    public bool IsNumeric => true;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => "Input megabytes (10^6) processed per second of the mean";

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var input = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttributes(typeof(InputAttribute), false);
        if (report?.ResultStatistics is not { } stats || input.Length == 0)
        {
            return "-";
        }

        long bytes = ((InputAttribute)input[0]).Size == InputSize.Slice
            ? Math.Min(LayerBenchmarkData.SliceSize, LayerBenchmarkData.RuntimeTar.Length)
            : LayerBenchmarkData.RuntimeTar.Length;
        return (bytes / (stats.Mean / 1e9) / 1e6).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>Adds <see cref="ThroughputColumn"/> to a benchmark class.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ThroughputAttribute : ColumnConfigBaseAttribute
{
    /// <summary>Creates the attribute.</summary>
    public ThroughputAttribute()
        : base(new ThroughputColumn())
    {
    }
}
