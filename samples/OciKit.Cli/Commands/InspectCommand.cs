using System.CommandLine;
using System.Text;
using System.Text.Json;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit inspect REF [--format T]</c>: the image's configuration and manifest summary, as <c>docker image inspect</c>.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var name = CommandOptions.Reference("reference", "An image in the local store, else in its registry.");
        var format = new Option<string?>("--format", "-f") { Description = "Print a field instead of the JSON, for example '{{.Config.Env}}' or '{{json .RootFS}}'." };
        var platform = CommandOptions.Platform();
        var remote = Remote();
        var command = new Command("inspect", "Show an image's configuration and manifest summary as JSON.") { name, format, platform, remote };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var inspection = await InspectAsync(CliSession.Of(parseResult, host), parseResult.GetValue(name)!, parseResult.GetValue(platform), parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
            var text = parseResult.GetValue(format) is { } template
                ? Format(inspection, template)
                : "[\n" + Encoding.UTF8.GetString(inspection.ToJson()) + "\n]";
            await host.Out.WriteLineAsync(text).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }

    public static Option<bool> Remote() => new("--remote") { Description = "Ask the registry even when the local store holds the name." };

    /// <summary>Reads an image from the local store or its registry (shared by inspect, manifest, config and digest).</summary>
    public static async Task<ImageInspection> InspectAsync(CliSession session, string name, string? platform, bool remote, CancellationToken cancellationToken)
    {
        var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        using var client = session.CreateClient();
        return await new ImageInspector(client, store).InspectAsync(name, CommandOptions.ParsePlatform(platform), remote, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads only the top-level manifest or index (shared by manifest and digest).</summary>
    public static async Task<Images.ManifestDocument> ReadTopAsync(CliSession session, string name, bool remote, CancellationToken cancellationToken)
    {
        var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        using var client = session.CreateClient();
        return await new ImageInspector(client, store).ReadTopAsync(name, remote, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Renders a <c>--format</c> template over the inspection's JSON, as <c>docker inspect --format</c> does.</summary>
    private static string Format(ImageInspection inspection, string template)
    {
        using var json = JsonDocument.Parse(inspection.ToJson());
        return InspectFormat.Apply(json.RootElement, template);
    }
}
