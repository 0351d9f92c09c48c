using System.Collections.Immutable;
using OciKit.Build;
using OciKit.Images;
using OciKit.Layers;
using OciKit.Primitives;
using OciKit.Transfer;

namespace OciKit.Sbom;

/// <summary>How <see cref="SbomGenerator"/> describes an image.</summary>
public sealed record SbomOptions
{
    /// <summary>The platform to pick from an index; default <see cref="Platform.Current"/>.</summary>
    public Platform? Platform { get; init; }

    /// <summary>The name the document and the image package carry; default the source's name.</summary>
    public string? ImageName { get; init; }

    /// <summary>
    /// The creation time when the image's configuration records none (for example from <c>SOURCE_DATE_EPOCH</c>);
    /// with neither, the Unix epoch. The wall clock is never used, so one image always gives the same bytes.
    /// </summary>
    public DateTimeOffset? SourceDateEpoch { get; init; }
}

/// <summary>An SBOM of an image.</summary>
/// <param name="Json">The SPDX 2.3 JSON document, exact bytes.</param>
/// <param name="Image">The descriptor of the image manifest it describes (the one chosen from an index).</param>
/// <param name="Packages">The packages it lists, unique by purl, in ordinal purl order.</param>
/// <param name="Warnings">What was skipped as malformed (a dpkg stanza without a version, ...), with file and line.</param>
public sealed record SbomResult(ReadOnlyMemory<byte> Json, Descriptor Image, ImmutableArray<SbomPackage> Packages, ImmutableArray<string> Warnings);

/// <summary>
/// Lists what an image holds as an SPDX 2.3 document: OS packages from dpkg's status database
/// (<c>/var/lib/dpkg/status</c> and distroless' <c>/var/lib/dpkg/status.d/*</c>) and apk's installed database
/// (<c>/lib/apk/db/installed</c>), and NuGet packages from every <c>*.deps.json</c>. The files are read from the image's
/// merged file system (layers applied with their whiteouts, paths resolved through symlinks inside the image), so a
/// database an upper layer deleted or replaced is read as the image has it.
/// </summary>
public sealed class SbomGenerator
{
    /// <summary>Database files larger than this are refused rather than read into memory.</summary>
    public const long MaxDatabaseSize = 64L * 1024 * 1024;

    private const string DpkgStatus = "var/lib/dpkg/status";
    private const string DpkgStatusDirectory = "var/lib/dpkg/status.d";
    private const string ApkInstalled = "lib/apk/db/installed";
    private const string DepsJsonSuffix = ".deps.json";

