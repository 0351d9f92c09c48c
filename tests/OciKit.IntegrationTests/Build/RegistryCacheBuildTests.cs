using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;
using OciKit.References;
using OciKit.Registry;
using OciKit.Transfer;

namespace OciKit.IntegrationTests.Build;

/// <summary>
/// Two machines ("agents": two stores, two credential files) and one token-auth registry: what the first built and
/// pushed with <c>--cache-to</c>, the second builds from an empty store with <c>--cache-from</c> without doing the work.
/// </summary>
public sealed class RegistryCacheBuildTests : IAsyncLifetime
{
    private const string Dockerfile = """
        FROM scratch
        COPY --chmod=755 busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY hello.txt /etc/hello
        RUN cat /etc/hello > /etc/copied && mkdir -p /app
        WORKDIR /srv
        CMD ["/bin/cat", "/etc/copied"]
        """;

    /// <summary>The steps that make layers: two COPY, two RUN, the WORKDIR that creates its directory.</summary>
    private const int FilesystemSteps = 5;

    private readonly TempDir _dir = new("ocikit-regcache-build");
    private readonly List<TempDir> _agents = [];
    private RegistryServer? _registry;

    private RegistryServer Registry => _registry!;

    private string Context => _dir.Combine("context");

    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartTokenAsync();
        Directory.CreateDirectory(Context);
        // Debian's busybox-static (as the busybox-run sample uses): RUN needs no base image.
        File.Copy("/bin/busybox", Path.Combine(Context, "busybox"));
        await File.WriteAllTextAsync(Path.Combine(Context, "hello.txt"), "hello from the first agent\n");
        await File.WriteAllTextAsync(Path.Combine(Context, "Dockerfile"), Dockerfile);
    }

    public async Task DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        foreach (var agent in _agents)
        {
            agent.Dispose();
        }

        _dir.Dispose();
    }

    private async Task<CliRun> AgentAsync(string name)
    {
        var dir = new TempDir("ocikit-agent-" + name);
        _agents.Add(dir);
        var agent = new CliRun(dir);
        (await agent.RunWithInputAsync(RegistryServer.Password + "\n", "login", Registry.Host, "-u", RegistryServer.User, "--password-stdin")).Succeeded();
        return agent;
    }

    private static int Hits(CliResult result, string source) =>
        result.StdErr.Split('\n').Count(l => l.EndsWith($"(cached: {source})", StringComparison.Ordinal));

    private int BlobUploads() => Registry.CountRequests("PUT", "/blobs/uploads/") + Registry.CountRequests("PATCH", "/blobs/uploads/");

    [Fact]
    public async Task A_fresh_agent_builds_from_the_registry_cache_the_same_image_compressing_and_uploading_no_layer()
    {
        var app = $"{Registry.Host}/team/app";
        var cache = $"{Registry.Host}/team/cache";
        var first = await AgentAsync("one");
        var built = (await first.RunAsync("build", Context, "-t", app + ":1", "--push", "--cache-to", cache + ",mode=max")).Succeeded();
        Assert.Equal(0, Hits(built, cache + ":" + RegistryCache.DefaultTag));
        Assert.Contains($"cache {cache}:{RegistryCache.DefaultTag}: {FilesystemSteps} record(s) written", built.StdErr, StringComparison.Ordinal);

        // The second agent: an empty store. Every filesystem step is a hit from the registry (nothing compressed, no
        // RUN run), the image is the same, and its push uploads no blob (the config is the same too): only the manifest.
        var second = await AgentAsync("two");
        var uploadsBefore = BlobUploads();
        Assert.True(uploadsBefore >= FilesystemSteps + 1, $"the first agent's push uploaded {uploadsBefore} blobs"); // the counter counts
        var manifestsBefore = Registry.CountRequests("PUT", "/manifests/");
        var reused = (await second.RunAsync("build", Context, "-t", app + ":2", "--push", "--cache-from", cache)).Succeeded();
        Assert.Equal(FilesystemSteps, Hits(reused, cache + ":" + RegistryCache.DefaultTag));
        Assert.DoesNotContain("warning", reused.StdErr, StringComparison.Ordinal);
        Assert.Equal(built.LastLine, reused.LastLine);
        Assert.Equal(uploadsBefore, BlobUploads());
        Assert.Equal(manifestsBefore + 1, Registry.CountRequests("PUT", "/manifests/"));

        // The layers it took were downloaded (verified) into its store: a rebuild there hits its own cache.
        var local = (await second.RunAsync("build", Context, "-t", "local/app:2")).Succeeded();
        Assert.Equal(FilesystemSteps, local.StdErr.Split('\n').Count(l => l.EndsWith("  (cached)", StringComparison.Ordinal)));
        Assert.Equal(built.LastLine, local.LastLine);

        // --no-cache ignores both caches.
        var third = await AgentAsync("three");
        var ignored = (await third.RunAsync("build", Context, "-t", "local/app:3", "--no-cache", "--cache-from", cache)).Succeeded();
        Assert.DoesNotContain("(cached", ignored.StdErr, StringComparison.Ordinal);
        Assert.Equal(built.LastLine, ignored.LastLine);
    }

    [Fact]
    public async Task A_push_only_build_downloads_no_cached_layer_unless_a_later_step_reads_its_files()
    {
        var app = $"{Registry.Host}/team/app";
        var cache = $"{Registry.Host}/team/cache";
        var first = await AgentAsync("one");
        var built = (await first.RunAsync("build", Context, "-t", app + ":1", "--push", "--cache-to", cache)).Succeeded();

        // Every step a hit: nothing downloaded but the cache's records blob, nothing stored, the same image pushed.
        var second = await AgentAsync("two");
        var gets = Registry.CountRequests("GET", "/blobs/sha256:");
        var pushed = (await second.RunAsync("build", Context, "-t", app + ":2", "--push", "--push-only", "--cache-from", cache)).Succeeded();
        Assert.Equal(FilesystemSteps, Hits(pushed, cache + ":" + RegistryCache.DefaultTag));
        Assert.Equal(built.LastLine, pushed.LastLine);
        Assert.Equal(gets + 1, Registry.CountRequests("GET", "/blobs/sha256:"));
        Assert.Contains($"pushed {app}:2 (not stored)", pushed.StdErr, StringComparison.Ordinal);
        using var client = new RegistryClient(Transfer.RegistryCacheTests.ClientOptions(Registry));
        Assert.Equal(built.LastLine, (await client.GetManifestAsync(ImageReference.Parse(app + ":2"))).Digest.ToString());
        var images = (await second.RunAsync("images")).Succeeded();
        Assert.DoesNotContain("team/app", images.StdOut, StringComparison.Ordinal);

        // A changed input: the steps on top read the cached layers' files, which are downloaded then (verified); the
        // image is the one a build without any cache makes.
        await File.WriteAllTextAsync(Path.Combine(Context, "hello.txt"), "hello from the third agent\n");
        var third = await AgentAsync("three");
        var changed = (await third.RunAsync("build", Context, "-t", app + ":3", "--push", "--push-only", "--cache-from", cache)).Succeeded();
        Assert.Equal(2, Hits(changed, cache + ":" + RegistryCache.DefaultTag)); // COPY busybox and RUN --install
        var fourth = await AgentAsync("four");
        var plain = (await fourth.RunAsync("build", Context, "-t", "local/app:3", "--no-cache")).Succeeded();
        Assert.Equal(plain.LastLine, changed.LastLine);
    }

    [Fact]
    public async Task A_record_whose_blob_is_gone_is_ignored_with_a_warning_and_its_step_rebuilt_to_the_same_image()
    {
        var app = $"{Registry.Host}/team/app";
        var cache = $"{Registry.Host}/team/cache";
        var first = await AgentAsync("one");
        var built = (await first.RunAsync("build", Context, "-t", app + ":1", "--push", "--cache-to", cache)).Succeeded();

        // The COPY of hello.txt's layer goes from the cache repository (the image's repository keeps it).
        using var client = new RegistryClient(Transfer.RegistryCacheTests.ClientOptions(Registry));
        var cacheReference = RegistryCache.ParseRepository(cache);
        var lookup = await new RegistryCache(client).ReadAsync([cacheReference]);
        var image = Images.ImageManifest.Parse((await client.GetManifestAsync(ImageReference.Parse(app + ":1"))).Bytes);
        var gone = image.Layers[2];
        await client.DeleteBlobAsync(cacheReference, gone.Digest);

        var second = await AgentAsync("two");
        var rebuilt = (await second.RunAsync("build", Context, "-t", "local/app:1", "--cache-from", cache)).Succeeded();
        Assert.Contains($"blob {gone.Digest} is missing; ignored", rebuilt.StdErr, StringComparison.Ordinal);
        Assert.Equal(built.LastLine, rebuilt.LastLine);

        // The steps before it were hits; it and the ones on top of it were done again (their parent is the same, so
        // their keys are too: the later ones hit again).
        Assert.Equal(FilesystemSteps - 1, Hits(rebuilt, cache + ":" + RegistryCache.DefaultTag));
        Assert.True(lookup.Count >= FilesystemSteps);
    }
}
