using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.IntegrationTests.Harness;
using OciKit.MSBuild;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// The files between the task and its out-of-process host (<see cref="ContainerizeWire"/>), written and read by hand:
/// whatever is written reads back the same, every field, and a damaged file is refused.
/// </summary>
public sealed class ContainerizeWireTests : IDisposable
{
    private readonly TempDir _dir = new("ocikit-wire");

    private static readonly Gen<string> Texts = Gen.OneOf(
        Gen.Elements(string.Empty, " ", "a", "/app", "NAME=VALUE", "quote \" back\\slash", "line\nbreak\ttab", "ünïcödé → 漢字", "\u0001\u001f", "emoji 🐳"),
        ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => s.Get).Where(IsWellFormed));

    // Text from MSBuild is well-formed UTF-16 (names on disk are decoded from UTF-8); a lone surrogate has no JSON form.
    private static bool IsWellFormed(string text) => System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(text)) == text;

    private static readonly Gen<string?> OptionalTexts = Gen.OneOf(Gen.Constant<string?>(null), Texts.Select(s => (string?)s));

    private static readonly Gen<string[]> TextArrays = Gen.ArrayOf(Texts);

    private static readonly Gen<ContainerizeInputItem> Items =
        from spec in Texts
        from names in Gen.SubListOf("Value", "Type", "RelativePath", "NuGetPackageId", "OciKitRuntimeIdentifier")
        from values in Gen.ArrayOf(Texts, names.Count)
        select new ContainerizeInputItem(spec, names.Select((n, i) => (n, values[i])).ToDictionary(p => p.n, p => p.Item2, StringComparer.OrdinalIgnoreCase));

    private static readonly Gen<ContainerizeInputs> AllInputs =
        from strings in Gen.ArrayOf(OptionalTexts, 22)
        from arrays in Gen.ArrayOf(TextArrays, 6)
        from items in Gen.ArrayOf(Gen.ArrayOf(Items), 4)
        from flags in Gen.ArrayOf(ArbMap.Default.GeneratorFor<bool>(), 2)
        select new ContainerizeInputs
        {
            PublishDirectory = strings[0] ?? string.Empty,
            RuntimeIdentifiers = arrays[0],
            PublishedFiles = items[0],
            AssemblyName = strings[1] ?? string.Empty,
            BaseImage = strings[2] ?? string.Empty,
            Registry = strings[3],
            Repository = strings[4] ?? string.Empty,
            Tags = arrays[1],
            WorkingDirectory = strings[5],
            User = strings[6],
            Ports = items[1],
            EnvironmentVariables = items[2],
            Labels = items[3],
            AppCommand = arrays[2],
            AppCommandArgs = arrays[3],
            DefaultArgs = arrays[4],
            AppCommandInstruction = strings[7],
            ArchiveOutputPath = strings[8],
            ImageFormat = strings[9],
            RuntimeIdentifier = strings[10],
            Created = strings[11],
            SourceUrl = strings[12],
            Revision = strings[13],
            StorePath = strings[14],
            KeepInStore = flags[0],
            SigningKey = strings[15],
            SigningKeyPassphraseEnvironmentVariable = strings[16],
            GenerateSbom = flags[1],
            TrustPolicy = strings[17],
            CacheRepository = strings[18],
            UserAgent = strings[19] ?? string.Empty,
        };

    private static readonly Gen<ContainerizeJobOutcome> Outcomes =
        from failed in ArbMap.Default.GeneratorFor<bool>()
        from texts in Gen.ArrayOf(Texts, 8)
        from references in Gen.ArrayOf(Texts).Where(a => a.Length > 0)
        from numbers in Gen.ArrayOf(Gen.Choose(0, int.MaxValue), 4)
        from signed in ArbMap.Default.GeneratorFor<bool>()
        from sboms in Gen.ArrayOf(from a in Texts from s in Texts from n in Gen.Choose(0, 5000) select new ContainerizeSbomResult(a, s, n))
        from code in OptionalTexts
        select failed
            ? new ContainerizeJobOutcome(null, code, texts[0])
            : new ContainerizeJobOutcome(new ContainerizeJobResult
            {
                Digest = texts[1],
                ManifestMediaType = texts[2],
                References = references,
                ArchivePath = numbers[3] % 2 == 0 ? null : texts[3],
                Destination = texts[4],
                Platforms = numbers[0],
                AppLayers = numbers[1],
                BlobsUploaded = numbers[2],
                Signature = signed ? new ContainerizeSignatureResult(texts[5], texts[6], texts[7]) : null,
                Sboms = sboms,
            });

    [Property(MaxTest = 200)]
    public Property Inputs_read_back_as_written_every_field()
        => Prop.ForAll(AllInputs.ToArbitrary(), inputs =>
        {
            var path = _dir.Combine(Guid.NewGuid().ToString("N") + ".json");
            ContainerizeWire.WriteInputs(path, inputs);
            var read = ContainerizeWire.ReadInputs(path);
            return Describe(read) == Describe(inputs);
        });

    [Property(MaxTest = 200)]
    public Property Outcomes_read_back_as_written_every_field()
        => Prop.ForAll(Outcomes.ToArbitrary(), outcome =>
        {
            var path = _dir.Combine(Guid.NewGuid().ToString("N") + ".json");
            using (var file = File.Create(path))
            {
                ContainerizeWire.WriteOutcome(file, outcome);
            }

            var read = ContainerizeWire.ReadOutcome(path);
            return Describe(read) == Describe(outcome);
        });

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"publishDirectory\": 3}")]
    [InlineData("{\"tags\": \"one\"}")]
    [InlineData("{\"keepInStore\": \"yes\"}")]
    [InlineData("{\"publishDirectory\": \"/p\"")]
    public void Damaged_inputs_are_refused(string text)
    {
        var path = _dir.Combine(Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, text);
        var error = Assert.Throws<FormatException>(() => ContainerizeWire.ReadInputs(path));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Theory]
    [InlineData("{\"result\": {\"digest\": \"sha256:x\"}}")]
    [InlineData("{\"result\": {\"digest\": \"d\", \"manifestMediaType\": \"m\", \"destination\": \"x\", \"platforms\": \"1\"}}")]
    public void Damaged_outcomes_are_refused(string text)
    {
        var path = _dir.Combine(Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, text);
        Assert.Throws<FormatException>(() => ContainerizeWire.ReadOutcome(path));
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Dispose();

    // Every field as text (the records hold arrays, which compare by reference).
    private static string Describe(ContainerizeInputs i) => string.Join(
        "\u241E",
        N(i.PublishDirectory), Join(i.RuntimeIdentifiers), Join(i.PublishedFiles), N(i.AssemblyName), N(i.BaseImage), N(i.Registry), N(i.Repository),
        Join(i.Tags), N(i.WorkingDirectory), N(i.User), Join(i.Ports), Join(i.EnvironmentVariables), Join(i.Labels), Join(i.AppCommand),
        Join(i.AppCommandArgs), Join(i.DefaultArgs), N(i.AppCommandInstruction), N(i.ArchiveOutputPath), N(i.ImageFormat), N(i.RuntimeIdentifier),
        N(i.Created), N(i.SourceUrl), N(i.Revision), N(i.StorePath), i.KeepInStore, N(i.SigningKey), N(i.SigningKeyPassphraseEnvironmentVariable),
        i.GenerateSbom, N(i.TrustPolicy), N(i.CacheRepository), N(i.UserAgent));

    private static string N(string? value) => value is null ? "(null)" : "'" + value + "'";

    private static string Describe(ContainerizeJobOutcome o) => o.Result is not { } r
        ? $"failed\u241E{N(o.ErrorCode)}\u241E{N(o.ErrorMessage)}"
        : string.Join(
            "\u241E",
            N(r.Digest), N(r.ManifestMediaType), Join(r.References), N(r.ArchivePath), N(r.Destination), r.Platforms, r.AppLayers, r.BlobsUploaded,
            r.Signature?.ToString() ?? "(null)", string.Join("\u241F", r.Sboms.Select(s => s.ToString())), N(o.ErrorCode));

    private static string Join(string[] values) => "[" + string.Join("\u241F", values) + "]";

    private static string Join(ContainerizeInputItem[] items) => "[" + string.Join(
        "\u241F",
        items.Select(item => item.ItemSpec + "{" + string.Join(",", item.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value)) + "}")) + "]";
}
