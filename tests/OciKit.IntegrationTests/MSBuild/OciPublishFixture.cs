using System.Text.RegularExpressions;
using OciKit.IntegrationTests.Harness;
using OciKit.Testing;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// Shared by the <c>OciPublish</c> tests, so the slow steps happen once: packs <c>OciKit.MSBuild</c> with a version of
/// its own (and the out-of-process host test.sh published) into a local folder feed, writes a <c>nuget.config</c> that
/// adds that feed to the machine's sources, copies the samples next to it, and builds the base image (busybox + this
/// machine's .NET runtime + the glibc libraries it links to, found with <c>ldd</c>) with buildah, pushed to the test
/// registry.
/// </summary>
public sealed partial class OciPublishFixture : IAsyncLifetime
{
    private const string DotnetRoot = "/usr/share/dotnet";
    private readonly TempDir _dir = new("ocikit-msbuild");
    private readonly SemaphoreSlim _baseLock = new(1, 1);
    private string? _baseImage;
    private string? _multiBaseImage;

    /// <summary>The version the package was packed with (unique, so NuGet's package cache never serves a stale one).</summary>
    public string Version { get; } = "0.1.0-it" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The informational version test.sh published the host with (the repository's <c>Version</c>; the commit is appended
    /// to both alike). The package's assemblies get it too, as a real pack gives the host and the task the same version:
    /// the layer caches' keys name OciKit's version, so the in-process task and the host share entries only then.
    /// </summary>
    private static string HostVersion() =>
        Regex.Match(File.ReadAllText(TestPaths.InRepo("Directory.Build.props")), "<Version>([^<]+)</Version>") is { Success: true } match
            ? match.Groups[1].Value
            : throw new InvalidOperationException("Directory.Build.props names no <Version>.");

    /// <summary>The folder holding the copied samples and the nuget.config.</summary>
    public string WorkDirectory => _dir.Combine("work");

    /// <summary>The OciKit local store the publishes use.</summary>
    public string StorePath => _dir.Combine("store");

    /// <summary>The commit the web sample's copy is at.</summary>
    public string WebRevision { get; private set; } = string.Empty;

    /// <summary>podman and buildah with private storage.</summary>
    public ContainerTools Containers { get; } = new();

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var feed = _dir.Combine("feed");

        // The out-of-process host test.sh published (NativeAOT), rather than compiling it again in the pack.
        var host = Path.GetDirectoryName(MSBuildHost.Executable)!;
        await Tool.RunCheckedAsync(
            "dotnet",
            ["pack", TestPaths.InRepo("src", "OciKit.MSBuild", "OciKit.MSBuild.csproj"), "-c", "Release", "-o", feed, $"-p:Version={Version}", $"-p:InformationalVersion={HostVersion()}", $"-p:OciKitHostDirectory={host}", "-nodeReuse:false", "--nologo"],
            timeout: TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        Directory.CreateDirectory(WorkDirectory);

        // Adds the feed to the machine's sources (no <clear/>): the samples' other packages come from where they always do.
        await File.WriteAllTextAsync(
            Path.Combine(WorkDirectory, "nuget.config"),
            $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="ocikit-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """).ConfigureAwait(false);
        foreach (var sample in new[] { "console-app", "web-app" })
        {
            CopyDirectory(TestPaths.InRepo("samples", sample), Path.Combine(WorkDirectory, sample));
        }

        // The web sample lives in a git repository, so its image's revision label comes from the last commit.
        var web = Path.Combine(WorkDirectory, "web-app");
        await Tool.RunCheckedAsync("git", ["-C", web, "init", "--quiet"]).ConfigureAwait(false);
        await Tool.RunCheckedAsync("git", ["-C", web, "add", "."]).ConfigureAwait(false);
        await Tool.RunCheckedAsync("git", ["-C", web, "-c", "user.name=OciKit test", "-c", "user.email=test@ocikit.invalid", "commit", "--quiet", "-m", "web sample"]).ConfigureAwait(false);
        WebRevision = (await Tool.RunCheckedAsync("git", ["-C", web, "rev-parse", "HEAD"]).ConfigureAwait(false)).StdOut.Trim();

        // A copy of its own for the multi-platform publish, whose restore (with RuntimeIdentifiers) differs.
        CopyDirectory(TestPaths.InRepo("samples", "console-app"), Path.Combine(WorkDirectory, "console-app-multi"));
    }

    /// <summary>The base image in <paramref name="registry"/>, built on first use.</summary>
    public async Task<string> BaseImageAsync(RegistryFixture registry)
    {
        await _baseLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return _baseImage ??= await BuildBaseAsync(registry).ConfigureAwait(false);
        }
        finally
        {
            _baseLock.Release();
        }
    }

