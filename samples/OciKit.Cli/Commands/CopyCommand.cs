using System.CommandLine;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit copy SRC DST</c>: copies an image between registries, OCI layouts and archives, keeping its digest.</summary>
internal static class CopyCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "docker://REF (or REF), oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]." };
        var destination = new Argument<string>("destination") { Description = "Same forms as the source." };
        var platform = CommandOptions.Platform();
        var attachments = new Option<bool>("--attachments")
        {
            Description = "Also copy the image's cosign signatures (sha256-<hex>.sig) and OCI referrers (SBOMs, attestations), registry to registry.",
        };
        var command = new Command("copy", "Copy an image between registries, OCI layouts and archives, preserving its digest.") { source, destination, platform, attachments };
        var policy = PolicyOption.AddTo(command);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            var from = ImageLocation.Parse(parseResult.GetValue(source)!);
            var to = ImageLocation.Parse(parseResult.GetValue(destination)!);
            using var client = session.CreateClient();
            if (policy.IsGiven(parseResult))
            {
                if (from.Transport != ImageTransport.Registry)
                {
                    throw new ArgumentException($"--policy applies to registry sources; {from} is not one.");
                }

                var trustPolicy = await policy.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false);

                // A docker-archive named after the source keeps the name the caller gave, not the pinned digest.
                if (to.Transport == ImageTransport.DockerArchive && to.Reference is null)
                {
                    to = ImageLocation.ForDockerArchive(to.Path!, from.Reference);
                }

                from = ImageLocation.ForRegistry(await PolicyOption.AdmitAsync(trustPolicy, client, from.Reference!, cancellationToken).ConfigureAwait(false));
            }

            var options = new CopyOptions { Platform = CommandOptions.ParsePlatform(parseResult.GetValue(platform)), Attachments = parseResult.GetValue(attachments) };
            var result = await session.WithProgressAsync(p => new ImageCopier(client).CopyAsync(from, to, options, p, cancellationToken)).ConfigureAwait(false);
            await session.InfoAsync($"Copied {from} to {to}").ConfigureAwait(false);
            foreach (var attachment in result.Attachments)
            {
                await session.InfoAsync($"Copied {(attachment.Tag is { } tag ? "signatures " + tag : attachment.Manifest.ArtifactType ?? "referrer")} {attachment.Manifest.Digest} of {attachment.Subject}").ConfigureAwait(false);
            }

            await session.Out.WriteLineAsync(result.Descriptor.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }
}
