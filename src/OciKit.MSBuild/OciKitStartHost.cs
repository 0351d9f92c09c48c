using System.Diagnostics;
using System.Text;
using Microsoft.Build.Framework;
using MSBuildTask = Microsoft.Build.Utilities.Task;
using TaskLoggingHelper = Microsoft.Build.Utilities.TaskLoggingHelper;

namespace OciKit.MSBuild;

/// <summary>
/// Starts the out-of-process host at the beginning of <c>OciPublish</c>, before the project is compiled and published,
/// so that the host's start, its registry probes (scheme and authentication challenge), its store and its hash library
/// are ready by the time <see cref="OciKitContainerize"/> hands it the job, instead of on the job's path. The host only
/// reads while it waits (<c>GET /v2/</c>); it is registered with the build, which stops it when the build ends without
/// having handed it a job (a failed compile, an up-to-date image). Never fails the build: without a host, the
/// containerize task starts its own, or runs in process.
/// </summary>
public sealed class OciKitStartHost : MSBuildTask
{
    /// <summary><c>ContainerRegistry</c>: the registry to probe, optional.</summary>
    public string? Registry { get; set; }

    /// <summary><c>ContainerBaseImage</c>: the base image whose registry to probe, optional.</summary>
    public string? BaseImage { get; set; }

    /// <summary><c>OciKitStorePath</c>: the store to open, optional (the default store).</summary>
    public string? StorePath { get; set; }

    /// <summary><c>ContainerRepository</c>: the repository pushed to, optional.</summary>
    public string? Repository { get; set; }

    /// <summary><c>ContainerImageTags</c>: the tags (the first is read), optional.</summary>
    public string? Tags { get; set; }

    /// <summary><c>ContainerCacheRepository</c>: the registry cache, optional.</summary>
    public string? CacheRepository { get; set; }

    /// <summary>
    /// Started from the beginning of a publish (before the project is compiled), which may or may not go on to
    /// <c>OciPublish</c>: then the host starts only when it will (<c>OciPublishOnPublish</c>, or <c>OciPublish</c> among
    /// the targets on MSBuild's command line, as <c>dotnet publish -t:OciPublish</c> puts it there), since it reads from
    /// the registries while it waits.
    /// </summary>
    public bool OnlyWhenRequested { get; set; }

    /// <summary><c>OciPublishOnPublish</c>: every publish containerizes.</summary>
    public bool OnPublish { get; set; }

    /// <summary>
    /// <c>@(IntermediateAssembly)</c>, the compiler's output: when the call that starts the host names it, a later call
    /// with <see cref="Compiled"/> (which names nothing else) after the compiler tells the host whether it wrote it anew.
    /// </summary>
    public string? IntermediateAssembly { get; set; }

    /// <summary>
    /// Called after the compiler (<c>CoreCompile</c>) rather than to start the host: when the project's host was started
    /// and <see cref="IntermediateAssembly"/> was written since, a publish with a new app layer is sure to follow, and
    /// the host opens the upload sessions that push will take meanwhile (a round trip off the push's path). An
    /// up-to-date project opens none.
    /// </summary>
    public bool Compiled { get; set; }

    /// <summary>Whether this call started the project's host (for the condition of the call after the compiler).</summary>
    [Output]
    public bool Started { get; private set; }

    /// <summary>The host executable, when not the one beside the task assembly (tests).</summary>
    internal string? HostPath { get; set; }

    /// <summary>The command line looked at for <see cref="OnlyWhenRequested"/> (tests); the process's by default.</summary>
    internal string[]? CommandLine { get; set; }

