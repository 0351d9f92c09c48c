using System.Collections;
using System.Diagnostics;
using Microsoft.Build.Framework;
using OciKit.IntegrationTests.Harness;
using OciKit.MSBuild;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>The out-of-process host as test.sh publishes it (NativeAOT).</summary>
public static class MSBuildHost
{
    /// <summary>Its path; a missing host fails the tests that need it, with how to make it.</summary>
    public static string Executable
    {
        get
        {
            var host = OciKit.Testing.TestPaths.InRepo(".test-output", "ocikit-msbuild-host", "ocikit-msbuild-host");
            Assert.True(File.Exists(host), $"{host} is missing: ./test.sh publishes it before the tests (dotnet publish src/OciKit.MSBuild.Host -c Release -r linux-x64 -o .test-output/ocikit-msbuild-host)");
            return host;
        }
    }
}

/// <summary>
/// The <c>OciKitContainerize</c> task itself, in this process, in both modes: in process and in the NativeAOT host that
/// <c>./test.sh</c> publishes (<c>.test-output/ocikit-msbuild-host</c>), against the test registry.
/// </summary>
[Collection(RegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OciKitContainerizeTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDir _dir = new("ocikit-task");

    private static string Host => MSBuildHost.Executable;

    [Fact]
    public async Task Out_of_process_in_process_and_the_fallbacks_without_a_usable_host_give_the_same_image_and_outputs()
    {
        var publish = await PublishDirectoryAsync();
        var (outOfProcess, outEngine) = Run(publish, "task/same", "out", task => task.HostPath = Host);
        var (inProcess, inEngine) = Run(publish, "task/same", "in", task => task.OutOfProcess = false);
        var (fallback, fallbackEngine) = Run(publish, "task/same", "fallback", task => task.HostPath = _dir.Combine("no-such-host"));
        var broken = _dir.Combine("not-a-program");
        await File.WriteAllTextAsync(broken, "not a program\n");
        File.SetUnixFileMode(broken, (UnixFileMode)0x1ED);
        var (unstartable, unstartableEngine) = Run(publish, "task/same", "unstartable", task => task.HostPath = broken);

        foreach (var (task, engine) in new[] { (outOfProcess, outEngine), (inProcess, inEngine), (fallback, fallbackEngine), (unstartable, unstartableEngine) })
        {
            Assert.True(engine.Errors.Count == 0, string.Join('\n', engine.Errors.Select(e => e.Message)));
            Assert.Equal(outOfProcess.ImageDigest, task.ImageDigest);
            Assert.Equal(Items(outOfProcess.GeneratedImages), Items(task.GeneratedImages));
            Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.Normal && m.Message!.StartsWith("Layer App: 2 file(s), ", StringComparison.Ordinal) && m.Message.Contains(" → sha256:", StringComparison.Ordinal));
            Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.High && m.Message!.Contains(outOfProcess.ImageDigest, StringComparison.Ordinal));
        }

        Assert.StartsWith("sha256:", outOfProcess.ImageDigest, StringComparison.Ordinal);
        Assert.Contains(outEngine.Messages, m => m.Message!.StartsWith("OciKit: running out of process: ", StringComparison.Ordinal));
        Assert.Contains(outEngine.Messages, m => m.Importance == MessageImportance.Low && m.Message!.StartsWith("OciKit timing: ", StringComparison.Ordinal));
        Assert.DoesNotContain(inEngine.Messages, m => m.Message!.Contains("out of process", StringComparison.Ordinal));
        Assert.Contains(fallbackEngine.Messages, m => m.Message!.StartsWith("OciKit: no out-of-process host at ", StringComparison.Ordinal));
        Assert.DoesNotContain(fallbackEngine.Messages, m => m.Message!.StartsWith("OciKit: running out of process", StringComparison.Ordinal));
        Assert.Contains(unstartableEngine.Messages, m => m.Message!.StartsWith($"OciKit: the out-of-process host {broken} does not start", StringComparison.Ordinal));
        Assert.DoesNotContain(unstartableEngine.Messages, m => m.Message!.StartsWith("OciKit: running out of process", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_error_in_the_host_is_the_coded_error_the_task_logs_in_process()
    {
        var publish = await PublishDirectoryAsync();
        void Missing(OciKitContainerize task) => task.BaseImage = $"{registry.Registry.Host}/base/missing:1";
        var (outOfProcess, outEngine) = Run(publish, "task/missing", "out", task => { Missing(task); task.HostPath = Host; });
        var (_, inEngine) = Run(publish, "task/missing", "in", task => { Missing(task); task.OutOfProcess = false; });

        var error = Assert.Single(outEngine.Errors);
        Assert.Equal(ErrorCodes.BaseImageNotFound, error.Code);
        Assert.Contains("base/missing:1", error.Message, StringComparison.Ordinal);
        var expected = Assert.Single(inEngine.Errors);
        Assert.Equal((expected.Code, expected.Message), (error.Code, error.Message));
        Assert.Equal(string.Empty, outOfProcess.ImageDigest);
    }

    [Fact]
    public async Task Cancel_stops_the_host_and_logs_the_cancelled_code()
    {
        var publish = await PublishDirectoryAsync();
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        proxy.Add("GET", "/manifests/", new Fault.Delay(TimeSpan.FromMinutes(5)), times: 10);
        var engine = new RecordingEngine();
        var task = NewTask(publish, "task/cancelled", "cancelled", engine);
        task.BaseImage = $"{proxy.Host}/{RegistryFixture.BaseRepository}:latest";
        task.HostPath = Host;
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        task.HostStarted = pid => started.TrySetResult(pid);

        var execute = Task.Run(task.Execute);
        var pid = await started.Task.WaitAsync(TimeSpan.FromMinutes(1));
        await WaitUntilAsync(() => proxy.Requests.Any(r => r.Method == "GET" && r.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal)));
        Assert.False(execute.IsCompleted);
        task.Cancel();

        Assert.False(await execute.WaitAsync(TimeSpan.FromMinutes(1)));
        var error = Assert.Single(engine.Errors);
        Assert.Equal((ErrorCodes.Cancelled, "OciPublish was cancelled."), (error.Code, error.Message));
        Assert.False(IsRunning(pid), $"the host (pid {pid}) still runs after the task was cancelled");
        Assert.DoesNotContain(proxy.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task The_passphrase_reaches_the_host_through_the_environment_only()
    {
        var publish = await PublishDirectoryAsync();
        var variable = "OCIKIT_IT_PASSPHRASE_" + Guid.NewGuid().ToString("N");
        var passphrase = "passphrase " + Guid.NewGuid().ToString("N");
        using (var key = OciKit.Signing.SigningKey.Generate(OciKit.Signing.SigningKeyType.EcdsaP256))
        {
            await OciKit.Signing.KeyFiles.WriteAsync(key, _dir.Combine("signer"), passphrase);
        }

        string? job = null, commandLine = null, jobDirectory = null;
        UnixFileMode jobMode = default, directoryMode = default;
        Environment.SetEnvironmentVariable(variable, passphrase);
        try
        {
            var (task, engine) = Run(publish, "task/signed", "signed", task =>
            {
                task.HostPath = Host;
                task.SigningKey = _dir.Combine("signer.key");
                task.SigningKeyPassphraseEnvironmentVariable = variable;
                task.HostStarted = pid =>
                {
                    // The host's arguments: the job file and the outcome file, in a directory of their own.
                    var arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
                    commandLine = string.Join(' ', arguments);
                    job = File.ReadAllText(arguments[1]);
                    jobMode = File.GetUnixFileMode(arguments[1]);
                    jobDirectory = Path.GetDirectoryName(arguments[1]);
                    directoryMode = File.GetUnixFileMode(jobDirectory!);
                };
            });

            Assert.True(engine.Errors.Count == 0, string.Join('\n', engine.Errors.Select(e => e.Message)));
            var signature = Assert.Single(task.GeneratedSignatures);
            Assert.Equal(task.ImageDigest, signature.GetMetadata("Subject"));
            Assert.NotNull(job);
            Assert.Contains(variable, job, StringComparison.Ordinal);
            Assert.DoesNotContain(passphrase, job, StringComparison.Ordinal);
            Assert.DoesNotContain(passphrase, commandLine, StringComparison.Ordinal);
            Assert.DoesNotContain(engine.Messages, m => m.Message!.Contains(passphrase, StringComparison.Ordinal));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, jobMode);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, directoryMode);
            Assert.False(Directory.Exists(jobDirectory), $"the job directory {jobDirectory} was left behind");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task The_inputs_the_task_writes_map_to_the_job_it_would_run_in_process()
    {
        var publish = await PublishDirectoryAsync();
        var task = NewTask(publish, "task/json", "json", new RecordingEngine());
        var port = new Microsoft.Build.Utilities.TaskItem("8080");
        port.SetMetadata("Type", "UDP");
        task.Ports = [port, new Microsoft.Build.Utilities.TaskItem("53/udp")];
        var empty = new Microsoft.Build.Utilities.TaskItem("EMPTY");
        empty.SetMetadata("Value", string.Empty);
        task.EnvironmentVariables = [new Microsoft.Build.Utilities.TaskItem("A=1"), new Microsoft.Build.Utilities.TaskItem("B=x=y"), empty];
        task.Labels = [new Microsoft.Build.Utilities.TaskItem("team=web")];
        task.AppCommandArgs = ["--flag"];
        task.ImageFormat = "Docker";
        task.RuntimeIdentifier = "linux-arm64";
        task.ArchiveOutputPath = _dir.Combine("out") + "/";
        task.SigningKey = _dir.Combine("signer.key");
        task.SigningKeyPassphraseEnvironmentVariable = "SOME_VARIABLE";
        task.TrustPolicy = _dir.Combine("policy.json");
        task.GenerateSbom = true;
        task.CacheRepository = "cache/app";
        var file = new Microsoft.Build.Utilities.TaskItem(Path.Combine(publish, "app.dll"));
        file.SetMetadata("RelativePath", "app.dll");
        file.SetMetadata("Unrelated", "not carried");
        task.PublishedFiles = [file];

        var inputs = task.CollectInputs();
        var path = _dir.Combine("inputs.json");
        ContainerizeWire.WriteInputs(path, inputs);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.DoesNotContain("not carried", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
        var read = ContainerizeWire.ReadInputs(path);
        Assert.Throws<IOException>(() => ContainerizeWire.WriteInputs(path, inputs));

        var expected = ContainerizeJob.FromInputs(inputs);
        var job = ContainerizeJob.FromInputs(read);
        var request = Assert.Single(job.Requests);
        Assert.Equal(expected.Requests[0].BaseImage, request.BaseImage);
        Assert.Equal(Platform.LinuxArm64, request.Platform);
        Assert.Equal(expected.Requests[0].Files.ToArray(), request.Files.ToArray());
        Assert.Equal(["app", "app.dll"], request.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["8080/udp", "53/udp"], request.Ports.ToArray());
        Assert.Equal([new("A", "1"), new("B", "x=y"), new("EMPTY", string.Empty)], request.Environment.ToArray());
        Assert.Equal([new("team", "web")], request.Labels.ToArray());
        Assert.Equal(["--flag"], request.Entrypoint.AppCommandArgs.ToArray());
        Assert.Equal(OciKit.Publish.ContainerImageFormat.Docker, request.Format);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), request.Created);
        Assert.Equal($"{registry.Registry.Host}/cache/app:ocikit-cache", request.CacheRepository?.ToString());
        Assert.Equal((task.SigningKey, "SOME_VARIABLE", task.TrustPolicy, true), (job.SigningKey, job.PassphraseVariable, job.TrustPolicy, job.GenerateSbom));
        Assert.Equal(expected.UserAgent, job.UserAgent);

        // A value the mapping refuses is refused where the work runs, with the code the task logged before.
        var bad = Assert.Throws<ArgumentException>(() => ContainerizeJob.FromInputs(read with { ImageFormat = "Tarball" }));
        Assert.Equal(ErrorCodes.InvalidConfiguration, ErrorCodes.For(bad));
    }

    /// <inheritdoc />
    [Theory]
    [InlineData(true, "publish", "-t:OciPublish")]
    [InlineData(true, "/t:Build;OciPublish")]
    [InlineData(true, "--target:ociPUBLISH")]
    [InlineData(true, "-target:Restore,OciPublish")]
    [InlineData(false, "publish", "-p:OciPublish=true")]
    [InlineData(false, "-t:PublishContainer")]
    [InlineData(false, "-t:OciPublishFoo")]
    [InlineData(false, "OciPublish")]
    public void The_host_starts_with_the_publish_only_when_OciPublish_is_among_the_targets_asked_for(bool expected, params string[] commandLine)
        => Assert.Equal(expected, OciKitStartHost.RequestsOciPublish(commandLine));

    public void Dispose() => _dir.Dispose();

    private (OciKitContainerize Task, RecordingEngine Engine) Run(string publish, string repository, string name, Action<OciKitContainerize> configure)
    {
        var engine = new RecordingEngine();
        var task = NewTask(publish, repository, name, engine);
        configure(task);
        var succeeded = task.Execute();
        Assert.Equal(engine.Errors.Count == 0, succeeded);
        return (task, engine);
    }

    private OciKitContainerize NewTask(string publish, string repository, string name, RecordingEngine engine) => new()
    {
        BuildEngine = engine,
        PublishDirectory = publish,
        AssemblyName = "app",
        BaseImage = registry.BaseImage,
        Registry = registry.Registry.Host,
        Repository = repository,
        Tags = ["1", "latest"],
        User = "1654",
        Created = "1700000000",
        StorePath = _dir.Combine("store-" + name),
    };

    private async Task<string> PublishDirectoryAsync()
    {
        var publish = Directory.CreateDirectory(_dir.Combine("publish")).FullName;
        await File.WriteAllTextAsync(Path.Combine(publish, "app"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(publish, "app"), (UnixFileMode)0x1ED);
        await File.WriteAllTextAsync(Path.Combine(publish, "app.dll"), "not really an assembly");
        return publish;
    }

    private static string[] Items(ITaskItem[] items)
        => [.. items.Select(i => $"{i.ItemSpec} {i.GetMetadata("Digest")} {i.GetMetadata("ManifestMediaType")}")];

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited && process.ProcessName.StartsWith("ocikit-msbuild", StringComparison.Ordinal);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    /// <summary>An MSBuild engine that records what the task logs.</summary>
    private sealed class RecordingEngine : IBuildEngine
    {
        private readonly List<BuildErrorEventArgs> _errors = [];
        private readonly List<BuildMessageEventArgs> _messages = [];

        public IReadOnlyList<BuildErrorEventArgs> Errors { get { lock (_errors) { return [.. _errors]; } } }

        public IReadOnlyList<BuildMessageEventArgs> Messages { get { lock (_messages) { return [.. _messages]; } } }

        public bool ContinueOnError => false;

        public int LineNumberOfTaskNode => 0;

        public int ColumnNumberOfTaskNode => 0;

        public string ProjectFileOfTaskNode => "test.proj";

        public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => throw new NotSupportedException();

        public void LogCustomEvent(CustomBuildEventArgs e)
        {
        }

        public void LogErrorEvent(BuildErrorEventArgs e)
        {
            lock (_errors)
            {
                _errors.Add(e);
            }
        }

        public void LogMessageEvent(BuildMessageEventArgs e)
        {
            lock (_messages)
            {
                _messages.Add(e);
            }
        }

        public void LogWarningEvent(BuildWarningEventArgs e) => throw new Xunit.Sdk.XunitException("unexpected warning: " + e.Message);
    }
}
