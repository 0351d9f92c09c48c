using OciKit.Cli;

// The ocikit CLI: a thin shell over the OciKit library. Each command lives in its own file under Commands/.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await CliApp.RunAsync(args, Console.Out, Console.Error, Console.In, cancel.Token).ConfigureAwait(false);
