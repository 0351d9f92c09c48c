using OciKit.Images;
using OciKit.Layout;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Transfer;

/// <summary>Options of <see cref="ImageCopier.CopyAsync"/>.</summary>
public sealed record CopyOptions
{
    /// <summary>
    /// Copy only this platform's image out of an index. When <see langword="null"/> (the default), an index is copied
    /// whole, every platform, so its digest is kept; a docker-archive destination, which holds single images, then
    /// gets <see cref="Platform.Current"/>'s image.
    /// </summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// A directory for the intermediate OCI layout when neither side is a registry-to-registry copy; default a new
    /// directory under the system temporary directory, deleted afterwards.
    /// </summary>
    public string? StagingDirectory { get; init; }
}

/// <summary>What a copy did.</summary>
/// <param name="Descriptor">The copied top-level manifest or index; its digest is the image's digest at the destination.</param>
/// <param name="Destination">Where it was copied.</param>
public sealed record CopyResult(Descriptor Descriptor, ImageLocation Destination);

/// <summary>
/// Copies an image between any two <see cref="ImageLocation"/>s (registry, OCI layout, oci-archive, docker-archive),
/// preserving the manifest's exact bytes and so its digest. Registry to registry goes through
/// <see cref="ImageTransfer.CopyAsync"/>; anything else passes through an OCI layout (the source layout itself, or a
/// staging one), from which the destination is written. Archives are written to a temporary file and renamed into
/// place, so an interrupted copy leaves no half-written archive.
/// </summary>
/// <param name="client">The registry client used for registry locations.</param>
public sealed class ImageCopier(RegistryClient client)
{
    private const string StagedName = "ocikit-copy";

