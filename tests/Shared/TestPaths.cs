namespace OciKit.Testing;

/// <summary>Where the repository, its test data and the team's shared conformance data are.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OciKit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No OciKit.sln above {AppContext.BaseDirectory}.");
    });

    /// <summary>The repository root (the folder holding OciKit.sln).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary><c>../shared/conformance</c> beside the repository: upstream conformance data, read in place.</summary>
    public static string Conformance
    {
        get
        {
            var path = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "conformance"));
            return Directory.Exists(path)
                ? path
                : throw new DirectoryNotFoundException($"The shared conformance data is missing: expected {path}.");
        }
    }

    /// <summary>A path below the repository root.</summary>
    public static string InRepo(params string[] parts) => Path.Combine([RepoRoot, .. parts]);
}
