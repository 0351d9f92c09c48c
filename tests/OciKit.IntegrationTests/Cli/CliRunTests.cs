using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>
/// <c>ocikit build</c> with RUN, then <c>ocikit run</c> (exit code, env, user, workdir, volumes, stdin) and the docker
/// tutorial's workflow: run --name, ps, diff, commit, run the committed image, rm.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliRunTests : IDisposable
{
    private readonly TempDir _dir = new("ocikit-cli-run");
    private readonly CliRun _cli;

    public CliRunTests()
    {
        _cli = new CliRun(_dir);
        BusyboxImage.WriteOciLayout(_cli.Store, "busybox:latest");
    }

    public void Dispose() => _dir.Dispose();

    private async Task BuildDemoAsync()
    {
        var context = _dir.Combine("context");
        Directory.CreateDirectory(context);
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), """
            FROM busybox:latest
            RUN echo "hello from RUN" > /greeting && echo "built it"
            ENV GREETING=hi
            USER app
            WORKDIR /home/app
            CMD ["/bin/sh", "-c", "cat /greeting; id -u; pwd"]
            """);
        var build = (await _cli.RunAsync("build", "-t", "demo:1", context)).Succeeded();
        Assert.Contains("built it", build.StdErr, StringComparison.Ordinal);

        var quiet = (await _cli.RunAsync("--quiet", "build", "-t", "demo:1", "--no-cache", context)).Succeeded();
        Assert.DoesNotContain("built it", quiet.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_passes_output_exit_code_env_user_workdir_volumes_and_stdin()
    {
        await BuildDemoAsync();
        var byDefault = (await _cli.RunAsync("run", "demo:1")).Succeeded();
        Assert.Equal($"hello from RUN\n{BusyboxImage.AppUid}\n/home/app\n", byDefault.StdOut);

        var failing = await _cli.RunAsync("run", "demo:1", "sh", "-c", "echo to-stderr >&2; exit 7");
        Assert.Equal(7, failing.ExitCode);
        Assert.Equal("to-stderr\n", failing.StdErr);

        var overridden = (await _cli.RunAsync("run", "-e", "A=1", "-e", "GREETING=bye", "-w", "/tmp", "-u", "0", "demo:1", "sh", "-c", "echo $A $GREETING; pwd; id -u")).Succeeded();
        Assert.Equal("1 bye\n/tmp\n0\n", overridden.StdOut);

        var envFile = _dir.Combine("vars.env");
        await File.WriteAllTextAsync(envFile, "# comment\nFROM_FILE=yes\n");
        Assert.Equal("yes\n", (await _cli.RunAsync("run", "--env-file", envFile, "demo:1", "sh", "-c", "echo $FROM_FILE")).Succeeded().StdOut);

        var host = _dir.Combine("shared");
        Directory.CreateDirectory(host);
        await File.WriteAllTextAsync(Path.Combine(host, "in.txt"), "from host\n");
        Assert.Equal("from host\n", (await _cli.RunAsync("run", "-u", "0", "-v", host + ":/mnt", "demo:1", "sh", "-c", "cat /mnt/in.txt; echo back > /mnt/out.txt")).Succeeded().StdOut);
        Assert.Equal("back\n", await File.ReadAllTextAsync(Path.Combine(host, "out.txt")));
        var readOnly = await _cli.RunAsync("run", "-u", "0", "-v", host + ":/mnt:ro", "demo:1", "sh", "-c", "echo x > /mnt/ro.txt");
        Assert.NotEqual(0, readOnly.ExitCode);
        Assert.False(File.Exists(Path.Combine(host, "ro.txt")));

        Assert.Equal("piped\n", (await _cli.RunWithInputAsync("piped\n", "run", "-i", "demo:1", "cat")).Succeeded().StdOut);
        Assert.Equal("", (await _cli.RunWithInputAsync("not passed\n", "run", "demo:1", "cat")).Succeeded().StdOut);

        Assert.Equal("lo\n", (await _cli.RunAsync("run", "--network", "none", "demo:1", "sh", "-c", "busybox ip -o link | busybox awk -F': ' '{print $2}'")).Succeeded().StdOut);

        // Nothing is kept of unnamed containers.
        Assert.Equal("", (await _cli.RunAsync("ps", "-a")).Succeeded().StdOut.Split('\n', 2)[1]);
    }

    [Fact]
    public async Task Run_with_a_name_then_ps_diff_commit_run_and_rm()
    {
        await BuildDemoAsync();
        (await _cli.RunAsync("run", "--name", "tutorial", "-u", "0", "demo:1", "sh", "-c", "echo changed > /home/app/new.txt; busybox rm /etc/group; echo more >> /greeting")).Succeeded();

        var ps = (await _cli.RunAsync("ps")).Succeeded().StdOut;
        Assert.DoesNotContain("tutorial", ps, StringComparison.Ordinal);
        var all = (await _cli.RunAsync("ps", "-a")).Succeeded().StdOut;
        Assert.Contains("tutorial", all, StringComparison.Ordinal);
        Assert.Contains("Exited (0)", all, StringComparison.Ordinal);

        var diff = (await _cli.RunAsync("diff", "tutorial")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("A /home/app/new.txt", diff);
        Assert.Contains("D /etc/group", diff);
        Assert.Contains("C /greeting", diff);

        // The container keeps its image: removing the name and pruning does not take its blobs.
        (await _cli.RunAsync("rmi", "demo:1")).Succeeded();
        (await _cli.RunAsync("prune")).Succeeded();
        (await _cli.RunAsync("commit", "--change", "CMD [\"cat\", \"/home/app/new.txt\", \"/greeting\"]", "--change", "ENV COMMITTED=1", "tutorial", "demo:2")).Succeeded();
        Assert.Equal("changed\nhello from RUN\nmore\n", (await _cli.RunAsync("run", "demo:2")).Succeeded().StdOut);
        Assert.Equal("1\nno-group\n", (await _cli.RunAsync("run", "demo:2", "sh", "-c", "echo $COMMITTED; busybox test -e /etc/group || echo no-group")).Succeeded().StdOut);

        (await _cli.RunAsync("run", "--name", "tutorial", "demo:2", "true")).FailedWith(1, "already in use");
        (await _cli.RunAsync("rm", "tutorial")).Succeeded();
        Assert.DoesNotContain("tutorial", (await _cli.RunAsync("ps", "-a")).Succeeded().StdOut, StringComparison.Ordinal);
        (await _cli.RunAsync("diff", "tutorial")).FailedWith(1, "No such container");
    }

    [Fact]
    public async Task The_busybox_run_sample_builds_and_runs_as_the_README_shows()
    {
        var context = _dir.Combine("sample");
        Directory.CreateDirectory(context);
        File.Copy(OciKit.Testing.TestPaths.InRepo("samples", "busybox-run", "Dockerfile"), Path.Combine(context, "Dockerfile"));
        File.Copy("/bin/busybox", Path.Combine(context, "busybox"));
        (await _cli.RunAsync("build", "-t", "busybox-run", context)).Succeeded();
        Assert.Equal("Hello from a RUN step\nrunning as app in /home/app\n", (await _cli.RunAsync("run", "busybox-run")).Succeeded().StdOut);
    }
}

/// <summary><c>ocikit run</c> of an image the store does not hold pulls it first.</summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliRunPullTests(RegistryFixture fixture)
{
    [Fact]
    public async Task Run_pulls_a_missing_image_then_runs_it()
    {
        using var dir = new TempDir("ocikit-cli-run-pull");
        var cli = new CliRun(dir);
        var result = (await cli.RunAsync("run", fixture.BaseImage, "echo", "pulled", "-n")).Succeeded();
        Assert.Equal("pulled -n\n", result.StdOut);
        Assert.Contains(fixture.BaseDigest, (await cli.RunAsync("images", "--digests")).StdOut + (await cli.RunAsync("inspect", fixture.BaseImage)).StdOut, StringComparison.Ordinal);
    }
}
