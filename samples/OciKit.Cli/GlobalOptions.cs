using System.CommandLine;

namespace OciKit.Cli;

/// <summary>Options every command accepts (the root command, built once, holds these instances).</summary>
internal static class GlobalOptions
{
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print diagnostic detail, including stack traces on errors.",
        Recursive = true,
    };

    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "Print only the result (for example the image digest).",
        Recursive = true,
    };

    public static readonly Option<bool> NoProgress = new("--no-progress")
    {
        Description = "Do not report transfer progress.",
        Recursive = true,
    };

    public static readonly Option<string[]> InsecureRegistries = new("--insecure-registry")
    {
        Description = "A registry (host[:port]) that may be reached over plain HTTP or with an unverified TLS certificate; repeatable.",
        Recursive = true,
    };

    public static readonly Option<string?> Store = new("--store")
    {
        Description = "The local image store (an OCI layout directory); default $OCIKIT_STORE or ~/.local/share/ocikit/store.",
        Recursive = true,
    };

    public static readonly Option<string?> AuthFile = new("--authfile")
    {
        Description = "The Docker-format credentials file to read and write instead of $DOCKER_CONFIG/config.json (as skopeo's --authfile).",
        Recursive = true,
    };

    public static void AddTo(RootCommand root)
    {
        root.Options.Add(Verbose);
        root.Options.Add(Quiet);
        root.Options.Add(NoProgress);
        root.Options.Add(InsecureRegistries);
        root.Options.Add(Store);
        root.Options.Add(AuthFile);
    }
}