    /// <summary>Runs <c>dotnet publish -t:OciPublish</c> on a copied sample against the registry.</summary>
    /// <returns>The tool's result (checked) and the digest the target reported.</returns>
    public Task<(ToolResult Result, string Digest)> PublishAsync(string project, RegistryFixture registry, params string[] extra)
        => PublishAsync(project, registry, extra, null);

    /// <summary>As <see cref="PublishAsync(string, RegistryFixture, string[])"/>, with extra environment variables.</summary>
    public async Task<(ToolResult Result, string Digest)> PublishAsync(string project, RegistryFixture registry, string[] extra, IReadOnlyDictionary<string, string?>? environment)
    {
        var result = await RunPublishAsync(project, "OciPublish", registry, extra, environment: environment).ConfigureAwait(false);
        var match = DigestLine().Match(result.StdOut);
        Assert.True(match.Success, "OciPublish reported no digest:\n" + result.StdOut);
        return (result, match.Groups[1].Value);
    }

    /// <summary>Runs <c>dotnet publish -t:TARGET</c> on a copied sample with the registry and base image set.</summary>
    public async Task<ToolResult> RunPublishAsync(string project, string target, RegistryFixture registry, string[] extra, bool check = true, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var baseImage = await BaseImageAsync(registry).ConfigureAwait(false);
        var variables = new Dictionary<string, string?>
        {
            ["SOURCE_DATE_EPOCH"] = "1700000000",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = registry.Registry.Host, // for the SDK's own PublishContainer
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            variables[name] = value;
        }

        var result = await Tool.RunAsync(
            "dotnet",
            [
                "publish", Path.Combine(WorkDirectory, project), "-c", "Release", "-t:" + target, "-nodeReuse:false", "--disable-build-servers", "--nologo", "-tl:off",
                $"-p:OciKitVersion={Version}", $"-p:ContainerRegistry={registry.Registry.Host}", $"-p:ContainerBaseImage={baseImage}",
                $"-p:OciKitStorePath={StorePath}", .. extra,
            ],
            variables,
            timeout: TimeSpan.FromMinutes(6)).ConfigureAwait(false);
        return check ? result.EnsureSuccess() : result;
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        Containers.Dispose();
        _dir.Dispose();
        var cached = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages", "ocikit.msbuild", Version);
        if (Directory.Exists(cached))
        {
            Directory.Delete(cached, recursive: true);
        }

        _baseLock.Dispose();
        return Task.CompletedTask;
    }

    private async Task<string> BuildBaseAsync(RegistryFixture registry)
    {
        var target = $"{registry.Registry.Host}/base/dotnet:10";
        var container = (await Containers.BuildahAsync(["from", "--tls-verify=false", "--pull=always", registry.BaseImage]).ConfigureAwait(false)).EnsureSuccess().StdOut.Trim();
        async Task CopyAsync(string source, string destination)
            => (await Containers.BuildahAsync(["copy", container, source, destination]).ConfigureAwait(false)).EnsureSuccess();

        await CopyAsync(Path.Combine(DotnetRoot, "dotnet"), DotnetRoot + "/dotnet").ConfigureAwait(false);
        foreach (var dir in new[] { "host", "shared/Microsoft.NETCore.App", "shared/Microsoft.AspNetCore.App" })
        {
            await CopyAsync(Path.Combine(DotnetRoot, dir), DotnetRoot + "/" + dir).ConfigureAwait(false);
        }

        // The shared libraries the host and the runtime's native parts link to, at the paths the loader looks for them.
        var natives = Directory.EnumerateFiles(DotnetRoot, "*.so", SearchOption.AllDirectories)
            .Where(f => f.Contains("/host/", StringComparison.Ordinal) || f.Contains("/Microsoft.NETCore.App/", StringComparison.Ordinal))
            .Prepend(Path.Combine(DotnetRoot, "dotnet"));
        var libraries = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var native in natives)
        {
            var ldd = (await Tool.RunCheckedAsync("ldd", [native]).ConfigureAwait(false)).StdOut;
            foreach (Match m in LddPath().Matches(ldd))
            {
                libraries.Add(m.Groups[1].Value);
            }
        }