    /// <inheritdoc />
    public override bool Execute()
    {
        var key = EarlyHost.Key(BuildEngine.ProjectFileOfTaskNode);
        if (Compiled)
        {
            if (BuildEngine is IBuildEngine4 registered && registered.GetRegisteredTaskObject(key, RegisteredTaskObjectLifetime.Build) is PendingEarlyHost pending
                && pending.AssemblyWritten())
            {
                Log.LogMessage(MessageImportance.Low, "OciKit: the project was compiled anew: the host started ahead opens its upload sessions");
                pending.PrepareUploads();
            }

            return true;
        }

        if (BuildEngine is not IBuildEngine4 engine
            || engine.GetRegisteredTaskObject(key, RegisteredTaskObjectLifetime.Build) is not null
            || (OnlyWhenRequested && !OnPublish && !RequestsOciPublish(CommandLine ?? Environment.GetCommandLineArgs())))
        {
            return true;
        }

        if (HostLocator.Find(HostPath, Log) is not { } host)
        {
            return true;
        }

        // Started off the build's thread: the build goes on (to the compiler) while the process starts.
        (string, string?)[] settings =
        [
            ("userAgent", OciKitContainerize.UserAgentValue), ("store", StorePath), ("registry", Registry), ("repository", Repository),
            ("tags", Tags), ("cache", CacheRepository), ("base", BaseImage),
        ];
        Log.LogMessage(MessageImportance.Low, $"OciKit: starting the out-of-process host ahead of its job: {host}");
        engine.RegisterTaskObject(key, new PendingEarlyHost(Task.Run(() => EarlyHost.Start(host, settings)), IntermediateAssembly), RegisteredTaskObjectLifetime.Build, allowEarlyCollection: false);
        Started = true;
        return true;
    }

