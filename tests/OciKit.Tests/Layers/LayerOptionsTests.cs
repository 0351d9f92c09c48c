using OciKit.Layers;
using OciKit.Primitives;

namespace OciKit.Tests.Layers;

public class LayerOptionsTests
{
    [Theory]
    [InlineData(LayerCompression.Gzip, LayerMediaTypeFlavor.Oci, MediaTypes.OciLayerGzip)]
    [InlineData(LayerCompression.Zstd, LayerMediaTypeFlavor.Oci, MediaTypes.OciLayerZstd)]
    [InlineData(LayerCompression.None, LayerMediaTypeFlavor.Oci, MediaTypes.OciLayer)]
    [InlineData(LayerCompression.Gzip, LayerMediaTypeFlavor.Docker, MediaTypes.DockerLayerGzip)]
    [InlineData(LayerCompression.Zstd, LayerMediaTypeFlavor.Docker, MediaTypes.DockerLayerZstd)]
    [InlineData(LayerCompression.None, LayerMediaTypeFlavor.Docker, MediaTypes.DockerLayer)]
    public void Media_type_follows_compression_and_flavor(LayerCompression compression, LayerMediaTypeFlavor flavor, string expected)
    {
        Assert.Equal(expected, new LayerOptions { Compression = compression, MediaTypeFlavor = flavor }.MediaType);
    }

    [Fact]
    public void Invalid_values_are_refused_on_construction()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerOptions { MaxDegreeOfParallelism = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerOptions { GzipBlockSize = 1024 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerOptions { Timestamp = DateTimeOffset.UnixEpoch.AddSeconds(-1) });
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerOptions.Default with { Uid = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerEntry.Directory("a") with { Mode = (UnixFileMode)0x10000 });
    }

    [Fact]
    public void Given_timestamp_wins_and_drops_subseconds()
    {
        var options = new LayerOptions { Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123) };
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), options.ResolveTimestamp());
    }
}

[CollectionDefinition(nameof(EnvironmentCollection), DisableParallelization = true)]
public class EnvironmentCollection;

[Collection(nameof(EnvironmentCollection))]
public class SourceDateEpochTests
{
    [Fact]
    public void Source_date_epoch_is_the_default_time_and_the_unix_epoch_without_it()
    {
        var saved = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        try
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "1234567890");
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1234567890), LayerOptions.Default.ResolveTimestamp());
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "soon");
            Assert.Throws<OciFormatException>(() => LayerOptions.Default.ResolveTimestamp());
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", null);
            Assert.Equal(DateTimeOffset.UnixEpoch, LayerOptions.Default.ResolveTimestamp());
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", saved);
        }
    }
}
