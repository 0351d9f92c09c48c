using System.Runtime.InteropServices;
using System.Text;
using OciKit.Layout;
using OciKit.MSBuild;

// The OciPublish task's out-of-process host: `ocikit-msbuild-host INPUTS OUTCOME`, or started early with `--wait` and
// given the two paths on standard input (see ContainerizeHostProtocol.WaitFlag). Reads the inputs the task wrote, maps
// them to a job (the one mapping, ContainerizeJob.FromInputs) and runs it, writes progress lines to standard output as they come and the outcome (result or coded error) to OUTCOME. Stops as
// the task would in process when its standard input closes (the task's Cancel) or on SIGINT/SIGTERM.
if (!(args is [_, _] && args[0] != ContainerizeHostProtocol.WaitFlag) && !(args is [ContainerizeHostProtocol.WaitFlag, ..] && args.Skip(1).All(a => a.Contains('=', StringComparison.Ordinal))))
{
    await Console.Error.WriteLineAsync($"usage: ocikit-msbuild-host INPUTS OUTCOME, or {ContainerizeHostProtocol.WaitFlag} [NAME=VALUE...] (run by the OciKit.MSBuild tasks)").ConfigureAwait(false);
    return 2;
}

using var input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
string inputsPath, outcomePath;
WarmStart? warm = null;
if (args[0] == ContainerizeHostProtocol.WaitFlag)
{
    // Started early (OciKitStartHost) while MSBuild still compiles: readies what any job of the project needs, then
    // waits for its job, two lines on standard input (the inputs' path, the outcome's). Standard input closing first
    // means the build never got to it: nothing to do.
    var settings = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var setting in args.Skip(1))
    {
        var eq = setting.IndexOf('=', StringComparison.Ordinal);
        settings[setting[..eq]] = setting[(eq + 1)..];
    }

    warm = ContainerizeJob.Warm(settings);
    var inputsLine = await input.ReadLineAsync().ConfigureAwait(false);
    if (inputsLine == ContainerizeHostProtocol.PrepareUploadsLine)
    {
        warm.PrepareUploads();
        inputsLine = await input.ReadLineAsync().ConfigureAwait(false);
    }

    if (inputsLine is not { Length: > 0 } || await input.ReadLineAsync().ConfigureAwait(false) is not { Length: > 0 } outcomeLine)
    {
        await warm.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    (inputsPath, outcomePath) = (inputsLine, outcomeLine);
}
else
{
    (inputsPath, outcomePath) = (args[0], args[1]);
}

using var cancel = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    cancel.Cancel();
}

using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
var watcher = new Thread(() =>
{
    try
    {
        var buffer = new char[64];
        while (input.Read(buffer) > 0)
        {
        }
    }
    catch (IOException)
    {
    }

    cancel.Cancel();
}) { IsBackground = true, Name = "stdin watcher" };
watcher.Start();

// UTF-8 whatever the locale says (the task reads UTF-8; progress lines hold arrows), flushed line by line.
var output = TextWriter.Synchronized(new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true });
ContainerizeJobOutcome outcome;
try
{
    var job = ContainerizeJob.FromInputs(ContainerizeWire.ReadInputs(inputsPath));
    var result = await job.RunAsync(
        message => output.WriteLine(ContainerizeHostProtocol.ProgressPrefix + message),
        message => output.WriteLine(ContainerizeHostProtocol.DetailPrefix + message),
        cancel.Token,
        warm).ConfigureAwait(false);
    outcome = new ContainerizeJobOutcome(result);
}
catch (Exception e) when (ErrorCodes.For(e) is { } code)
{
    outcome = new ContainerizeJobOutcome(null, code, ErrorCodes.Describe(code, e));
}
catch (Exception e)
{
    outcome = new ContainerizeJobOutcome(null, null, e.ToString());
}

await output.FlushAsync().ConfigureAwait(false);
if (warm is not null)
{
    await warm.DisposeAsync().ConfigureAwait(false);
}

await AtomicFile.WriteAsync(
    outcomePath,
    (stream, _) =>
    {
        ContainerizeWire.WriteOutcome(stream, outcome);
        return Task.CompletedTask;
    },
    CancellationToken.None,
    UnixFileMode.UserRead | UnixFileMode.UserWrite).ConfigureAwait(false);
return outcome.Result is null ? 1 : 0;
