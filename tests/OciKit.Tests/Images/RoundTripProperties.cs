using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Images;
using OciKit.Primitives;

namespace OciKit.Tests.Images;

/// <summary>model → JSON → model → JSON gives the same bytes, serializing twice gives the same bytes, and the output validates.</summary>
public class RoundTripProperties
{
    private static readonly Gen<string> Text =
        Gen.Elements("a", "Z", "0", "é", "日", "\"", "\\", "+", "<", "&", " ", "=", "/", ":", "\u2028", "\t", "😀")
            .ArrayOf().Select(string.Concat);

    private static readonly Gen<string> NonEmptyText = Text.Select(t => "x" + t);

    private static readonly Gen<Digest> Digests =
        Gen.Choose(0, int.MaxValue).Select(i => Digest.ComputeSha256(BitConverter.GetBytes(i)));

    private static readonly Gen<string> MediaTypeGen = Gen.Elements(
        MediaTypes.OciLayerGzip, MediaTypes.OciLayer, MediaTypes.DockerLayerGzip, MediaTypes.OciConfig, "application/x.custom+json", "text/plain");

    private static readonly Gen<ImmutableSortedDictionary<string, string>?> Maps =
        (from keys in NonEmptyText.ArrayOf()
         from values in Text.ArrayOf()
         select keys.Distinct(StringComparer.Ordinal).Zip(values).ToImmutableSortedDictionary(p => p.First, p => p.Second, StringComparer.Ordinal))
        .Select(d => d.IsEmpty ? null : d);

    private static readonly Gen<DateTimeOffset?> Times = Gen.Frequency(
        (1, Gen.Constant<DateTimeOffset?>(null)),
        (3, Gen.Choose(0, int.MaxValue).Select(i => (DateTimeOffset?)DateTimeOffset.UnixEpoch.AddTicks((long)i * 1_234_567 + (i % 7)))));

    private static readonly Gen<Platform> Platforms =
        from os in Gen.Elements("linux", "windows")
        from arch in Gen.Elements("amd64", "arm64", "arm")
        from variant in Gen.Elements<string?>(null, "v7", "v8")
        from osVersion in Gen.Elements<string?>(null, "10.0.17763.1")
        from features in Gen.Elements<string[]?>(null, ["win32k"])
        select new Platform(os, arch, variant, osVersion, features);

    private static readonly Gen<Descriptor> Descriptors =
        from mediaType in MediaTypeGen
        from digest in Digests
        from size in Gen.Choose(0, int.MaxValue)
        from annotations in Maps
        from urls in Gen.Elements<string[]?>(null, ["https://example.com/a?b=c"])
        from platform in Platforms.OrNull()
        from data in Gen.Elements<byte[]?>(null, [], [1, 2, 3])
        from artifactType in Gen.Elements<string?>(null, "application/vnd.example+type")
        let embedded = data is not null
        select new Descriptor(mediaType, embedded ? Digest.ComputeSha256(data) : digest, embedded ? data!.Length : size)
        {
            Annotations = annotations,
            Urls = urls,
            Platform = platform,
            Data = data is null ? (ReadOnlyMemory<byte>?)null : data,
            ArtifactType = artifactType,
        };

    private static readonly Gen<ImmutableArray<string>?> Strings =
        Text.ArrayOf().Select(a => a.Length == 0 ? (ImmutableArray<string>?)null : [.. a]);

    private static readonly Gen<ContainerConfig> ContainerConfigs =
        from user in Text
        from env in NonEmptyText.ArrayOf()
        from entrypoint in Strings
        from cmd in Strings
        from ports in Gen.Elements("80/tcp", "53/udp", "8080").ArrayOf()
        from labels in Maps
        from workdir in Text
        from stop in Gen.Elements<string?>(null, "SIGTERM")
        from healthcheck in Gen.Elements<Healthcheck?>(null, new Healthcheck { Test = ["CMD", "true"], Interval = TimeSpan.FromSeconds(30), Retries = 3 })
        from shell in Strings
        from onBuild in Strings
        from argsEscaped in Gen.Elements<bool?>(null, true)
        select new ContainerConfig
        {
            User = user.Length == 0 ? null : user,
            Env = env.Length == 0 ? null : [.. env.Select(e => e + "=" + e)],
            Entrypoint = entrypoint,
            Cmd = cmd,
            ExposedPorts = ports.Length == 0 ? null : ports.ToImmutableSortedSet(StringComparer.Ordinal),
            Volumes = ports.Length == 0 ? null : ports.Select(p => "/v/" + p).ToImmutableSortedSet(StringComparer.Ordinal),
            Labels = labels,
            WorkingDir = workdir.Length == 0 ? null : workdir,
            StopSignal = stop,
            Healthcheck = healthcheck,
            Shell = shell,
            OnBuild = onBuild,
            ArgsEscaped = argsEscaped,
        };

    private static readonly Gen<HistoryEntry> HistoryEntries =
        from created in Times
        from createdBy in Text
        from comment in Text
        from empty in Gen.Elements(true, false)
        select new HistoryEntry { Created = created, CreatedBy = createdBy.Length == 0 ? null : createdBy, Comment = comment.Length == 0 ? null : comment, EmptyLayer = empty };

