using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Build.CorpusHarness;

/// <summary>Builds a corpus case with <c>buildah bud</c> and exports it for <see cref="ImageTree"/>.</summary>
internal static class BuildahCorpusBuilder
{
    /// <summary>
    /// <c>buildah bud</c> in the tools' private storage, then <c>buildah push</c> to a <c>dir:</c> directory.
    /// </summary>
    /// <remarks>
    /// Options, and why: <c>--isolation chroot</c> (RUN cases run as buildah's chroot isolation runs them, which works
    /// here as root without a daemon; it refuses <c>--network=none</c>, so RUN has the host's network, and no case
    /// reaches out);
    /// <c>--timestamp 0</c> (fixed created time and mtimes, as OciKit's reproducible default; mtimes are not compared
    /// but this keeps buildah's output stable); <c>--format docker</c> because buildah drops HEALTHCHECK, ONBUILD and
    /// SHELL from OCI-format configs (they are Docker extensions) and Docker keeps them; <c>--tls-verify=false</c> for
    /// the test registry on plain-HTTP loopback that serves the busybox base. The image is pushed with
    /// <c>--format v2s2</c> to <c>dir:</c> rather than to <c>oci:</c>: converting to an OCI manifest makes
    /// containers/image rewrite the config as an OCI config, which again drops Healthcheck, OnBuild and Shell.
    /// </remarks>
    public static async Task<ImageTree> BuildAsync(ContainerTools tools, string context, IReadOnlyDictionary<string, string> buildArgs, string outputDirectory, string tag, string? target = null)
    {
        List<string> args = ["bud", "--isolation", "chroot", "--timestamp", "0", "--format", "docker", "--tls-verify=false", "-t", tag];
        foreach (var (key, value) in buildArgs)
        {
            args.AddRange(["--build-arg", $"{key}={value}"]);
        }

        if (target is not null)
        {
            args.AddRange(["--target", target]);
        }

        args.Add(context);
        (await tools.BuildahAsync(args)).EnsureSuccess();
        (await tools.BuildahAsync(["push", "--format", "v2s2", tag, "dir:" + outputDirectory])).EnsureSuccess();
        return await ImageTree.LoadAsync(outputDirectory);
    }
}
