using System.Collections.Immutable;
using OciKit.Build;
using OciKit.Registry;
using OciKit.Transfer;
using OciKit.IntegrationTests.Build.CorpusHarness;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Build;

/// <summary>
/// Issue 6's comparison: every Dockerfile of the corpus built with <c>buildah bud</c> (the reference) and checked
/// against the expectations its comments state. The base image (<c>BASE</c>) is the busybox image the registry
/// fixture pushed to the loopback registry, so nothing leaves the machine.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CorpusTests(RegistryFixture registry, ContainerTools tools) : IClassFixture<ContainerTools>
{
    public static TheoryData<string> Cases() => BuildCorpus.Cases();

    [Fact]
    public void The_corpus_has_at_least_twenty_cases_each_stating_expectations()
    {
        Assert.True(BuildCorpus.Names.Count >= 20, $"only {BuildCorpus.Names.Count} cases");
        foreach (var name in BuildCorpus.Names)
        {
            var c = BuildCorpus.Load(name);
            Assert.True(c.Expected.Count + c.Absent.Count + c.Config.Count > 0, $"{name} states no expectation");
            Assert.True(c.BuildahExpected.Count + c.BuildahConfig.Count == 0 || c.BuildahDifferences.Count > 0, $"{name} overrides buildah's expectations without saying why (# buildah-differs:)");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Buildah_builds_the_case_as_its_Dockerfile_states(string name)
    {
        var corpusCase = BuildCorpus.Load(name);
        using var dir = new TempDir("ocikit-corpus");
        var context = dir.Combine("context");
        await BuildCorpus.PrepareAsync(name, context);

        var image = await BuildahCorpusBuilder.BuildAsync(tools, context, BuildArgs(corpusCase), dir.Combine("buildah"), "corpus/" + name, corpusCase.Target);

        // Where buildah knowingly departs from Docker, the case states buildah's result and why (# buildah-differs).
        var overridden = corpusCase.BuildahExpected.Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        var asBuildah = corpusCase with
        {
            Expected = [.. corpusCase.Expected.Where(e => !overridden.Contains(e.Path)), .. corpusCase.BuildahExpected],
            Config = new Dictionary<string, string>(corpusCase.Config.Concat(corpusCase.BuildahConfig).GroupBy(p => p.Key).Select(g => g.Last())),
        };
        AssertMeetsExpectations(asBuildah, image, "buildah");
    }

    /// <summary>
    /// The comparison itself: OciKit's image of each case must meet the Docker expectations the case states and have
    /// the same flattened tree and config as buildah's, except where the case states that buildah departs from Docker.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task OciKit_builds_the_case_as_buildah_does(string name)
    {
        var corpusCase = BuildCorpus.Load(name);
        using var dir = new TempDir("ocikit-corpus");
        var context = dir.Combine("context");
        await BuildCorpus.PrepareAsync(name, context);
        var args = BuildArgs(corpusCase);
        var buildah = await BuildahCorpusBuilder.BuildAsync(tools, context, args, dir.Combine("buildah"), "corpus/" + name, corpusCase.Target);

        var store = dir.Combine("store");
        using var client = new RegistryClient();
        var result = await ImageBuilder.BuildAsync(new BuildOptions(context)
        {
            StorePath = store,
            Tags = ["corpus/" + name + ":latest"],
            BuildArgs = args.ToImmutableDictionary(StringComparer.Ordinal),
            Target = corpusCase.Target,
            BaseImages = new RegistryBaseImages(client),
        });
        var ocikit = await ImageTree.LoadAsync(store, result.Digest.ToString());

        AssertMeetsExpectations(corpusCase, ocikit, "OciKit");
        var skippedPaths = corpusCase.BuildahExpected.Select(e => e.Path).ToList();
        var skippedFields = corpusCase.BuildahConfig.Keys.ToList();
        var diff = ImageTree.Diff(buildah.Without(skippedPaths, skippedFields), ocikit.Without(skippedPaths, skippedFields), "buildah", "OciKit");
        Assert.True(diff is null, $"'{name}': OciKit's image differs from buildah's:\n{diff}");
    }

    private Dictionary<string, string> BuildArgs(CorpusCase corpusCase)
        => new(corpusCase.BuildArgs, StringComparer.Ordinal) { ["BASE"] = registry.BaseImage };

    private static void AssertMeetsExpectations(CorpusCase corpusCase, ImageTree image, string builder)
    {
        var failures = new List<string>();
        foreach (var (path, tokens) in corpusCase.Expected)
        {
            if (!image.Entries.TryGetValue(path, out var node))
            {
                failures.Add($"missing {path}");
                continue;
            }

            var shown = node.ToString().Split(' ');
            var missing = tokens.Where(t => !shown.Contains(t, StringComparer.Ordinal) && !(t.EndsWith('=') && shown.Any(s => s.StartsWith(t, StringComparison.Ordinal)))).ToList();
            if (missing.Count > 0)
            {
                failures.Add($"{path} is '{node}', expected it to show {string.Join(' ', missing)}");
            }
        }

        failures.AddRange(corpusCase.Absent.Where(image.Entries.ContainsKey).Select(p => $"{p} should not be there"));
        foreach (var (field, json) in corpusCase.Config)
        {
            // "unset" states that the field must be absent (or empty, see ImageTree.ReadConfig).
            image.Config.TryGetValue(field, out var actual);
            if (actual != (json == "unset" ? null : json))
            {
                failures.Add($"config {field} is {actual ?? "(unset)"}, expected {json}");
            }
        }

        Assert.True(failures.Count == 0, $"{builder}'s image of '{corpusCase.Name}':\n  {string.Join("\n  ", failures)}\nwhole image:\n{image.Describe()}");
    }
}
