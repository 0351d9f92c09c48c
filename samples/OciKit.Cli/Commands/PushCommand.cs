using System.CommandLine;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit push REF [DEST]</c>: pushes an image from the local store to a registry.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var name = CommandOptions.Reference("reference", "The image in the local store; also where it goes unless DEST is given.");
        var destination = new Argument<string?>("destination") { Description = "Where to push it, when not to REF itself.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("push", "Push an image from the local store to a registry.") { name, destination };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var local = parseResult.GetValue(name)!;
            var target = ImageReference.Parse(parseResult.GetValue(destination) ?? local);
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            var (stored, _) = await store.RequireAsync(local, cancellationToken).ConfigureAwait(false);
            using var client = session.CreateClient();
            var result = await session.WithProgressAsync(p => new ImageTransfer(client).PushAsync(store.Store, stored, target, null, p, cancellationToken)).ConfigureAwait(false);
            await session.InfoAsync($"Pushed {target} ({result.BlobsUploaded} uploaded, {result.BlobsMounted} mounted, {result.BlobsPresent} already present)").ConfigureAwait(false);
            await session.Out.WriteLineAsync(result.Descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
