using System.Runtime.InteropServices;
using System.Text;
using OciKit.Layout;
using OciKit.MSBuild;

// The OciPublish task's out-of-process host: `ocikit-msbuild-host INPUTS OUTCOME`. Reads the inputs the task wrote, maps
// them to a job (the one mapping, ContainerizeJob.FromInputs) and runs it, writes progress lines to standard output as they come and the outcome (result or coded error) to OUTCOME. Stops as
// the task would in process when its standard input closes (the task's Cancel) or on SIGINT/SIGTERM.
if (args.Length != 2)
{
    await Console.Error.WriteLineAsync("usage: ocikit-msbuild-host INPUTS OUTCOME (run by the OciKit.MSBuild task)").ConfigureAwait(false);
    return 2;
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
        using var input = Console.OpenStandardInput();
        var buffer = new byte[64];
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
    var job = ContainerizeJob.FromInputs(ContainerizeWire.ReadInputs(args[0]));
    var result = await job.RunAsync(
        message => output.WriteLine(ContainerizeHostProtocol.ProgressPrefix + message),
        message => output.WriteLine(ContainerizeHostProtocol.DetailPrefix + message),
        cancel.Token).ConfigureAwait(false);
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
await AtomicFile.WriteAsync(
    args[1],
    (stream, _) =>
    {
        ContainerizeWire.WriteOutcome(stream, outcome);
        return Task.CompletedTask;
    },
    CancellationToken.None,
    UnixFileMode.UserRead | UnixFileMode.UserWrite).ConfigureAwait(false);
return outcome.Result is null ? 1 : 0;
