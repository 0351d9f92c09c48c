using System.Text;
using System.Text.Json;
using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.Testing;

namespace OciKit.Tests.Images;

/// <summary>The image-spec's own fixtures, examples and ChainID vectors, read in place from the shared conformance data.</summary>
public class ConformanceTests
{
    // Rules the schema states but the spec text does not require; OciKit follows the text (see the reason).
    private static readonly Dictionary<string, string> SchemaOnly = new(StringComparer.Ordinal)
    {
        ["fixtures/manifest/05-invalid.json"] = "the schema wants at least one layer; the spec says SHOULD and Docker writes \"layers\": [] for FROM scratch images",
    };

    // Rules image-spec's Go validator checks beyond its JSON schemas; the schema checker alone accepts these.
    private static readonly HashSet<string> BeyondSchema = new(StringComparer.Ordinal)
    {
        "fixtures/config/09-invalid.json", // Env entries must be NAME=value
        "fixtures/descriptor/15-invalid.json", // sha256 must be lower-case hex
        "fixtures/descriptor/29-invalid.json", // data must be padded base64
    };

    private static string Root => Path.Combine(TestPaths.Conformance, "image-spec");

    private static JsonElement Index { get; } = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "fixtures_index.json"))).RootElement;

    internal static JsonSchemaChecker Schemas { get; } = new(Path.Combine(Root, "schema"));

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var f in Index.GetProperty("fixtures").EnumerateArray())
        {
            data.Add(f.GetProperty("file").GetString()!);
        }

        return data;
    }

    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var f in Index.GetProperty("markdown_examples").EnumerateArray())
        {
            data.Add(f.GetProperty("file").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Fixture_is_read_or_rejected_as_the_index_says(string file)
    {
        var entry = Entry("fixtures", file);
        var bytes = File.ReadAllBytes(Path.Combine(Root, file));
        var mediaType = entry.GetProperty("validator_media_type").GetString()!;
        var expectFail = entry.GetProperty("expect_fail").GetBoolean();
        if (expectFail && !SchemaOnly.ContainsKey(file))
        {
            var e = Record.Exception(() => Read(mediaType, bytes));
            Assert.IsType<OciFormatException>(e);
            return;
        }

        var written = Read(mediaType, bytes);
        if (SchemaOnly.ContainsKey(file))
        {
            // Read on purpose (see SchemaOnly); the schema still rejects both the fixture and our rewrite of it.
            Assert.NotEmpty(Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), bytes));
            return;
        }

        Assert.Empty(Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), written));

        if (entry.TryGetProperty("expected_sha256_of_raw_text", out var expected))
        {
            Assert.Equal(expected.GetString(), Digest.ComputeSha256(bytes).ToString());
            if (file.Contains("compat-manifest", StringComparison.Ordinal) || file.Contains("compat-index", StringComparison.Ordinal))
            {
                // The digest is that of the exact received bytes, never of a re-serialization.
                var document = ManifestDocument.Parse(bytes);
                Assert.Equal(expected.GetString(), document.Digest.ToString());
                Assert.NotEqual(ManifestKind.Unknown, document.Kind);
            }

            // The Docker media types read as they are, and the OCI-converted text (as upstream validates it) too.
            var text = Encoding.UTF8.GetString(bytes);
            foreach (var p in Index.GetProperty("compat_media_type_map").EnumerateObject())
            {
                text = text.Replace(p.Name, p.Value.GetString(), StringComparison.Ordinal);
            }

            Assert.Empty(Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), Read(mediaType, Encoding.UTF8.GetBytes(text))));
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Schema_checker_agrees_with_the_fixture_index(string file)
    {
        var entry = Entry("fixtures", file);
        if (!entry.GetProperty("is_well_formed_json").GetBoolean())
        {
            return;
        }

        var mediaType = entry.GetProperty("validator_media_type").GetString()!;
        var errors = Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), File.ReadAllBytes(Path.Combine(Root, file)));
        var shouldFail = entry.GetProperty("expect_fail").GetBoolean() && !BeyondSchema.Contains(file);
        Assert.True(shouldFail == (errors.Count > 0), string.Join("; ", errors));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Spec_example_reads_and_what_we_write_validates(string file)
    {
        var entry = Entry("markdown_examples", file);
        var mediaType = entry.GetProperty("validator_media_type").GetString()!;
        var bytes = File.ReadAllBytes(Path.Combine(Root, file));
        Assert.Empty(Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), bytes));
        var written = Read(mediaType, bytes);
        Assert.Empty(Schemas.Check(JsonSchemaChecker.SchemaFileFor(mediaType), written));
        Assert.Equal(written, Read(mediaType, written));
    }

    [Fact]
    public void ChainIds_match_the_spec_vectors()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "chainid_cases.json")));
        var count = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var diffIds = c.GetProperty("diff_ids").ValueKind == JsonValueKind.Null
                ? []
                : c.GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToArray();
            var expected = c.GetProperty("expected_chain_ids").ValueKind == JsonValueKind.Null
                ? []
                : c.GetProperty("expected_chain_ids").EnumerateArray().Select(d => d.GetString()!).ToArray();
            var actual = ChainId.ComputeAll(diffIds).ToArray();
            Assert.Equal(expected, actual);
            Assert.Equal(c.GetProperty("expected_chain_id").GetString(), actual.LastOrDefault() ?? string.Empty);
            count++;
        }

        Assert.True(count >= 3);
    }

    [Fact]
    public void ChainId_of_real_digests_chains_the_last_one()
    {
        var a = Digest.ComputeSha256("a"u8);
        var b = Digest.ComputeSha256("b"u8);
        Assert.Equal(Digest.ComputeSha256(Encoding.UTF8.GetBytes($"{a} {b}")), ChainId.Compute([a, b]));
        Assert.Null(ChainId.Compute([]));
    }

    /// <summary>Reads with the model for a media type and writes the result back (our canonical bytes).</summary>
    internal static byte[] Read(string mediaType, byte[] bytes) => mediaType switch
    {
        MediaTypes.OciConfig => ImageConfig.Parse(bytes).ToJson(),
        MediaTypes.OciDescriptor => DescriptorJson.ToJson(DescriptorJson.Parse(bytes)),
        MediaTypes.OciIndex => ImageIndex.Parse(bytes).ToJson(),
        MediaTypes.OciManifest => ImageManifest.Parse(bytes).ToJson(),
        MediaTypes.OciLayoutHeader => OciLayoutHeader.Parse(bytes) == OciLayoutHeader.CurrentVersion ? OciLayoutHeader.ToJson() : [],
        _ => throw new ArgumentException(mediaType, nameof(mediaType)),
    };

    private static JsonElement Entry(string list, string file) =>
        Index.GetProperty(list).EnumerateArray().Single(e => e.GetProperty("file").GetString() == file);
}
