using System.CommandLine;

namespace OciKit.Cli;

/// <summary>
/// Options every command accepts. Each root command gets its own option objects (System.CommandLine records parents
/// in them, so sharing one instance between concurrent in-process runs would race); values are read back by name.
/// </summary>
internal static class GlobalOptions
{
    public const string Verbose = "--verbose";
    public const string Quiet = "--quiet";
    public const string NoProgress = "--no-progress";
    public const string InsecureRegistries = "--insecure-registry";
    public const string Store = "--store";
    public const string AuthFile = "--authfile";

    public static void AddTo(RootCommand root)
    {
        root.Options.Add(new Option<bool>(Verbose) { Description = "Print diagnostic detail, including stack traces on errors.", Recursive = true });
        root.Options.Add(new Option<bool>(Quiet, "-q") { Description = "Print only the result (for example the image digest).", Recursive = true });
        root.Options.Add(new Option<bool>(NoProgress) { Description = "Do not report transfer progress.", Recursive = true });
        root.Options.Add(new Option<string[]>(InsecureRegistries)
        {
            Description = "A registry (host[:port]) that may be reached over plain HTTP or with an unverified TLS certificate; repeatable.",
            Recursive = true,
        });
        root.Options.Add(new Option<string?>(Store)
        {
            Description = "The local image store (an OCI layout directory); default $OCIKIT_STORE or ~/.local/share/ocikit/store.",
            Recursive = true,
        });
        root.Options.Add(new Option<string?>(AuthFile)
        {
            Description = "The Docker-format credentials file to read and write instead of $DOCKER_CONFIG/config.json (as skopeo's --authfile).",
            Recursive = true,
        });
    }
}
