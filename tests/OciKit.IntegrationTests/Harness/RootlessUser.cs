namespace OciKit.IntegrationTests.Harness;

/// <summary>The unprivileged user test.sh creates for the rootless tests (a test never creates users).</summary>
public static class RootlessUser
{
    /// <summary>The user's name.</summary>
    public const string Name = "ocikit-rootless";

    /// <summary>The user's uid and primary gid, from <c>/etc/passwd</c>; a missing user fails with what to do.</summary>
    public static (string Uid, string Gid) Ids()
    {
        var entry = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).FirstOrDefault(f => f[0] == Name)
            ?? throw new InvalidOperationException($"The user {Name} is missing: test.sh creates it (useradd --system --create-home {Name}); run it as root once.");
        return (entry[2], entry[3]);
    }

    /// <summary>
    /// <c>setpriv</c>'s arguments that run <paramref name="executable"/> as the user (setpriv drops every capability
    /// with the switch away from uid 0).
    /// </summary>
    public static string[] Command(string executable, IEnumerable<string> arguments)
    {
        var (uid, gid) = Ids();
        return [$"--reuid={uid}", $"--regid={gid}", "--init-groups", "--", executable, .. arguments];
    }
}
