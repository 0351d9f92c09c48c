using System.Collections.Immutable;
using System.Text;
using OciKit.Build;
using OciKit.Execution;
using OciKit.IntegrationTests.Build.CorpusHarness;
using OciKit.IntegrationTests.Harness;
using OciKit.Layout;

namespace OciKit.IntegrationTests.Build;

/// <summary>
/// RUN in the build engine with a real runtime, on the busybox base written straight into the store: mounts (bind,
/// cache, tmpfs, secret), networks, heredocs, history, failures, the build cache and reproducibility. What buildah can
/// build the same way is compared with buildah in the corpus (<c>Corpus/run-*</c>); this covers what it cannot
/// (its chroot isolation has only the host's network; buildah 1.28 has no RUN heredocs) or what needs a second build.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RunInstructionTests : IDisposable
{
    private const string Base = "busybox:latest";
    private readonly TempDir _dir = new("ocikit-run");
    private readonly List<BuildProgress> _progress = [];

    public RunInstructionTests()
    {
        Directory.CreateDirectory(Context);
        BusyboxImage.WriteOciLayout(Store, Base);
    }

    private string Context => _dir.Combine("context");

    private string Store => _dir.Combine("store");

    public void Dispose() => _dir.Dispose();

    private Task<BuildResult> BuildAsync(string dockerfile, Func<BuildOptions, BuildOptions>? configure = null, string? store = null)
    {
        var options = new BuildOptions(Context) { DockerfileText = dockerfile, StorePath = store ?? Store, Tags = ["test/run:latest"] };
        return ImageBuilder.BuildAsync(configure is null ? options : configure(options), new SynchronousProgress(_progress.Add));
    }

    private async Task<ImageTree> TreeAsync(BuildResult result, string? store = null) => await ImageTree.LoadAsync(store ?? Store, result.Digest.ToString());

    private static string Content(string store, ImageTree tree, string path)
    {
        Assert.True(tree.Entries.TryGetValue(path, out var node), $"{path} is not in the image:\n{tree.Describe()}");
        Assert.Equal("file", node.Type);
        return Encoding.UTF8.GetString(FileContents.Find(store, node.Sha256!));
    }

    [Fact]
    public async Task Bind_cache_tmpfs_and_secret_mounts_reach_the_command_and_never_the_image()
    {
        await File.WriteAllTextAsync(Path.Combine(Context, "input.txt"), "from the context\n");
        await File.WriteAllTextAsync(Path.Combine(Context, "ignored.txt"), "ignored\n");
        await File.WriteAllTextAsync(Path.Combine(Context, ".dockerignore"), "ignored.txt\n");
        var secretFile = _dir.Combine("token.txt");
        const string Secret = "s3cr3t-T0KEN-value";
        await File.WriteAllTextAsync(secretFile, Secret);
        var dockerfile = $$"""
            FROM {{Base}} AS stage
            RUN echo built-in-stage > /artifact
            FROM {{Base}}
            RUN --mount=target=/ctx cat /ctx/input.txt > /copied && (busybox touch /ctx/new 2>/dev/null && echo writable || echo read-only) > /ctx-mode && (busybox test -e /ctx/ignored.txt && echo present || echo absent) > /ignored
            RUN --mount=type=bind,from=stage,source=/artifact,target=/mnt/artifact cat /mnt/artifact > /from-stage
            RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && busybox wc -l < /var/cache/app/log > /cache-runs
            RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/file && busybox grep -c tmpfs /proc/mounts > /tmpfs-mounted
            RUN --mount=type=secret,id=token busybox sha256sum /run/secrets/token | busybox cut -c1-64 > /secret-digest && busybox stat -c %a /run/secrets/token > /secret-mode
            RUN --mount=type=cache,target=/owned,id=owned,uid=1654,gid=1654,mode=0700 --mount=type=secret,id=token,target=/etc/token,uid=1654,mode=0440 busybox stat -c '%u:%g %a' /owned /etc/token > /owners
            RUN --mount=type=secret,id=token,env=TOKEN echo "token has ${#TOKEN} chars" > /secret-env && echo "careless: $TOKEN"
            """;
        var result = await BuildAsync(dockerfile, o => o with { Secrets = ImmutableDictionary<string, BuildSecret>.Empty.Add("token", BuildSecret.FromFile(secretFile)) });
        var tree = await TreeAsync(result);

        Assert.Equal("from the context\n", Content(Store, tree, "/copied"));
        Assert.Equal("read-only\n", Content(Store, tree, "/ctx-mode"));
        Assert.Equal("absent\n", Content(Store, tree, "/ignored"));
        Assert.Equal("built-in-stage\n", Content(Store, tree, "/from-stage"));
        Assert.Equal("1\n", Content(Store, tree, "/cache-runs"));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Secret))) + "\n", Content(Store, tree, "/secret-digest"));
        Assert.Equal("400\n", Content(Store, tree, "/secret-mode"));
        Assert.Equal("1654:1654 700\n1654:0 440\n", Content(Store, tree, "/owners"));
        Assert.Equal($"token has {Secret.Length} chars\n", Content(Store, tree, "/secret-env"));

        // No mount point, mount content or secret lands in a layer.
        string[] mountPoints = ["/ctx", "/mnt", "/var/cache/app", "/scratch", "/run/secrets", "/owned", "/etc/token"];
        foreach (var path in tree.Entries.Keys)
        {
            Assert.False(mountPoints.Any(m => path == m || path.StartsWith(m + "/", StringComparison.Ordinal)), $"{path} should not be in the image");
        }

        AssertSecretAbsent(Store, Secret);
        Assert.DoesNotContain(_progress, p => p.Message.Contains(Secret, StringComparison.Ordinal));
        Assert.Contains(_progress, p => p.Kind == BuildProgressKind.Output && p.Message == "careless: ****");

        // The cache mount outlives the build, in the store's private folder; a --no-cache rebuild runs the command again and sees it.
        var again = await BuildAsync(dockerfile, o => o with { NoCache = true, Secrets = ImmutableDictionary<string, BuildSecret>.Empty.Add("token", BuildSecret.FromFile(secretFile)) });
        Assert.Equal("2\n", Content(Store, await TreeAsync(again), "/cache-runs"));
        Assert.True(Directory.EnumerateFileSystemEntries(Path.Combine(Store, ".ocikit", "cache-mounts")).Any());
    }

    [Fact]
    public async Task A_missing_required_secret_fails_and_an_optional_one_is_left_out()
    {
        var ex = await Assert.ThrowsAsync<BuildException>(() => BuildAsync($"FROM {Base}\nRUN --mount=type=secret,id=absent,required true"));
        Assert.Equal(2, ex.Line);
        Assert.Contains("secret absent: not found", ex.Message, StringComparison.Ordinal);

        var result = await BuildAsync($"FROM {Base}\nRUN --mount=type=secret,id=absent (busybox test -e /run/secrets/absent && echo there || echo missing) > /optional");
        Assert.Equal("missing\n", Content(Store, await TreeAsync(result), "/optional"));
    }

    [Fact]
    public async Task Network_none_leaves_only_loopback_and_the_default_is_the_hosts()
    {
        var result = await BuildAsync($$"""
            FROM {{Base}}
            RUN --network=none busybox ip -o link | busybox awk -F': ' '{print $2}' > /none
            RUN busybox ip -o link | busybox awk -F': ' '{print $2}' > /default
            """);
        var tree = await TreeAsync(result);
        Assert.Equal("lo\n", Content(Store, tree, "/none"));
        var host = (await Tool.RunCheckedAsync("busybox", ["ip", "-o", "link"])).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.Equal(host, Content(Store, tree, "/default").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // A build-wide --network=none is the default of every RUN.
        var none = await BuildAsync($"FROM {Base}\nRUN busybox ip -o link | busybox wc -l > /count", o => o with { Network = ContainerNetwork.None });
        Assert.Equal("1\n", Content(Store, await TreeAsync(none), "/count"));
    }

    [Fact]
    public async Task Heredocs_run_through_the_shell_or_as_a_script()
    {
        var result = await BuildAsync($"""
            FROM {Base}
            RUN <<EOF
            echo one > /lone
            echo two >> /lone
            EOF
            RUN <<SCRIPT
            #!/bin/sh
            echo "script $0" > /script
            SCRIPT
            RUN cat <<A > /in-command && cat <<-B >> /in-command
            alpha
            A
            	beta
            	B
            """);
        var tree = await TreeAsync(result);
        Assert.Equal("one\ntwo\n", Content(Store, tree, "/lone"));
        Assert.Equal("script /dev/pipes/SCRIPT\n", Content(Store, tree, "/script"));
        Assert.Equal("alpha\nbeta\n", Content(Store, tree, "/in-command"));
        Assert.DoesNotContain(tree.Entries.Keys, p => p.StartsWith("/dev/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task History_shows_the_command_with_build_arguments_and_output_streams_to_progress()
    {
        var result = await BuildAsync($"""
            FROM {Base}
            ARG VERSION=1.0
            ARG EMPTY
            RUN echo "building $VERSION" && echo "to stderr" >&2
            RUN ["/bin/sh", "-c", "echo exec"]
            """, o => o with { BuildArgs = ImmutableDictionary<string, string>.Empty.Add("VERSION", "2.0") });
        var store = await OciLayout.OpenAsync(Store);
        var (image, _) = await store.ReadImageAsync("test/run:latest");
        var createdBy = image.Config.History.Select(h => h.CreatedBy).ToList();
        Assert.Contains("RUN |2 VERSION=2.0 EMPTY= /bin/sh -c echo \"building $VERSION\" && echo \"to stderr\" >&2", createdBy);
        Assert.Contains("RUN |2 VERSION=2.0 EMPTY= /bin/sh -c echo exec", createdBy);
        Assert.DoesNotContain(image.Config.Config?.Env ?? [], e => e.StartsWith("VERSION=", StringComparison.Ordinal));

        var output = _progress.Where(p => p.Kind == BuildProgressKind.Output).Select(p => (p.Line, p.Message)).ToList();
        Assert.Contains((4, "building 2.0"), output);
        Assert.Contains((4, "to stderr"), output);
        Assert.Contains((5, "exec"), output);
    }

    [Fact]
    public async Task A_failing_command_is_a_build_error_with_its_line_exit_code_and_output_and_commits_nothing()
    {
        await BuildAsync($"FROM {Base}\nRUN echo ok > /ok");
        var before = Snapshot(Store);
        var ex = await Assert.ThrowsAsync<BuildException>(() => BuildAsync($"""
            FROM {Base}
            RUN echo first > /first
            RUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "line $i"; done; echo partial > /partial; exit 3
            """));
        Assert.Equal(3, ex.Line);
        Assert.Equal(3, ex.ExitCode);
        Assert.Contains("exit code: 3", ex.Message, StringComparison.Ordinal);
        Assert.Equal(10, ex.OutputTail.Count);
        Assert.Equal("line 12", ex.OutputTail[^1]);
        Assert.Contains("line 12", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("line 2\n", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(Store));
    }

    [Fact]
    public async Task Rebuilds_hit_the_cache_and_clean_stores_give_the_same_digest()
    {
        await File.WriteAllTextAsync(Path.Combine(Context, "input.txt"), "v1\n");
        var dockerfile = $"""
            FROM {Base}
            RUN echo "$RANDOM$RANDOM" > /random && busybox mkdir -p /made/deep && echo x > /made/deep/file
            RUN --mount=target=/ctx cat /ctx/input.txt > /input
            """;
        var first = await BuildAsync(dockerfile);
        _progress.Clear();
        var second = await BuildAsync(dockerfile);
        Assert.Equal(first.Digest, second.Digest);
        Assert.All(_progress.Where(p => p.Kind == BuildProgressKind.Step && p.Message.StartsWith("RUN", StringComparison.Ordinal)), p => Assert.True(p.CacheHit));
        Assert.DoesNotContain(_progress, p => p.Kind == BuildProgressKind.Output);

        // A bind mount's content is part of the key.
        await File.WriteAllTextAsync(Path.Combine(Context, "input.txt"), "v2\n");
        _progress.Clear();
        var changed = await BuildAsync(dockerfile);
        Assert.NotEqual(first.Digest, changed.Digest);
        Assert.Equal([true, false], _progress.Where(p => p.Kind == BuildProgressKind.Step && p.Message.StartsWith("RUN", StringComparison.Ordinal)).Select(p => p.CacheHit == true));

        // Reproducible: with a deterministic command, two clean stores give the same image.
        var deterministic = $"FROM {Base}\nRUN busybox mkdir -p /a/b && echo x > /a/b/c && busybox ln -s c /a/b/l && busybox chmod 700 /a\nRUN busybox rm /a/b/l && busybox touch -d 2001-01-01 /a/b/c";
        var storeA = _dir.Combine("clean-a");
        var storeB = _dir.Combine("clean-b");
        BusyboxImage.WriteOciLayout(storeA, Base);
        BusyboxImage.WriteOciLayout(storeB, Base);
        var a = await BuildAsync(deterministic, store: storeA);
        var b = await BuildAsync(deterministic, store: storeB);
        Assert.Equal(a.Digest, b.Digest);
    }

    [Fact]
    public async Task An_image_built_with_RUN_runs_in_podman()
    {
        using var tools = new ContainerTools();
        await BuildAsync($"""
            FROM {Base}
            RUN echo 'u:x:1000:1000:u:/home/u:/bin/sh' >> /etc/passwd && busybox mkdir -p /home/u && busybox chown 1000:1000 /home/u && echo "made by RUN" > /message
            USER u
            WORKDIR /home/u
            CMD ["/bin/sh", "-c", "cat /message; id -u; pwd"]
            """);
        var archive = _dir.Combine("image.tar");
        await new OciKit.Transfer.ImageDelivery(await OciLayout.OpenAsync(Store)).WriteArchiveAsync("test/run:latest", ["test/run:latest"], archive, OciKit.Transfer.ArchiveFormat.Oci);
        (await tools.PodmanAsync(["load", "-i", archive])).EnsureSuccess();
        var output = (await tools.PodmanAsync(["run", "--rm", "--network=none", "localhost/test/run:latest"])).EnsureSuccess().StdOut;
        Assert.Equal("made by RUN\n1000\n/home/u\n", output);
    }

    private static void AssertSecretAbsent(string store, string secret)
    {
        var bytes = Encoding.UTF8.GetBytes(secret);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, "blobs"), "*", SearchOption.AllDirectories).Append(Path.Combine(store, "index.json")))
        {
            var content = File.ReadAllBytes(file);
            Assert.True(content.AsSpan().IndexOf(bytes) < 0, $"the secret is in {file}");
            foreach (var text in FileContents.Decompressed(content))
            {
                Assert.True(text.AsSpan().IndexOf(bytes) < 0, $"the secret is in {file} (decompressed)");
            }
        }

        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, ".ocikit"), "*", SearchOption.AllDirectories))
        {
            Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(bytes) < 0, $"the secret is in {file}");
        }
    }

    private static string Snapshot(string store) => string.Join('\n',
        Directory.EnumerateFiles(Path.Combine(store, "blobs"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Append(File.ReadAllText(Path.Combine(store, "index.json"))));

    /// <summary>Reports on the calling thread, in order.</summary>
    private sealed class SynchronousProgress(Action<BuildProgress> report) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => report(value);
    }
}

