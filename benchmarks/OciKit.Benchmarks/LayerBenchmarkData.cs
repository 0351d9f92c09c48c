using System.Collections.Concurrent;
using System.Globalization;
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

/// <summary>
/// A benchmark class whose <see cref="ThroughputColumn"/> is known: after its parameters are set and its
/// <c>[GlobalSetup]</c> has run, <see cref="InputBytes"/> tells how many input bytes one invocation processes.
/// </summary>
public interface IThroughputBenchmark
{
    /// <summary>Input bytes one invocation of any benchmark method of the class processes.</summary>
    long InputBytes { get; }
}

/// <summary>
/// Throughput in MB/s (10^6 input bytes per second of the mean). The host process that prints the summary never runs
/// the benchmarks' setup, so the column makes its own instance of the class, sets the case's parameters, runs the
/// global setup and reads <see cref="IThroughputBenchmark.InputBytes"/> (once per class and parameter set).
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    private static readonly ConcurrentDictionary<string, long> InputBytesByCase = new(StringComparer.Ordinal);

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
        if (report?.ResultStatistics is not { } stats || !typeof(IThroughputBenchmark).IsAssignableFrom(benchmarkCase.Descriptor.Type))
        {
            return "-";
        }

        var bytes = InputBytesOf(benchmarkCase);
        return (bytes / (stats.Mean / 1e9) / 1e6).ToString(bytes / (stats.Mean / 1e9) < 1e8 ? "F1" : "F0", CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    private static long InputBytesOf(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        return InputBytesByCase.GetOrAdd(type.FullName + "/" + benchmarkCase.Parameters.FolderInfo, _ =>
        {
            var instance = Activator.CreateInstance(type)!;
            foreach (var parameter in benchmarkCase.Parameters.Items)
            {
                type.GetProperty(parameter.Name)?.SetValue(instance, parameter.Value);
            }

            foreach (var method in type.GetMethods())
            {
                if (method.GetCustomAttributes(typeof(GlobalSetupAttribute), true) is [GlobalSetupAttribute { Targets.Length: 0 }])
                {
                    method.Invoke(instance, null);
                }
            }

            return ((IThroughputBenchmark)instance).InputBytes;
        });
    }
}

/// <summary>Adds <see cref="ThroughputColumn"/> to a benchmark class (which implements <see cref="IThroughputBenchmark"/>).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ThroughputAttribute : ColumnConfigBaseAttribute
{
    /// <summary>Creates the attribute.</summary>
    public ThroughputAttribute()
        : base(new ThroughputColumn())
    {
    }
}
