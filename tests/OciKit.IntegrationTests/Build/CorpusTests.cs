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

        AssertMeetsExpectations(corpusCase, image, "buildah");
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
            image.Config.TryGetValue(field, out var actual);
            if (actual != json)
            {
                failures.Add($"config {field} is {actual ?? "(unset)"}, expected {json}");
            }
        }

        Assert.True(failures.Count == 0, $"{builder}'s image of '{corpusCase.Name}':\n  {string.Join("\n  ", failures)}\nwhole image:\n{image.Describe()}");
    }
}