    /// <summary>Whether a command line asks MSBuild for <c>OciPublish</c> (<c>-t:</c>, <c>/t:</c>, <c>--target:</c>, lists with <c>;</c> or <c>,</c>).</summary>
    internal static bool RequestsOciPublish(IEnumerable<string> commandLine)
    {
        foreach (var argument in commandLine)
        {
            if (argument.Length < 3 || (argument[0] != '-' && argument[0] != '/'))
            {
                continue;
            }

            var colon = argument.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? string.Empty : argument[..colon].TrimStart('-', '/');
            if ((name.Equals("t", StringComparison.OrdinalIgnoreCase) || name.Equals("target", StringComparison.OrdinalIgnoreCase))
                && argument[(colon + 1)..].Split([';', ','], StringSplitOptions.TrimEntries).Any(t => t.Trim('"').Equals("OciPublish", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// A host started by <see cref="OciKitStartHost"/> and waiting for its job: registered with the build until
/// <see cref="OciKitContainerize"/> takes it (<see cref="Take"/>); disposed by the build when it ends without having
/// been taken, which closes its standard input (so it exits) and kills it should it not.
/// </summary>
internal sealed class EarlyHost : IDisposable
{
    private readonly Lock _input = new();

    private EarlyHost(Process process, string executable, StringBuilder errors)
    {
        Process = process;
        Executable = executable;
        Errors = errors;
    }

    /// <summary>The process, its standard streams redirected.</summary>
    public Process Process { get; }

    /// <summary>What it wrote to standard error.</summary>
    public StringBuilder Errors { get; }

    /// <summary>Its executable.</summary>
    public string Executable { get; }

    /// <summary>Where a project's early host is registered with the build.</summary>
    /// <param name="project">The project file.</param>
    /// <returns>The key.</returns>
    public static string Key(string project) => "OciKit.MSBuild.EarlyHost|" + project;

    /// <summary>Takes the project's early host from the build, when there is one still running.</summary>
    /// <param name="engine">The build engine.</param>
    /// <returns>The host, now the caller's to dispose; or null.</returns>
    public static EarlyHost? Take(IBuildEngine4 engine)
    {
        var pending = engine.UnregisterTaskObject(Key(((IBuildEngine)engine).ProjectFileOfTaskNode), RegisteredTaskObjectLifetime.Build) as PendingEarlyHost;
        var host = pending?.Started();
        if (host is not null && HasExited(host.Process))
        {
            host.Dispose();
            return null;
        }

        return host;
    }

    /// <summary>Starts the host in its waiting mode, with the settings it readies for; null when it does not start (the job then starts one).</summary>
    public static EarlyHost? Start(string executable, IEnumerable<(string Name, string? Value)> settings)
    {
        var start = ContainerizeHostProcess.StartInfo(executable);
        start.ArgumentList.Add(ContainerizeHostProtocol.WaitFlag);
        foreach (var (name, value) in settings)
        {
            start.ArgumentList.Add($"{name}={value}");
        }

        try
        {
            if (Process.Start(start) is not { } process)
            {
                return null;
            }

            return new EarlyHost(process, executable, ContainerizeHostProcess.CollectErrors(process));
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            // Nothing to log to from here: the task has returned. The job starts its own host, and says why if it cannot.
            return null;
        }
    }

    /// <summary>Hands the host its job; false when it is gone (the caller then starts another).</summary>
    /// <param name="inputsPath">The inputs' file.</param>
    /// <param name="outcomePath">The outcome's file.</param>
    /// <returns>Whether the host has its job.</returns>
    public bool HandOver(string inputsPath, string outcomePath) =>
        inputsPath.AsSpan().IndexOfAny('\r', '\n') < 0 && outcomePath.AsSpan().IndexOfAny('\r', '\n') < 0 && Send(inputsPath, outcomePath);

    /// <summary>Tells the host its job is sure to follow (<see cref="ContainerizeHostProtocol.PrepareUploadsLine"/>).</summary>
    public void PrepareUploads() => Send(ContainerizeHostProtocol.PrepareUploadsLine);

    /// <summary>Writes lines to the host's standard input (from the build's thread or the start's); false when it is gone.</summary>
    private bool Send(params string[] lines)
    {
        lock (_input)
        {
            try
            {
                foreach (var line in lines)
                {
                    Process.StandardInput.WriteLine(line);
                }

                Process.StandardInput.Flush();
                return true;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            if (!HasExited(Process))
            {
                lock (_input)
                {
                    Process.StandardInput.Close();
                }

                if (!Process.WaitForExit(2000))
                {
                    Process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Gone already.
        }

        Process.Dispose();
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }
}

/// <summary>
/// The host <see cref="OciKitStartHost"/> is starting, as registered with the build: disposed by the build when no job
/// took it, which then stops it.
/// </summary>
internal sealed class PendingEarlyHost(Task<EarlyHost?> starting, string? assembly) : IDisposable
{
    // The compiler's output as it was when the host was started (null: none named, or not there yet).
    private readonly DateTime? _assemblyStamp = Stamp(assembly);

    /// <summary>The start, on a thread of its own.</summary>
    public Task<EarlyHost?> Starting => starting;

    /// <summary>Whether the compiler's output named at the start has been written since (or written for the first time).</summary>
    /// <returns>True when it was.</returns>
    public bool AssemblyWritten() => Stamp(assembly) is { } now && now != _assemblyStamp;

    /// <summary>Tells the host, once started, that its job is sure to follow (<see cref="EarlyHost.PrepareUploads"/>), without waiting for its start.</summary>
    public void PrepareUploads() => OnceStarted.Run(starting, static started => started.PrepareUploads());

    /// <summary>The host once started; null when it did not start (whatever stopped it: the job then starts its own).</summary>
    /// <returns>The host, or null.</returns>
    public EarlyHost? Started()
    {
        try
        {
            return starting.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Started()?.Dispose();

    private static DateTime? Stamp(string? path)
    {
        try
        {
            return path is { Length: > 0 } && File.Exists(path) ? File.GetLastWriteTimeUtc(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }
}

/// <summary>Where the out-of-process host is.</summary>
internal static class HostLocator
{
    /// <summary>
    /// The host for this machine's runtime identifier beside the task assembly (or <paramref name="hostPath"/>), or null
    /// (then the task runs in process): the package carries one only for the runtime identifier it was packed on
    /// (linux-x64 for releases), and a glibc build does not run on musl (<c>linux-musl-x64</c> finds none).
    /// </summary>
    public static string? Find(string? hostPath, TaskLoggingHelper log)
    {
        var path = hostPath ?? Path.Combine(
            Path.GetDirectoryName(typeof(OciKitContainerize).Assembly.Location) ?? string.Empty,
            System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier,
            ContainerizeHostProtocol.ExecutableName);
        if (!File.Exists(path))
        {
            log.LogMessage(MessageImportance.Low, $"OciKit: no out-of-process host at {path}: running in process.");
            return null;
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) == 0)
        {
            // NuGet's extraction drops the executable bit.
            try
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogMessage(MessageImportance.Low, $"OciKit: the out-of-process host {path} is not executable ({e.Message}): running in process.");
                return null;
            }
        }

        return path;
    }
}