    /// <summary>Generates the SBOM of the image at a location (a registry, an OCI layout, an oci- or docker-archive).</summary>
    /// <param name="client">The client for a registry location.</param>
    /// <param name="location">Where the image is.</param>
    /// <param name="options">Platform, name and fallback time, optional; the name defaults to the location (a registry image's repository, without tag or digest, so every name of one image gives the same bytes).</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document and what it lists.</returns>
    /// <exception cref="ImageNotFoundException">The location has no such image, or an index has none for the platform.</exception>
    /// <exception cref="NotSupportedException">The location names an artifact or something else that is not an image.</exception>
    /// <exception cref="SbomFormatException">A <c>*.deps.json</c> is not valid, or a database is larger than <see cref="MaxDatabaseSize"/>.</exception>
    /// <exception cref="Registry.RegistryException">A registry failed.</exception>
    public async Task<SbomResult> GenerateAsync(Registry.RegistryClient client, ImageLocation location, SbomOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(location);
        options ??= new SbomOptions();
        if (options.ImageName is null)
        {
            options = options with
            {
                ImageName = location.Reference is { } reference && location.Transport == ImageTransport.Registry
                    ? ImageNameOf(reference)
                    : location.ToString(),
            };
        }

        var source = await new ImageCopier(client).OpenSourceAsync(location, null, cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            return await GenerateAsync(source, options, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The name an SBOM gives an image known by a reference: its registry and repository, without tag or digest.</summary>
    /// <param name="reference">The image's reference.</param>
    /// <returns>For example <c>ghcr.io/org/app</c>.</returns>
    public static string ImageNameOf(References.ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return reference.Registry + "/" + reference.Repository;
    }

    /// <summary>Generates the SBOM of the image a source names.</summary>
    /// <param name="source">Where the image is; not disposed.</param>
    /// <param name="options">Platform, name and fallback time, optional.</param>
    /// <param name="cancellationToken">Cancels the I/O.</param>
    /// <returns>The document and what it lists.</returns>
    /// <exception cref="ImageNotFoundException">The source has no such image, or an index has none for the platform.</exception>
    /// <exception cref="NotSupportedException">The source names an artifact or something else that is not an image.</exception>
    /// <exception cref="SbomFormatException">A <c>*.deps.json</c> is not valid, or a database is larger than <see cref="MaxDatabaseSize"/>.</exception>
    /// <exception cref="OciFormatException">The manifest, configuration or a layer is malformed.</exception>
    public async Task<SbomResult> GenerateAsync(IImageSource source, SbomOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= new SbomOptions();
        var document = await ImageSelection.PickPlatformAsync(
            source, await source.ResolveAsync(cancellationToken).ConfigureAwait(false), options.Platform ?? Platform.Current, cancellationToken).ConfigureAwait(false);

        if (document.Manifest is not { } manifest || !IsImageConfig(manifest.Config.MediaType))
        {
            throw new NotSupportedException($"'{source.Name}' is a {document.Manifest?.ArtifactType ?? document.Manifest?.Config.MediaType ?? document.MediaType}, not an image.");
        }

        var configBytes = await ReadAllAsync(source, manifest.Config, cancellationToken).ConfigureAwait(false);
        var config = ImageConfig.Parse(configBytes);
        var created = config.Created ?? options.SourceDateEpoch ?? DateTimeOffset.UnixEpoch;

        var scratch = Directory.CreateTempSubdirectory("ocikit-sbom-").FullName;
        try
        {
            var openBlob = await BlobOpenerAsync(source, manifest.Layers, scratch, cancellationToken).ConfigureAwait(false);
            var fs = await ImageFs.LoadAsync(manifest.Layers, openBlob, cancellationToken).ConfigureAwait(false);
            var databases = FindDatabases(fs);
            await fs.MaterializeAsync(databases.Select(d => d.Path), openBlob, scratch, cancellationToken).ConfigureAwait(false);

            var packages = new List<SbomPackage>();
            var warnings = new List<string>();
            foreach (var (path, type) in databases)
            {
                var bytes = await ReadFileAsync(fs, path, cancellationToken).ConfigureAwait(false);
                var location = "/" + path;
                switch (type)
                {
                    case SbomPackageType.Deb:
                        PackageDatabases.ReadDpkgStatus(PackageDatabases.Text(bytes), location, packages, warnings);
                        break;
                    case SbomPackageType.Apk:
                        PackageDatabases.ReadApkInstalled(PackageDatabases.Text(bytes), location, packages, warnings);
                        break;
                    default:
                        PackageDatabases.ReadDepsJson(bytes, location, packages, warnings);
                        break;
                }
            }

            // One entry per purl, the first database (in path order) naming it; sorted so the document never depends on
            // the order files or stanzas came in.
            var unique = new SortedDictionary<string, SbomPackage>(StringComparer.Ordinal);
            foreach (var package in packages)
            {
                unique.TryAdd(package.Purl, package);
            }

            var list = unique.Values.ToImmutableArray();
            var json = SpdxWriter.Write(options.ImageName ?? source.Name, document.Descriptor, created, list);
            return new SbomResult(json, document.Descriptor, list, [.. warnings]);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static bool IsImageConfig(string mediaType) => mediaType is MediaTypes.OciConfig or MediaTypes.DockerConfig;

    /// <summary>The package databases the image holds, in ordinal path order (symlinks are not followed to files: a link's target is found itself).</summary>
    private static List<(string Path, SbomPackageType Type)> FindDatabases(ImageFs fs)
    {
        var found = new List<(string Path, SbomPackageType Type)>();
        Walk(fs, string.Empty, found);
        found.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return found;
    }

    private static void Walk(ImageFs fs, string directory, List<(string Path, SbomPackageType Type)> found)
    {
        foreach (var name in fs.ListExact(directory))
        {
            var path = directory.Length == 0 ? name : directory + "/" + name;
            var node = fs.GetExact(path);
            if (node is null)
            {
                continue;
            }

            if (node.IsDirectory)
            {
                Walk(fs, path, found);
            }
            else if (node.Type == LayerEntryType.File)
            {
                // status.d holds one control file per package (distroless), beside each one's list of checksums.
                if (path == DpkgStatus || (LayerPath.Parent(path) == DpkgStatusDirectory && !name.StartsWith('.') && !name.EndsWith(".md5sums", StringComparison.Ordinal)))
                {
                    found.Add((path, SbomPackageType.Deb));
                }
                else if (path == ApkInstalled)
                {
                    found.Add((path, SbomPackageType.Apk));
                }
                else if (name.EndsWith(DepsJsonSuffix, StringComparison.Ordinal))
                {
                    found.Add((path, SbomPackageType.NuGet));
                }
            }
        }
    }

    /// <summary>
    /// How layers are opened for the file system, which reads each twice (metadata, then the databases' content): a
    /// local layout's blobs straight from the store, which checked them when it wrote them; anything else's copied to
    /// scratch files once, through the source's verifying stream.
    /// </summary>
    private static async Task<Func<Descriptor, Stream>> BlobOpenerAsync(IImageSource source, ImmutableArray<Descriptor> layers, string scratch, CancellationToken cancellationToken)
    {
        if (source is OciLayoutImageSource layout)
        {
            return d => layout.Layout.OpenBlob(d.Digest);
        }

        var files = new Dictionary<Digest, string>();
        foreach (var layer in layers)
        {
            if (files.ContainsKey(layer.Digest))
            {
                continue;
            }

            var file = Path.Combine(scratch, "layer-" + files.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var input = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
            await using (input.ConfigureAwait(false))
            {
                var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 128 * 1024, FileOptions.Asynchronous);
                await using (output.ConfigureAwait(false))
                {
                    await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                }
            }

            files.Add(layer.Digest, file);
        }

        return d => new FileStream(files[d.Digest], FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadAllAsync(IImageSource source, Descriptor blob, CancellationToken cancellationToken)
    {
        var stream = await source.OpenBlobAsync(blob, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadFileAsync(ImageFs fs, string path, CancellationToken cancellationToken)
    {
        var node = fs.GetExact(path)!;
        if (node.Size > MaxDatabaseSize)
        {
            throw new SbomFormatException("/" + path, $"{node.Size} bytes, more than the {MaxDatabaseSize} an SBOM reads");
        }

        if (node.Open is null)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var stream = node.Open();
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new MemoryStream((int)node.Size);
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }
}
