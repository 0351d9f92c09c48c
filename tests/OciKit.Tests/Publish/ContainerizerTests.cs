using System.Collections.Immutable;
using OciKit.Images;
using OciKit.Primitives;
using OciKit.Publish;
using OciKit.References;

namespace OciKit.Tests.Publish;

public sealed class ContainerizerTests
{
    private static readonly Digest BaseDigest = Digest.ComputeSha256("base"u8);

    private static Image Base(ImmutableArray<string>? entrypoint = null, ImmutableArray<string>? cmd = null) =>
        Image.Scratch(Platform.LinuxAmd64).WithContainerConfig(c => c with { Entrypoint = entrypoint, Cmd = cmd, User = "root" }).WithEnv("PATH", "/bin");

    private static ContainerizeRequest Request() => new()
    {
        Files = [],
        BaseImage = ImageReference.Parse("registry.example/dotnet/runtime:10.0"),
        Repository = "team/app",
        Entrypoint = new ContainerEntrypoint(["/app/app"], ["--fixed"], ["--default"]),
    };

    [Theory]
    [InlineData(null, false, false, false, false, true)] // no registry: the store is where the image goes
    [InlineData("registry.example", false, false, false, false, false)] // only pushed
    [InlineData("registry.example", true, false, false, false, true)] // asked for
    [InlineData("registry.example", false, true, false, false, true)] // the archive is written from the store
    [InlineData("registry.example", false, false, true, false, true)] // the SBOM is generated from the store
    [InlineData("registry.example", false, false, false, true, true)] // signing keeps it
    public void The_image_is_stored_unless_it_is_only_pushed(string? registry, bool keep, bool archive, bool sbom, bool signing, bool stored)
    {
        using var key = signing ? OciKit.Signing.SigningKey.Generate(OciKit.Signing.SigningKeyType.EcdsaP256) : null;
        var request = Request() with { Registry = registry, KeepInStore = keep, ArchiveOutputPath = archive ? "out.tar" : null, GenerateSbom = sbom, SigningKey = key };

        Assert.Equal(stored, Containerizer.KeepsStoreCopy(request));
    }

    [Fact]
    public void Configure_applies_the_container_properties_and_the_standard_labels()
    {
        var created = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
        var request = Request() with
        {
            WorkingDirectory = "/srv",
            User = "app",
            Environment = [new("A", "1"), new("B", "two words")],
            Labels = [new("team", "web"), new(AnnotationKeys.Created, "overridden")],
            Ports = ["8080", "53/udp"],
            SourceUrl = "https://git.example/app",
            Revision = "abc123",
        };

        var config = Containerizer.Configure(Base(), request, Base(), BaseDigest, created).Build();
        var image = ImageConfig.Parse(config.ConfigBytes);
        var c = image.Config!;

        Assert.Equal("/srv", c.WorkingDir);
        Assert.Equal("app", c.User);
        Assert.Equal(["PATH=/bin", "A=1", "B=two words"], c.Env!.Value.ToArray());
        Assert.Equal(["53/udp", "8080/tcp"], c.ExposedPorts!);
        Assert.Equal(["/app/app", "--fixed"], c.Entrypoint!.Value.ToArray());
        Assert.Equal(["--default"], c.Cmd!.Value.ToArray());
        Assert.Equal(created, image.Created);
        Assert.Equal("web", c.Labels!["team"]);
        Assert.Equal("overridden", c.Labels[AnnotationKeys.Created]);
        Assert.Equal("registry.example/dotnet/runtime:10.0", c.Labels[AnnotationKeys.BaseName]);
        Assert.Equal(BaseDigest.ToString(), c.Labels[AnnotationKeys.BaseDigest]);
        Assert.Equal("https://git.example/app", c.Labels[AnnotationKeys.Source]);
        Assert.Equal("abc123", c.Labels[AnnotationKeys.Revision]);
        Assert.Equal(BaseDigest.ToString(), config.Manifest.Manifest!.Annotations![AnnotationKeys.BaseDigest]);
        Assert.Equal("2024-05-06T07:08:09Z", config.Manifest.Manifest.Annotations[AnnotationKeys.Created]);
    }

    [Fact]
    public void Configure_keeps_the_base_user_when_none_is_asked_and_is_deterministic()
    {
        var request = Request();
        var a = Containerizer.Configure(Base(), request, Base(), BaseDigest, DateTimeOffset.UnixEpoch).Build();
        var b = Containerizer.Configure(Base(), request, Base(), BaseDigest, DateTimeOffset.UnixEpoch).Build();

        Assert.Equal("root", ImageConfig.Parse(a.ConfigBytes).Config!.User);
        Assert.Equal(a.Manifest.Descriptor.Digest, b.Manifest.Descriptor.Digest);
        Assert.False(ImageConfig.Parse(a.ConfigBytes).Config!.Labels!.ContainsKey(AnnotationKeys.Source));
    }

    public static TheoryData<string> InvalidCombinations => ["same platform", "other tags", "other repository", "no platform", "docker archive"];

