using System.Collections.Immutable;
using System.Text;
using BenchmarkDotNet.Attributes;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Benchmarks;

/// <summary>Which image document an <see cref="ImageJsonBenchmarks"/> case serializes and parses.</summary>
public enum ImageDocument
{
    /// <summary>An OCI manifest of 12 layers with annotations (about 2.5 KB).</summary>
    Manifest,

    /// <summary>An image config of 12 layers with env, labels and history (about 4 KB).</summary>
    Config,

    /// <summary>An OCI index of 4 platform manifests (about 1.3 KB).</summary>
    Index,
}

/// <summary>
/// Manifest, config and index serialization (canonical JSON) and validated parsing: paid on every build, push and pull,
/// and on every registry manifest response.
/// </summary>
[MemoryDiagnoser]
[Throughput]
public class ImageJsonBenchmarks : IThroughputBenchmark
{
    private const int LayerCount = 12;

    private ImageManifest _manifest = null!;
    private ImageConfig _config = null!;
    private ImageIndex _index = null!;
    private byte[] _json = [];

    /// <summary>The document.</summary>
    [Params(ImageDocument.Manifest, ImageDocument.Config, ImageDocument.Index)]
    public ImageDocument Document { get; set; }

    /// <inheritdoc />
    public long InputBytes => _json.Length;

    /// <summary>Builds the documents and serializes the one under test once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var layers = ImmutableArray.CreateBuilder<Descriptor>();
        var diffIds = ImmutableArray.CreateBuilder<Digest>();
        var history = ImmutableArray.CreateBuilder<HistoryEntry>();
        for (var i = 0; i < LayerCount; i++)
        {
            layers.Add(new Descriptor(MediaTypes.OciLayerGzip, DigestOf("layer", i), 1_000_000L * (i + 1)));
            diffIds.Add(DigestOf("diff", i));
            history.Add(new HistoryEntry { Created = DateTimeOffset.UnixEpoch.AddDays(i), CreatedBy = $"/bin/sh -c #(nop) COPY dir:{i} in /app/{i}" });
            history.Add(new HistoryEntry { Created = DateTimeOffset.UnixEpoch.AddDays(i), CreatedBy = $"/bin/sh -c #(nop) ENV STEP={i}", EmptyLayer = true });
        }

        var annotations = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
        {
            ["org.opencontainers.image.source"] = "https://example.com/team/app",
            ["org.opencontainers.image.revision"] = new string('a', 40),
            ["org.opencontainers.image.created"] = "2026-11-23T12:00:00Z",
            ["org.opencontainers.image.base.name"] = "registry.example.com/dotnet/runtime-deps:10.0",
        });
        _config = new ImageConfig("linux", "amd64")
        {
            Created = DateTimeOffset.UnixEpoch,
            Config = new ContainerConfig
            {
                User = "1654",
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_UID=1654", "ASPNETCORE_HTTP_PORTS=8080", "DOTNET_RUNNING_IN_CONTAINER=true"],
                Entrypoint = ["/app/app"],
                WorkingDir = "/app",
                ExposedPorts = ["8080/tcp"],
                Labels = annotations,
            },
            DiffIds = diffIds.ToImmutable(),
            History = history.ToImmutable(),
        };
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, Digest.ComputeSha256(_config.ToJson()), _config.ToJson().Length);
        _manifest = new ImageManifest(configDescriptor, layers.ToImmutable()) { Annotations = annotations };
        var manifestBytes = _manifest.ToJson();
        _index = new ImageIndex([.. new[] { Platform.LinuxAmd64, Platform.LinuxArm64, new Platform("linux", "arm", "v7"), new Platform("linux", "s390x") }
            .Select(p => new Descriptor(MediaTypes.OciManifest, Digest.ComputeSha256(Encoding.UTF8.GetBytes(p.ToString())), manifestBytes.Length) { Platform = p })]);
        _json = Serialize();
    }

    /// <summary>Canonical JSON of the document.</summary>
    /// <returns>The bytes.</returns>
    [Benchmark(Baseline = true)]
    public byte[] Serialize() => Document switch
    {
        ImageDocument.Manifest => _manifest.ToJson(),
        ImageDocument.Config => _config.ToJson(),
        _ => _index.ToJson(),
    };

    /// <summary>Serialization plus the SHA-256 of the bytes: what pushing or storing a document costs before I/O.</summary>
    /// <returns>The digest.</returns>
    [Benchmark]
    public Digest SerializeAndDigest() => Digest.ComputeSha256(Serialize());

    /// <summary>Validated parsing of the document's bytes.</summary>
    /// <returns>The model.</returns>
    [Benchmark]
    public object Parse() => Document switch
    {
        ImageDocument.Manifest => ImageManifest.Parse(_json),
        ImageDocument.Config => ImageConfig.Parse(_json),
        _ => ImageIndex.Parse(_json),
    };

    private static Digest DigestOf(string kind, int i) => Digest.ComputeSha256(Encoding.UTF8.GetBytes($"{kind}{i}"));
}
