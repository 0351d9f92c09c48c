namespace OciKit.IntegrationTests.Harness;

/// <summary>
/// podman and buildah with storage of their own under a temp dir, configured as this machine needs them:
/// runc as the runtime, the vfs storage driver, cgroupfs, file events, and a containers.conf with no default ulimits.
/// podman and buildah share the storage, so an image one builds the other can run.
/// </summary>
public sealed class ContainerTools : IDisposable
{
    private readonly TempDir _dir = new("ocikit-containers");
    private readonly Dictionary<string, string?> _environment;

    /// <summary>Creates the private storage and configuration.</summary>
    public ContainerTools()
    {
        Root = _dir.Combine("root");
        RunRoot = _dir.Combine("runroot");
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(RunRoot);
        var conf = _dir.Combine("containers.conf");
        File.WriteAllText(conf, "[containers]\ndefault_ulimits = []\n\n[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n");
        _environment = new Dictionary<string, string?>
        {
            ["CONTAINERS_CONF"] = conf,
            ["TMPDIR"] = Directory.CreateDirectory(_dir.Combine("tmp")).FullName,
        };
    }

    /// <summary>The storage root (images and containers).</summary>
    public string Root { get; }

    /// <summary>The run root (state of running containers).</summary>
    public string RunRoot { get; }

    /// <summary>Runs <c>podman</c> with this storage and the machine's required flags.</summary>
    public Task<ToolResult> PodmanAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => Tool.RunAsync(
            "podman",
            ["--root", Root, "--runroot", RunRoot, "--runtime", "/usr/sbin/runc", "--storage-driver=vfs", "--cgroup-manager=cgroupfs", "--events-backend=file", .. arguments],
            _environment,
            timeout: timeout,
            cancellationToken: cancellationToken);

    /// <summary>Runs <c>buildah</c> with this storage.</summary>
    public Task<ToolResult> BuildahAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => Tool.RunAsync(
            "buildah",
            ["--root", Root, "--runroot", RunRoot, "--storage-driver=vfs", .. arguments],
            _environment,
            timeout: timeout,
            cancellationToken: cancellationToken);

    /// <summary>
    /// <c>podman run --rm</c> of an image from a loopback registry (TLS not verified), without a network, returning its output.
    /// </summary>
    public async Task<string> RunFromRegistryAsync(string image, IEnumerable<string> command, CancellationToken cancellationToken = default)
    {
        var result = await PodmanAsync(
            ["run", "--rm", "--network=none", "--tls-verify=false", "--pull=always", image, .. command],
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return result.EnsureSuccess().StdOut;
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Dispose();
}