    [Theory]
    [MemberData(nameof(InvalidCombinations))]
    public async Task Multi_platform_requests_must_agree_and_name_distinct_platforms(string problem)
    {
        var store = await OciKit.Layout.OciLayout.OpenAsync(Directory.CreateTempSubdirectory("ocikit-containerize-").FullName);
        using var client = new OciKit.Registry.RegistryClient();
        var amd64 = Request() with { Files = [new PublishedFile("/x", "x", PublishLayerKind.App)], Platform = Platform.LinuxAmd64 };
        var arm64 = problem switch
        {
            "same platform" => amd64,
            "other tags" => amd64 with { Platform = Platform.LinuxArm64, Tags = ["v2"] },
            "other repository" => amd64 with { Platform = Platform.LinuxArm64, Repository = "team/other" },
            "no platform" => amd64 with { Platform = null },
            _ => amd64 with { Platform = Platform.LinuxArm64 },
        };
        if (problem == "docker archive")
        {
            amd64 = amd64 with { Format = ContainerImageFormat.Docker, ArchiveOutputPath = "/tmp/x.tar" };
            arm64 = arm64 with { Format = ContainerImageFormat.Docker, ArchiveOutputPath = "/tmp/x.tar" };
            await Assert.ThrowsAsync<NotSupportedException>(() => new Containerizer(store, client).ContainerizeAsync([amd64, arm64]));
        }
        else
        {
            await Assert.ThrowsAsync<ArgumentException>(() => new Containerizer(store, client).ContainerizeAsync([amd64, arm64]));
        }

        Directory.Delete(store.Root, recursive: true);
    }

    [Theory]
    [InlineData(ContainerAppCommandInstruction.Default, null, "/app/app --fixed", "--default")]
    [InlineData(ContainerAppCommandInstruction.Default, "tini --", "tini --", "--default")]
    [InlineData(ContainerAppCommandInstruction.Entrypoint, "tini --", "/app/app --fixed", "--default")]
    [InlineData(ContainerAppCommandInstruction.Cmd, "tini --", "tini --", "/app/app --fixed --default")]
    [InlineData(ContainerAppCommandInstruction.DefaultArgs, "tini --", "tini --", "--default")]
    public void Entrypoint_follows_the_sdk_instruction(ContainerAppCommandInstruction instruction, string? baseEntrypoint, string entrypoint, string cmd)
    {
        var e = new ContainerEntrypoint(["/app/app"], ["--fixed"], ["--default"], instruction);
        var (ep, c) = e.Resolve(baseEntrypoint is null ? null : [.. baseEntrypoint.Split(' ')], ["sh"]);
        Assert.Equal(entrypoint, string.Join(' ', ep!.Value));
        Assert.Equal(cmd, string.Join(' ', c!.Value));
    }

    [Fact]
    public void Entrypoint_without_default_args_keeps_the_base_command_only_for_default_args_instruction()
    {
        Assert.Null(new ContainerEntrypoint(["/app/app"]).Resolve(null, ["sh"]).Cmd);
        Assert.Equal(["sh"], new ContainerEntrypoint([], Instruction: ContainerAppCommandInstruction.DefaultArgs).Resolve(["tini"], ["sh"]).Cmd!.Value.ToArray());
        Assert.Throws<ArgumentException>(() => new ContainerEntrypoint([], Instruction: ContainerAppCommandInstruction.Entrypoint).Resolve(null, null));
    }

    [Theory]
    [InlineData(true, "/app/hello")]
    [InlineData(false, "dotnet /app/hello.dll")]
    public void Default_app_command_is_the_app_host_or_dotnet(bool appHost, string expected)
        => Assert.Equal(expected, string.Join(' ', ContainerEntrypoint.DefaultAppCommand("/app/", "hello", appHost)));

    [Theory]
    [InlineData("linux-x64", "linux/amd64")]
    [InlineData("linux-musl-x64", "linux/amd64")]
    [InlineData("linux-arm64", "linux/arm64/v8")]
    [InlineData("linux-arm", "linux/arm/v7")]
    [InlineData("linux-musl-s390x", "linux/s390x")]
    public void Runtime_identifiers_map_to_platforms(string rid, string platform)
        => Assert.Equal(platform, RuntimeIdentifiers.ToPlatform(rid).ToString());

    [Theory]
    [InlineData("win-x64")]
    [InlineData("osx-arm64")]
    [InlineData("linux-mips")]
    [InlineData("x64")]
    public void Non_linux_or_unknown_runtime_identifiers_are_rejected(string rid)
        => Assert.Throws<ArgumentException>(() => RuntimeIdentifiers.ToPlatform(rid));

    [Theory]
    [InlineData("1700000000", 1700000000L)]
    [InlineData("0", 0L)]
    [InlineData("not a number", 0L)]
    [InlineData("-5", 0L)]
    [InlineData(null, 0L)]
    public void Default_created_time_comes_from_SOURCE_DATE_EPOCH(string? value, long seconds)
        => Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(seconds), ContainerizeRequest.DefaultCreated(value));
}