    private static readonly Gen<ImageConfig> Configs =
        from platform in Platforms
        from created in Times
        from author in Text
        from config in ContainerConfigs.OrNull()
        from diffIds in Digests.ArrayOf()
        from history in HistoryEntries.ArrayOf()
        select ImageConfig.Empty(platform) with
        {
            Created = created,
            Author = author.Length == 0 ? null : author,
            Config = config,
            DiffIds = [.. diffIds],
            History = [.. history],
        };

    private static readonly Gen<ImageManifest> Manifests =
        from config in Descriptors
        from layers in Descriptors.NonEmptyListOf()
        from mediaType in Gen.Elements<string?>(MediaTypes.OciManifest, MediaTypes.DockerManifest, null)
        from subject in Descriptors.OrNull()
        from annotations in Maps
        select new ImageManifest(config, [.. layers]) { MediaType = mediaType, Subject = subject, Annotations = annotations };

    private static readonly Gen<ImageIndex> Indexes =
        from manifests in Descriptors.ArrayOf()
        from mediaType in Gen.Elements<string?>(MediaTypes.OciIndex, MediaTypes.DockerManifestList, null)
        from annotations in Maps
        select new ImageIndex([.. manifests]) { MediaType = mediaType, Annotations = annotations };

    [Property(MaxTest = 200)]
    public Property Config_round_trips() => Prop.ForAll(Configs.ToArbitrary(), c =>
        Stable(c.ToJson(), b => ImageConfig.Parse(b).ToJson(), "config-schema.json"));

    [Property(MaxTest = 200)]
    public Property Manifest_round_trips() => Prop.ForAll(Manifests.ToArbitrary(), m =>
        Stable(m.ToJson(), b => ImageManifest.Parse(b).ToJson(), "image-manifest-schema.json"));

    [Property(MaxTest = 200)]
    public Property Index_round_trips() => Prop.ForAll(Indexes.ToArbitrary(), i =>
        Stable(i.ToJson(), b => ImageIndex.Parse(b).ToJson(), "image-index-schema.json"));

    [Property(MaxTest = 200)]
    public Property Descriptor_round_trips_with_equal_fields() => Prop.ForAll(Descriptors.ToArbitrary(), d =>
    {
        var back = DescriptorJson.Parse(DescriptorJson.ToJson(d));
        return back.MediaType == d.MediaType && back.Digest == d.Digest && back.Size == d.Size
            && back.Platform?.ToString() == d.Platform?.ToString()
            && (back.Data?.ToArray() ?? []).SequenceEqual(d.Data?.ToArray() ?? [])
            && Stable(DescriptorJson.ToJson(d), b => DescriptorJson.ToJson(DescriptorJson.Parse(b)), "content-descriptor.json");
    });

    [Property(MaxTest = 100)]
    public Property Manifest_document_digest_is_of_the_exact_bytes() => Prop.ForAll(Manifests.ToArbitrary(), m =>
    {
        var document = ManifestDocument.FromManifest(m);
        var parsed = ManifestDocument.Parse(document.Bytes, document.MediaType);
        return parsed.Digest == Digest.ComputeSha256(document.Bytes.Span) && parsed.Digest == document.Digest && parsed.Kind == ManifestKind.Manifest;
    });

    [Fact]
    public void Fields_survive_a_round_trip()
    {
        var config = ImageConfig.Empty(Platform.LinuxArm64) with
        {
            Created = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567),
            Config = new ContainerConfig { User = "1000:1000", Env = ["A=b=c"], Cmd = ["sh"], Healthcheck = new Healthcheck { Test = ["NONE"], Timeout = TimeSpan.FromMilliseconds(1500) } },
            DiffIds = [Digest.ComputeSha256("x"u8)],
            History = [new HistoryEntry { CreatedBy = "RUN x", EmptyLayer = true, Author = "me" }],
        };
        var back = ImageConfig.Parse(config.ToJson());
        Assert.Equal(config.Created, back.Created);
        Assert.Equal("v8", back.Variant);
        Assert.Equal("b=c", back.Config!.GetEnv("A"));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), back.Config.Healthcheck!.Timeout);
        Assert.True(back.History[0].EmptyLayer);
        Assert.Equal(config.DiffIds.ToArray(), back.DiffIds.ToArray());
        Assert.Contains("\"Timeout\":1500000000", System.Text.Encoding.UTF8.GetString(config.ToJson()), StringComparison.Ordinal);
    }

    [Fact]
    public void Nanosecond_timestamps_and_offsets_are_read()
    {
        var config = ImageConfig.Parse("""{"created":"2015-10-31T22:22:56.015925234+01:00","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""u8.ToArray());
        Assert.Equal(new DateTimeOffset(2015, 10, 31, 21, 22, 56, TimeSpan.Zero).AddTicks(159252), config.Created!.Value.ToUniversalTime());
        Assert.Contains("\"created\":\"2015-10-31T21:22:56.0159252Z\"", System.Text.Encoding.UTF8.GetString(config.ToJson()), StringComparison.Ordinal);
    }

    private static bool Stable(byte[] first, Func<byte[], byte[]> reparse, string schema)
    {
        var second = reparse(first);
        var third = reparse(second);
        return first.AsSpan().SequenceEqual(second) && second.AsSpan().SequenceEqual(third)
            && ConformanceTests.Schemas.Check(schema, first) is { Count: 0 };
    }
}