/// <summary>Finds a file's content in a store's layers by its digest, reading the layers independently of OciKit.</summary>
internal static class FileContents
{
    public static byte[] Find(string store, string sha256)
    {
        foreach (var blob in Directory.EnumerateFiles(Path.Combine(store, "blobs", "sha256")))
        {
            foreach (var tar in Decompressed(File.ReadAllBytes(blob)))
            {
                using var reader = new System.Formats.Tar.TarReader(new MemoryStream(tar));
                try
                {
                    while (reader.GetNextEntry() is { } entry)
                    {
                        if (entry.DataStream is null)
                        {
                            continue;
                        }

                        using var copy = new MemoryStream();
                        entry.DataStream.CopyTo(copy);
                        var bytes = copy.ToArray();
                        if (Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)) == sha256)
                        {
                            return bytes;
                        }
                    }
                }
                catch (InvalidDataException)
                {
                    // Not a tar (a config or manifest that happened to be gzip-free JSON).
                }
            }
        }

        throw new FileNotFoundException($"no layer of {store} holds content {sha256}");
    }

    /// <summary>The gzip-decompressed bytes when the blob is gzip; nothing otherwise.</summary>
    public static IEnumerable<byte[]> Decompressed(byte[] blob)
    {
        if (blob.Length > 2 && blob[0] == 0x1f && blob[1] == 0x8b)
        {
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(blob), System.IO.Compression.CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            yield return output.ToArray();
        }
    }
}
