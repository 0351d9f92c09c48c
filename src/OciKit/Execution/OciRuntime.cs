using System.Diagnostics;
using System.Text.Json;

namespace OciKit.Execution;

/// <summary>
/// runc or crun (they share the command line): writes the bundle's <c>config.json</c> into the state directory and
/// runs <c>RUNTIME --root STATE/runtime-root run --bundle STATE/bundle ID</c> in the foreground. The runtime's own
/// state lives under the state directory, never in <c>/run/runc</c>, so a killed build leaves nothing behind on the
/// machine; it is deleted in every case.
/// </summary>
internal sealed class OciRuntime : IContainerRuntime
{
    /// <summary>Creates the runner.</summary>
    /// <param name="name"><c>runc</c> or <c>crun</c> (another runc-compatible runtime keeps its file name).</param>
    /// <param name="executablePath">The runtime's executable.</param>
    public OciRuntime(string name, string executablePath)
    {
        Name = name;
        ExecutablePath = executablePath;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string ExecutablePath { get; }

    /// <summary>How long a cancelled container gets between SIGTERM and SIGKILL (Docker's stop timeout).</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <inheritdoc/>
    public async Task<int> RunAsync(ContainerRun run, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var container = PreparedContainer.Prepare(run, Name);

        var bundle = Path.Combine(run.StateDirectory, "bundle");
        var root = Path.Combine(run.StateDirectory, "runtime-root");
        var log = Path.Combine(run.StateDirectory, "runtime.log");
        Directory.CreateDirectory(bundle);
        Directory.CreateDirectory(root);
        await File.WriteAllBytesAsync(Path.Combine(bundle, "config.json"), RuntimeSpec.Create(container), cancellationToken).ConfigureAwait(false);

        // terminal: true in the foreground (no -d, no --console-socket): the runtime itself allocates the container's
        // pseudo-terminal (in the container's /dev/pts), sets its own terminal (ours, on its standard streams) raw
        // and copies between them, passing the window size on.
        using var terminal = container.Terminal ? PseudoTerminal.Open(Name) : null;
        try
        {
            var outcome = await RuntimeProcess.RunAsync(
                ExecutablePath,
                [.. Global(root), "--log", log, "--log-format", "json", "run", "--bundle", bundle, run.Id],
                run.IO,
                process => StopAsync(root, run.Id, process),
                cancellationToken,
                terminal).ConfigureAwait(false);
            if (outcome.ExitCode != 0 && RuntimeErrors(log) is { Length: > 0 } errors)
            {
                throw new ContainerRunException(Name, $"{Name} could not run the container: {errors}");
            }

            return outcome.ExitCode;
        }
        finally
        {
            if (Directory.Exists(Path.Combine(root, run.Id)))
            {
                await RuntimeProcess.RunQuietAsync(ExecutablePath, [.. Global(root), "delete", "--force", run.Id]).ConfigureAwait(false);
            }
        }
    }

    private string[] Global(string root) => ["--root", root];

    /// <summary>SIGTERM, the grace period, SIGKILL (through the runtime, so the whole container gets it), then the runtime process itself.</summary>
    private async Task StopAsync(string root, string id, Process process)
    {
        await RuntimeProcess.RunQuietAsync(ExecutablePath, [.. Global(root), "kill", id, "TERM"]).ConfigureAwait(false);
        using var grace = new CancellationTokenSource(StopGracePeriod);
        try
        {
            await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException)
        {
            // Still running after the grace period.
        }

        await RuntimeProcess.RunQuietAsync(ExecutablePath, [.. Global(root), "kill", id, "KILL"]).ConfigureAwait(false);
        using var killed = new CancellationTokenSource(StopGracePeriod);
        try
        {
            await process.WaitForExitAsync(killed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The container was not created yet or the runtime hangs: end the runtime process; its state is deleted after.
            process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The error messages the runtime logged (runc and crun log JSON lines with <c>level</c> and <c>msg</c>).</summary>
    private static string RuntimeErrors(string log)
    {
        if (!File.Exists(log))
        {
            return "";
        }

        var messages = new List<string>();
        foreach (var line in File.ReadLines(log))
        {
            try
            {
                using var entry = JsonDocument.Parse(line);
                if (entry.RootElement.TryGetProperty("level", out var level) && level.GetString() is "error" or "fatal"
                    && entry.RootElement.TryGetProperty("msg", out var msg) && msg.GetString() is { Length: > 0 } text)
                {
                    messages.Add(text);
                }
            }
            catch (JsonException)
            {
                // A line that is not JSON is not an error report.
            }
        }

        return string.Join("; ", messages.Distinct());
    }
}
