using System.Collections.Immutable;
using OciKit.Build;
using OciKit.IntegrationTests.Build.CorpusHarness;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Build;

/// <summary>
/// Issue 6's comparison: every corpus Dockerfile built by OciKit's engine and by <c>buildah bud</c> from the same
/// context; the flattened file trees (type, mode, owner, size, content hash, link target; not mtimes) and the compared
/// config fields must be equal.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class EngineVsBuildahTests(RegistryFixture registry, ContainerTools tools) : IClassFixture<ContainerTools>
{
    public static TheoryData<string> Cases() => BuildCorpus.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task OciKit_builds_the_same_image_as_buildah(string name)
    {
        var corpusCase = BuildCorpus.Load(name);
        using var dir = new TempDir("ocikit-vs-buildah");
        var context = dir.Combine("context");
        await BuildCorpus.PrepareAsync(name, context);
        var args = new Dictionary<string, string>(corpusCase.BuildArgs, StringComparer.Ordinal) { ["BASE"] = registry.BaseImage };

        var store = dir.Combine("store");
        var result = await ImageBuilder.BuildAsync(new BuildOptions(context)
        {
            StorePath = store,
            Tags = ["corpus:" + name],
            BuildArgs = args.ToImmutableDictionary(StringComparer.Ordinal),
            Target = corpusCase.Target,
        });
        var ours = await ImageTree.LoadAsync(store, result.Digest.ToString());
        var theirs = await BuildahCorpusBuilder.BuildAsync(tools, context, args, dir.Combine("buildah"), "vs/" + name, corpusCase.Target);

        // Where buildah departs from Docker, OciKit must instead meet what the case states (Docker's behaviour).
        var deviations = KnownBuildahDeviations.GetValueOrDefault(name, []);
        foreach (var item in deviations)
        {
            if (item.StartsWith('/'))
            {
                var tokens = corpusCase.Expected.Single(e => e.Path == item).Tokens;
                var shown = ours.Entries[item].ToString().Split(' ');
                Assert.All(tokens, t => Assert.Contains(t, shown));
                theirs.Entries.Remove(item);
                ours.Entries.Remove(item);
            }
            else
            {
                Assert.Equal(corpusCase.Config[item], ours.Config[item]);
                theirs.Config.Remove(item);
                ours.Config.Remove(item);
            }
        }

        var diff = ImageTree.Diff(theirs, ours, "buildah", "ocikit");
        Assert.True(diff is null, $"'{name}':\n{diff}");
    }

    /// <summary>Paths and config fields where buildah is known not to do what Docker does.</summary>
    private static readonly Dictionary<string, string[]> KnownBuildahDeviations = new(StringComparer.Ordinal)
    {
        // buildah clears set-user-id and set-group-id bits of context files; Docker keeps the context's modes.
        ["modes"] = ["/m/suid", "/m/sgid"],

        // buildah wraps shell-form CMD and ENTRYPOINT in /bin/sh -c whatever SHELL says; Docker uses the SHELL.
        ["healthcheck-onbuild-shell"] = ["Cmd", "Entrypoint"],
    };
}
