using System.Diagnostics;
using System.Text;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Cli;

/// <summary>
/// <c>ocikit run -t</c> in a terminal (util-linux' <c>script</c> gives the CLI one) follows that terminal's size:
/// resizing it (SIGWINCH to the CLI) resizes the container's terminal, and the process gets its own SIGWINCH.
/// </summary>
public sealed class CliTerminalResizeTests
{
    private const string CrunRefusal = "crun could not run the container: cgroups in hybrid mode not supported";

    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    [InlineData("bwrap")]
    public async Task Resizing_the_callers_terminal_resizes_the_containers(string runtime)
    {
        using var dir = new TempDir("ocikit-resize");
        var store = dir.Combine("store");
        BusyboxImage.WriteOciLayout(store, "busybox:latest");
        var container = "trap \"/bin/busybox stty size; exit 0\" WINCH; echo ready; while :; do sleep 0.1; done";
        var info = new ProcessStartInfo(Tool.Locate("script"))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "--quiet", "--flush", "--return", "--command", $"exec {Tool.Locate("dotnet")} {Cli} --store {store} run -t --runtime {runtime} busybox:latest sh -c '{container}'", "/dev/null" })
        {
            info.ArgumentList.Add(argument);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var script = Process.Start(info)!;
        var output = new StringBuilder();
        var reading = ReadAllAsync(script.StandardOutput, output);
        try
        {
            // crun 1.8.1 refuses this machine's cgroups at times (see ContainerRuntimeTests): its own reason is reported.
            if (await WaitForAsync(output, ["ready", CrunRefusal], reading, timeout.Token) == CrunRefusal && runtime == "crun")
            {
                return;
            }

            // The CLI's own terminal is script's: resizing it signals the CLI, as a terminal window does.
            var cli = Directory.EnumerateDirectories("/proc").Select(p => Path.GetFileName(p))
                .Where(p => int.TryParse(p, out _))
                .Single(p => ParentOf(p) == script.Id);
            var terminal = new FileInfo($"/proc/{cli}/fd/1").LinkTarget!;
            Assert.StartsWith("/dev/pts/", terminal, StringComparison.Ordinal);
            await Tool.RunCheckedAsync("stty", ["-F", terminal, "rows", "33", "cols", "111"]);

            await WaitForAsync(output, ["33 111"], reading, timeout.Token);
            await script.WaitForExitAsync(timeout.Token);
            Assert.True(script.ExitCode == 0, $"exit {script.ExitCode}: {output}");
        }
        finally
        {
            if (!script.HasExited)
            {
                script.Kill(entireProcessTree: true);
            }
        }

        await reading;
    }

    private static int ParentOf(string pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return -1;   // ended while listing
        }
    }

    private static async Task ReadAllAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (output)
            {
                output.Append(buffer, 0, read);
            }
        }
    }

    /// <summary>Waits until the output holds one of <paramref name="texts"/> and returns it; fails with the output when it ends first or time runs out.</summary>
    private static async Task<string> WaitForAsync(StringBuilder output, string[] texts, Task reading, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Once the output has ended, everything the process wrote is in: decide on that.
            var ended = reading.IsCompleted;
            string seen;
            lock (output)
            {
                seen = output.ToString();
            }

            if (texts.FirstOrDefault(t => seen.Contains(t, StringComparison.Ordinal)) is { } found)
            {
                return found;
            }

            Assert.False(ended, $"ended before '{string.Join("' or '", texts)}': {seen}");
            Assert.False(cancellationToken.IsCancellationRequested, $"no '{string.Join("' or '", texts)}' in time: {seen}");
            await Task.Delay(20, CancellationToken.None);
        }
    }
}