    /// <summary>Copies an image.</summary>
    /// <param name="source">The image to copy.</param>
    /// <param name="destination">Where to copy it.</param>
    /// <param name="options">Platform choice and staging, optional.</param>
    /// <param name="progress">Per-blob progress of registry transfers, optional.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    /// <returns>What was copied.</returns>
    /// <exception cref="ImageNotFoundException">The source has no such image, or an archive or layout holds several and none was named.</exception>
    /// <exception cref="FileNotFoundException">A source archive does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">A source layout does not exist.</exception>
    /// <exception cref="RegistryException">A registry failed.</exception>
    public async Task<CopyResult> CopyAsync(ImageLocation source, ImageLocation destination, CopyOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        options ??= new CopyOptions();
        var transfer = new ImageTransfer(client);
        if (source.Transport == ImageTransport.Registry && destination.Transport == ImageTransport.Registry && options.Platform is null)
        {
            var copied = await transfer.CopyAsync(source.Reference!, destination.Reference!, progress, cancellationToken).ConfigureAwait(false);
            return new CopyResult(copied.Descriptor, destination);
        }

        if (await TryDirectAsync(transfer, source, destination, options, progress, cancellationToken).ConfigureAwait(false) is { } direct)
        {
            return new CopyResult(direct with { Annotations = null }, destination);
        }

        var staging = options.StagingDirectory ?? Path.Combine(Path.GetTempPath(), "ocikit-copy-" + Guid.NewGuid().ToString("N"));
        var ownsStaging = options.StagingDirectory is null;
        try
        {
            var store = await OciLayout.OpenAsync(staging, cancellationToken: cancellationToken).ConfigureAwait(false);
            var top = await StageAsync(transfer, source, destination, store, options, progress, cancellationToken).ConfigureAwait(false);
            var platform = options.Platform ?? (destination.Transport == ImageTransport.DockerArchive ? Platform.Current : null);
            if (platform is not null)
            {
                top = await PickPlatformAsync(store, top, platform, source.ToString(), cancellationToken).ConfigureAwait(false);
            }

            // A docker archive records a repository:tag: the destination's, else the source's own name.
            var archiveName = destination.Reference ?? (source.Transport is ImageTransport.Registry or ImageTransport.DockerArchive ? source.Reference : null);
            var name = destination.Transport switch
            {
                ImageTransport.OciArchive or ImageTransport.OciLayout => destination.Tag ?? DefaultTag(source),
                ImageTransport.DockerArchive when archiveName is not null => archiveName.FamiliarString,
                _ => StagedName,
            };
            await store.TagAsync(name, top, cancellationToken).ConfigureAwait(false);
            await WriteAsync(transfer, store, name, top, destination, progress, cancellationToken).ConfigureAwait(false);
            return new CopyResult(top with { Annotations = null }, destination);
        }
        finally
        {
            if (ownsStaging && Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>Copies the blobs an image (or index) reaches from one layout to another, children before parents.</summary>
    /// <param name="from">The source layout.</param>
    /// <param name="to">The target layout.</param>
    /// <param name="descriptor">The manifest or index.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>A task that completes when every reachable blob is in <paramref name="to"/>.</returns>
    /// <exception cref="BlobNotFoundException">A blob an image needs is missing from <paramref name="from"/>.</exception>
    public static async Task CopyBlobsAsync(OciLayout from, OciLayout to, Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(descriptor);
        var isIndex = MediaTypes.IsIndex(descriptor.MediaType);
        foreach (var child in await from.ReferencedAsync(descriptor, cancellationToken).ConfigureAwait(false))
        {
            if (from.ContainsBlob(child.Digest))
            {
                await CopyBlobsAsync(from, to, child, cancellationToken).ConfigureAwait(false);
            }
            else if (!isIndex && child.Urls is not { Count: > 0 })
            {
                // As in an oci-archive: an index may list platforms never fetched; anything else missing is an incomplete image.
                throw new BlobNotFoundException(child.Digest, from.Root);
            }
        }

        if (!to.ContainsBlob(descriptor.Digest))
        {
            var stream = from.OpenBlob(descriptor.Digest);
            await using (stream.ConfigureAwait(false))
            {
                await to.WriteBlobAsync(stream, descriptor with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The common cases that need no staging layout: a registry image pulled straight into a layout, and a named
    /// layout image pushed straight to a registry or packed straight into an oci-archive under its own name.
    /// </summary>
    private static async Task<Descriptor?> TryDirectAsync(
        ImageTransfer transfer, ImageLocation source, ImageLocation destination, CopyOptions options, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        if (source.Transport == ImageTransport.Registry && destination.Transport == ImageTransport.OciLayout)
        {
            var target = await OciLayout.OpenAsync(destination.Path!, cancellationToken: cancellationToken).ConfigureAwait(false);
            var pullOptions = new PullOptions { Platform = options.Platform, AllPlatforms = options.Platform is null, LocalName = destination.Tag ?? DefaultTag(source) };
            return (await transfer.PullAsync(source.Reference!, target, pullOptions, progress, cancellationToken).ConfigureAwait(false)).Descriptor;
        }

        if (source.Transport != ImageTransport.OciLayout || options.Platform is not null
            || destination.Transport is not (ImageTransport.Registry or ImageTransport.OciArchive))
        {
            return null;
        }

        var layout = await OciLayout.OpenAsync(source.Path!, new OciLayoutOptions { CreateIfMissing = false }, cancellationToken).ConfigureAwait(false);
        var entry = Select(await layout.ListImagesAsync(cancellationToken).ConfigureAwait(false), source.Tag, source);
        if (Layout.OciLayout.NameOf(entry) is not { } name || (destination.Transport == ImageTransport.OciArchive && destination.Tag is not null && destination.Tag != name))
        {
            return null;
        }

        if (destination.Transport == ImageTransport.Registry)
        {
            return (await transfer.PushAsync(layout, name, destination.Reference!, null, progress, cancellationToken).ConfigureAwait(false)).Descriptor;
        }

        await WriteFileAtomicallyAsync(destination.Path!, s => OciArchive.WriteAsync(layout, [name], s, cancellationToken), cancellationToken).ConfigureAwait(false);
        return entry;
    }

    private static async Task<Descriptor> StageAsync(
        ImageTransfer transfer, ImageLocation source, ImageLocation destination, OciLayout store, CopyOptions options, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        switch (source.Transport)
        {
            case ImageTransport.Registry:
                var pulled = await transfer.PullAsync(
                    source.Reference!,
                    store,
                    new PullOptions
                    {
                        Platform = options.Platform ?? (destination.Transport == ImageTransport.DockerArchive ? Platform.Current : null),
                        AllPlatforms = options.Platform is null && destination.Transport != ImageTransport.DockerArchive,
                        LocalName = StagedName,
                    },
                    progress,
                    cancellationToken).ConfigureAwait(false);
                return pulled.Descriptor;

            case ImageTransport.OciLayout:
                var layout = await OciLayout.OpenAsync(source.Path!, new OciLayoutOptions { CreateIfMissing = false }, cancellationToken).ConfigureAwait(false);
                var entry = Select(await layout.ListImagesAsync(cancellationToken).ConfigureAwait(false), source.Tag, source);
                await CopyBlobsAsync(layout, store, entry, cancellationToken).ConfigureAwait(false);
                return entry;

            default:
                if (!File.Exists(source.Path))
                {
                    throw new FileNotFoundException($"The archive {source.Path} does not exist.", source.Path);
                }

                var archive = new FileStream(source.Path!, FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
                await using (archive.ConfigureAwait(false))
                {
                    if (source.Transport == ImageTransport.OciArchive)
                    {
                        var images = await OciArchive.ImportAsync(archive, store, cancellationToken).ConfigureAwait(false);
                        return Select(images, source.Tag, source);
                    }

                    var loaded = await DockerArchive.ImportAsync(archive, store, cancellationToken).ConfigureAwait(false);
                    return Select(loaded, source.Reference is { } reference ? MatchingName(loaded, reference) : null, source);
                }
        }
    }

    // The docker archive may record the name in familiar (app:1) or canonical (docker.io/library/app:1) form.
    private static string MatchingName(IEnumerable<LayoutImage> images, ImageReference reference) =>
        images.Select(i => i.Name).FirstOrDefault(n => n is not null && ImageReference.TryParse(n, out var r) && r == reference) ?? reference.FamiliarString;

    private static Descriptor Select(IReadOnlyCollection<LayoutImage> images, string? name, ImageLocation source)
    {
        if (name is not null)
        {
            return images.LastOrDefault(i => string.Equals(i.Name, name, StringComparison.Ordinal))?.Descriptor
                ?? throw new ImageNotFoundException(name, source.Path!, $"it holds {Names(images)}");
        }

        var distinct = images.Select(i => i.Descriptor.Digest).Distinct().Count();
        return distinct == 1 ? images.First().Descriptor
            : throw new ImageNotFoundException(source.ToString(), source.Path!, distinct == 0 ? "it holds no image" : $"it holds several images ({Names(images)}); name one after the path");
    }

    private static string Names(IEnumerable<LayoutImage> images)
    {
        var names = images.Select(i => i.Name ?? i.Descriptor.Digest.ToString()).Distinct().ToList();
        return names.Count == 0 ? "no image" : string.Join(", ", names);
    }

    private static async Task<Descriptor> PickPlatformAsync(OciLayout store, Descriptor top, Platform platform, string name, CancellationToken cancellationToken)
    {
        for (var depth = 0; depth < ImageIndex.MaxDepth && MediaTypes.IsIndex(top.MediaType); depth++)
        {
            var document = await store.ReadManifestAsync(top with { Annotations = null }, cancellationToken).ConfigureAwait(false);
            top = ImageTransfer.ChoosePlatform(document.Index!, platform, name);
        }

        return top with { Annotations = null, Platform = null };
    }

    private static string DefaultTag(ImageLocation source) => source.Transport switch
    {
        ImageTransport.Registry or ImageTransport.DockerArchive when source.Reference?.Tag is { } tag => tag,
        ImageTransport.OciLayout or ImageTransport.OciArchive when source.Tag is { } tag => tag,
        _ => ImageReference.DefaultTag,
    };

    private static async Task WriteAsync(
        ImageTransfer transfer, OciLayout store, string name, Descriptor top, ImageLocation destination, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        switch (destination.Transport)
        {
            case ImageTransport.Registry:
                await transfer.PushAsync(store, name, destination.Reference!, null, progress, cancellationToken).ConfigureAwait(false);
                break;

            case ImageTransport.OciLayout:
                var layout = await OciLayout.OpenAsync(destination.Path!, cancellationToken: cancellationToken).ConfigureAwait(false);
                await CopyBlobsAsync(store, layout, top, cancellationToken).ConfigureAwait(false);
                await layout.TagAsync(name, top, cancellationToken).ConfigureAwait(false);
                break;

            case ImageTransport.OciArchive:
                await WriteFileAtomicallyAsync(destination.Path!, s => OciArchive.WriteAsync(store, [name], s, cancellationToken), cancellationToken).ConfigureAwait(false);
                break;

            default:
                await WriteFileAtomicallyAsync(destination.Path!, s => DockerArchive.WriteAsync(store, name, s, cancellationToken), cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private static async Task WriteFileAtomicallyAsync(string path, Func<Stream, Task> write, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 128 * 1024, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                await write(stream).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
