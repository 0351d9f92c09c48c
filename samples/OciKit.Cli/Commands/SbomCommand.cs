using System.CommandLine;
using System.Globalization;
using System.Text;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Sbom;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>ocikit sbom REF [--attached]</c>: prints an image's SPDX 2.3 SBOM, generated from its layers or read from the
/// registry's referrers; <c>ocikit sbom attach REF</c>: generates it and attaches it to the image in its registry.
/// </summary>
internal static class SbomCommand
{
    public static Command Create()
    {
        var location = new Argument<string>("reference") { Description = "A name in the local store, else docker://REF (or REF), oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]; a registry image with --attached." };
        var attached = new Option<bool>("--attached") { Description = "Print the SBOM attached to the image instead of generating one: in the local store when a bare name is there (build --sbom), else in its registry (referrers API or fallback tag; always with --remote)." };
        var platform = CommandOptions.Platform();
        var remote = InspectCommand.Remote();
        var command = new Command("sbom", "Print an image's SBOM (SPDX 2.3 JSON): OS packages (dpkg, apk) and NuGet packages (*.deps.json).") { location, attached, platform, remote, Attach() };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            using var client = session.CreateClient();
            var text = parseResult.GetValue(location)!;
            var chosen = CommandOptions.ParsePlatform(parseResult.GetValue(platform));
            ReadOnlyMemory<byte> json;
            if (parseResult.GetValue(attached))
            {
                json = await ReadAttachedAsync(session, client, text, chosen, parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var result = await GenerateAsync(session, client, text, Options(chosen), parseResult.GetValue(remote), cancellationToken).ConfigureAwait(false);
                await WarnAsync(host, result).ConfigureAwait(false);
                json = result.Json;
            }

            await host.Out.WriteAsync(Encoding.UTF8.GetString(json.Span)).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }

    private static Command Attach()
    {
        var reference = CommandOptions.Reference("reference", "The image in its registry.");
        var platform = CommandOptions.Platform();
        var command = new Command("attach", "Generate an image's SBOM and attach it in its registry as an OCI artifact referring to the image.") { reference, platform };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            using var client = session.CreateClient();
            var image = RegistryImage(parseResult.GetValue(reference)!);
            var result = await new SbomGenerator().GenerateAsync(client, ImageLocation.ForRegistry(image), Options(CommandOptions.ParsePlatform(parseResult.GetValue(platform))), cancellationToken).ConfigureAwait(false);
            await WarnAsync(host, result).ConfigureAwait(false);
            var attachment = await new SbomReferrers(client).AttachAsync(image, result, cancellationToken).ConfigureAwait(false);
            await session.InfoAsync($"Attached an SBOM of {result.Packages.Length} packages to {image.Registry}/{image.Repository}@{attachment.Subject.Digest}"
                + (attachment.FallbackTag is { } tag ? $" (referrers tag {tag})" : string.Empty)).ConfigureAwait(false);
            await host.Out.WriteLineAsync(attachment.Artifact.Digest.ToString()).ConfigureAwait(false);
            return CliRunner.Success;
        });
        return command;
    }

    /// <summary>
    /// Generates from the local store when a bare name is in it (as <c>inspect</c> reads it), else from the location. A
    /// reference is named by its repository either way, so one image gives the same bytes from the store and the registry.
    /// </summary>
    private static async Task<SbomResult> GenerateAsync(CliSession session, Registry.RegistryClient client, string text, SbomOptions options, bool remote, CancellationToken cancellationToken)
    {
        var location = ImageLocation.Parse(text);
        if (!remote && location.Transport == ImageTransport.Registry && !text.StartsWith(ImageLocation.RegistryPrefix, StringComparison.Ordinal))
        {
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            if (await store.FindAsync(text, cancellationToken).ConfigureAwait(false) is { } found)
            {
                var name = ImageReference.TryParse(found.Name, out var reference) ? SbomGenerator.ImageNameOf(reference) : found.Name;
                var source = new OciLayoutImageSource(store.Store, found.Name);
                await using (source.ConfigureAwait(false))
                {
                    return await new SbomGenerator().GenerateAsync(source, options with { ImageName = name }, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        return await new SbomGenerator().GenerateAsync(client, location, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The SBOM attached to an image: in the local store when a bare name is there (as <c>build --sbom</c> keeps it),
    /// else in the image's registry.
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>> ReadAttachedAsync(CliSession session, Registry.RegistryClient client, string text, Primitives.Platform? platform, bool remote, CancellationToken cancellationToken)
    {
        if (!remote && !text.StartsWith(ImageLocation.RegistryPrefix, StringComparison.Ordinal))
        {
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            if (await store.FindAsync(text, cancellationToken).ConfigureAwait(false) is { } found)
            {
                try
                {
                    return await SbomStore.ReadAttachedAsync(store.Store, found.Name, platform, cancellationToken).ConfigureAwait(false);
                }
                catch (SbomNotFoundException local)
                {
                    // Not kept in the store (a pulled image): its registry may have one.
                    try
                    {
                        return await new SbomReferrers(client).ReadAttachedAsync(RegistryImage(text), platform, cancellationToken).ConfigureAwait(false);
                    }
                    catch (OciException remoteError) when (remoteError is SbomNotFoundException or ImageNotFoundException or InvalidReferenceException or Registry.RegistryException)
                    {
                        throw new SbomNotFoundException($"{local.Image}, nor to {text} in its registry ({remoteError.Message.TrimEnd('.')})");
                    }
                }
            }
        }

        return await new SbomReferrers(client).ReadAttachedAsync(RegistryImage(text), platform, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A registry image, written as <c>REF</c> or <c>docker://REF</c>.</summary>
    private static ImageReference RegistryImage(string text)
    {
        var parsed = ImageLocation.Parse(text);
        return parsed.Transport == ImageTransport.Registry
            ? parsed.Reference!
            : throw new InvalidReferenceException(text, "an attached SBOM lives in a registry: give docker://REF or REF");
    }

    /// <summary>The platform, and <c>SOURCE_DATE_EPOCH</c> as the creation time of an image that records none.</summary>
    private static SbomOptions Options(Primitives.Platform? platform)
    {
        var epoch = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrEmpty(epoch))
        {
            return new SbomOptions { Platform = platform };
        }

        return long.TryParse(epoch, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            ? new SbomOptions { Platform = platform, SourceDateEpoch = DateTimeOffset.FromUnixTimeSeconds(seconds) }
            : throw new ArgumentException($"SOURCE_DATE_EPOCH '{epoch}' is not a number of seconds since 1970.");
    }

    private static async Task WarnAsync(CliHost host, SbomResult result)
    {
        foreach (var warning in result.Warnings)
        {
            await host.Err.WriteLineAsync("warning: " + warning).ConfigureAwait(false);
        }
    }
}
