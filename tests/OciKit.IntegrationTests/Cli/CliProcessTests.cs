using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>The CLI as a real process, as the README runs it: exit codes, stdout and the store environment variable.</summary>
[Collection(RegistryCollection.Name)]
public class CliProcessTests(RegistryFixture fixture)
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    /// <summary>A process environment whose store, Docker config and home are inside <paramref name="dir"/>.</summary>
    private static Dictionary<string, string?> Isolated(TempDir dir) => new()
    {
        ["OCIKIT_STORE"] = dir.Combine("store"),
        ["DOCKER_CONFIG"] = dir.Combine("docker"),
        ["HOME"] = dir.Path,
    };

    [Fact]
    public async Task The_process_pulls_lists_and_fails_with_the_documented_exit_codes()
    {
        using var dir = new TempDir();
        var environment = Isolated(dir);

        var pull = await Tool.RunCheckedAsync("dotnet", [Cli, "pull", fixture.BaseImage], environment);
        Assert.Equal(fixture.BaseDigest, pull.StdOut.TrimEnd('\n').Split('\n')[^1]);
        Assert.True(File.Exists(dir.Combine("store", "index.json")));

        var images = await Tool.RunCheckedAsync("dotnet", [Cli, "images"], environment);
        Assert.Contains($"{fixture.Registry.Host}/{RegistryFixture.BaseRepository}", images.StdOut, StringComparison.Ordinal);

        var bad = await Tool.RunAsync("dotnet", [Cli, "copy", "only-one-argument"], environment);
        Assert.Equal(1, bad.ExitCode);
        Assert.Single(bad.StdErr.TrimEnd('\n').Split('\n'));

        var unreachable = await Tool.RunAsync("dotnet", [Cli, "pull", "127.0.0.1:9/nothing:1"], environment);
        Assert.Equal(2, unreachable.ExitCode);
    }

    [Fact]
    public async Task The_readme_main_job_builds_samples_hello_into_the_store_reproducibly()
    {
        using var dir = new TempDir();
        var environment = Isolated(dir);
        var hello = Path.Combine(OciKit.Testing.TestPaths.RepoRoot, "samples", "hello");

        // The README's first command, run as the built tool: the digest is the last line of stdout.
        var first = await Tool.RunCheckedAsync("dotnet", [Cli, "build", hello, "-t", "hello:latest"], environment);
        var digest = first.StdOut.TrimEnd('\n').Split('\n')[^1];
        Assert.Matches("^sha256:[0-9a-f]{64}$", digest);

        var images = await Tool.RunCheckedAsync("dotnet", [Cli, "images"], environment);
        Assert.Contains(images.StdOut.Split('\n'), line => line.StartsWith("hello ", StringComparison.Ordinal) && line.Contains(" latest ", StringComparison.Ordinal));
        Assert.Equal(digest + "\n", (await Tool.RunCheckedAsync("dotnet", [Cli, "digest", "hello:latest"], environment)).StdOut);

        // Same inputs, same digest, even with the build cache cleared by a fresh store.
        var again = await Tool.RunCheckedAsync("dotnet", [Cli, "--store", dir.Combine("other"), "build", hello, "-t", "hello:latest"], environment);
        Assert.Equal(digest, again.StdOut.TrimEnd('\n').Split('\n')[^1]);

        // An independent client reads what we stored (the store is an OCI layout; a bare reference would mean a registry).
        await Tool.RunCheckedAsync("dotnet", [Cli, "copy", "oci:" + dir.Combine("store") + ":hello:latest", "oci:" + dir.Combine("exported") + ":hello"], environment);
        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "oci:" + dir.Combine("exported") + ":hello"]);
        Assert.Contains(digest, inspect.StdOut, StringComparison.Ordinal);
        Assert.Contains("A tiny sample image built without a daemon", inspect.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_native_aot_cli_builds_the_same_image_and_pushes_and_pulls_through_retried_registry_failures()
    {
        // ./test.sh publishes the CLI as the README tells users to for speed (NativeAOT) before the tests run.
        var native = OciKit.Testing.TestPaths.InRepo(".test-output", "ocikit-native", "OciKit.Cli");
        Assert.True(File.Exists(native), $"{native} is missing: ./test.sh publishes it before the tests (dotnet publish samples/OciKit.Cli -c Release -r linux-x64 -o .test-output/ocikit-native)");
        using var dir = new TempDir();
        var environment = Isolated(dir);
        var hello = Path.Combine(OciKit.Testing.TestPaths.RepoRoot, "samples", "hello");

        // Ahead-of-time compiled (no reflection-based JSON, trimmed) yet the same bytes as the JIT-compiled tool.
        var jit = await Tool.RunCheckedAsync("dotnet", [Cli, "--store", dir.Combine("jit"), "build", hello, "-t", "hello:latest"], environment);
        var aot = await Tool.RunCheckedAsync(native, ["build", hello, "-t", "hello:latest"], environment);
        var digest = aot.StdOut.TrimEnd('\n').Split('\n')[^1];
        Assert.Equal(jit.StdOut.TrimEnd('\n').Split('\n')[^1], digest);

        // The retry pipeline (built only after a first failure) works in the native executable too.
        using var proxy = new FaultProxy(fixture.Registry.BaseUri);
        proxy.Add("PUT", "/manifests/native", new Fault.Status(503), times: 2);
        proxy.Add("GET", "/manifests/native", new Fault.Status(429, new Dictionary<string, string> { ["Retry-After"] = "0" }));
        var target = $"{proxy.Host}/cli/native-hello:native";
        await Tool.RunCheckedAsync(native, ["--no-progress", "push", "hello:latest", target], environment);
        var pull = await Tool.RunCheckedAsync(native, ["--store", dir.Combine("pulled"), "--no-progress", "pull", target], environment);
        Assert.Equal(digest, pull.StdOut.TrimEnd('\n').Split('\n')[^1]);
        Assert.Equal(3, proxy.Requests.Count(r => r.Fault is not null));
        Assert.Contains(proxy.Requests, r => r.Method == "PUT" && r.Fault is null && r.PathAndQuery.Contains("/manifests/native", StringComparison.Ordinal));

        var inspect = await Tool.RunCheckedAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{fixture.Registry.Host}/cli/native-hello:native"]);
        Assert.Contains(digest, inspect.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_native_aot_cli_builds_with_RUN_and_runs_a_container_in_a_terminal()
    {
        var native = OciKit.Testing.TestPaths.InRepo(".test-output", "ocikit-native", "OciKit.Cli");
        Assert.True(File.Exists(native), $"{native} is missing: ./test.sh publishes it before the tests (dotnet publish samples/OciKit.Cli -c Release -r linux-x64 -o .test-output/ocikit-native)");
        using var dir = new TempDir();
        var environment = Isolated(dir);
        BusyboxImage.WriteOciLayout(dir.Combine("store"), "busybox:latest");
        var context = dir.Combine("context");
        Directory.CreateDirectory(context);
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM busybox:latest\nRUN echo built-by-RUN > /built\n");

        // RUN from the trimmed, ahead-of-time compiled executable: the runtime spec and the container records are
        // written without reflection.
        await Tool.RunCheckedAsync(native, ["build", "-t", "ran:1", context], environment);

        // -t with a terminal, as from a user's shell: script(1) gives the CLI one. Inside, the process has a terminal
        // of its own (runc makes it) and the exit code comes back. The caller's terminal is put into raw mode meanwhile,
        // as docker run -t does: otherwise each CR LF of the inner terminal reaches script's as CR CR LF. Tool reads
        // output by lines, where CR LF and a lone CR each end one, so a doubled CR shows as an empty line.
        var command = $"{native} run -t ran:1 sh -c 'cat /built; /bin/busybox tty; test -t 0 && test -t 1 && echo both-are-terminals; exit 5'";
        var result = await Tool.RunAsync("script", ["--quiet", "--return", "--command", command, "/dev/null"], environment);
        Assert.True(result.ExitCode == 5, $"exit {result.ExitCode}\nstdout: {result.StdOut}\nstderr: {result.StdErr}");
        Assert.Matches(@"built-by-RUN\n/dev/pts/[0-9]+\nboth-are-terminals\n$", result.StdOut);
        Assert.DoesNotContain("\n\n", result.StdOut, StringComparison.Ordinal);
    }
}