        Assert.Contains(libraries, l => l.Contains("libc.so", StringComparison.Ordinal));
        foreach (var library in libraries)
        {
            var real = new FileInfo(library).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? library;
            await CopyAsync(real, library).ConfigureAwait(false);
        }

        (await Containers.BuildahAsync(["config", "--env", "DOTNET_ROOT=" + DotnetRoot, "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + DotnetRoot, container]).ConfigureAwait(false)).EnsureSuccess();
        (await Containers.BuildahAsync(["commit", "--format", "oci", container, "ocikit-test-base-dotnet"], TimeSpan.FromMinutes(5)).ConfigureAwait(false)).EnsureSuccess();
        (await Containers.BuildahAsync(["push", "--tls-verify=false", "ocikit-test-base-dotnet", "docker://" + target], TimeSpan.FromMinutes(5)).ConfigureAwait(false)).EnsureSuccess();
        await Containers.BuildahAsync(["rm", container]).ConfigureAwait(false);
        return target;
    }

    /// <summary>
    /// An index of the base for linux/amd64 and linux/arm64/v8 (the arm64 image is the amd64 one relabelled: it is
    /// never run, only built upon), built on first use.
    /// </summary>
    public async Task<string> MultiPlatformBaseImageAsync(RegistryFixture registry)
    {
        await BaseImageAsync(registry).ConfigureAwait(false);
        await _baseLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return _multiBaseImage ??= await BuildMultiPlatformBaseAsync(registry).ConfigureAwait(false);
        }
        finally
        {
            _baseLock.Release();
        }
    }

    private async Task<string> BuildMultiPlatformBaseAsync(RegistryFixture registry)
    {
        var target = $"{registry.Registry.Host}/base/dotnet-multi:10";
        async Task<string> BuildahAsync(params string[] arguments)
            => (await Containers.BuildahAsync(arguments, TimeSpan.FromMinutes(5)).ConfigureAwait(false)).EnsureSuccess().StdOut.Trim();

        var container = await BuildahAsync("from", "ocikit-test-base-dotnet").ConfigureAwait(false);
        await BuildahAsync("config", "--arch", "arm64", "--variant", "v8", container).ConfigureAwait(false);
        await BuildahAsync("commit", "--format", "oci", container, "ocikit-test-base-dotnet-arm64").ConfigureAwait(false);
        await BuildahAsync("rm", container).ConfigureAwait(false);
        await BuildahAsync("manifest", "create", "ocikit-test-base-list").ConfigureAwait(false);
        await BuildahAsync("manifest", "add", "ocikit-test-base-list", "containers-storage:localhost/ocikit-test-base-dotnet").ConfigureAwait(false);
        await BuildahAsync("manifest", "add", "ocikit-test-base-list", "containers-storage:localhost/ocikit-test-base-dotnet-arm64").ConfigureAwait(false);
        await BuildahAsync("manifest", "push", "--all", "--tls-verify=false", "ocikit-test-base-list", "docker://" + target).ConfigureAwait(false);
        return target;
    }

    private static void CopyDirectory(string source, string destination)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
            {
                continue;
            }

            var to = Path.Combine(destination, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }

    [GeneratedRegex(@"OciPublish: \S+@(sha256:[0-9a-f]{64})")]
    private static partial Regex DigestLine();

    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
    [GeneratedRegex(@"(?:=>\s+|^\s*)(/\S+)\s+\(0x", RegexOptions.Multiline)]
    private static partial Regex LddPath();
}
