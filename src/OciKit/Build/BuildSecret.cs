namespace OciKit.Build;

/// <summary>
/// Where a build secret's value is read from, when a RUN instruction mounts it. It holds no value itself, so it can be
/// shown and logged; the value is read only for the RUN that mounts it and reaches no layer, history, cache key or message.
/// </summary>
public sealed record BuildSecret
{
    private BuildSecret(string? filePath, string? environmentVariable)
    {
        FilePath = filePath;
        EnvironmentVariable = environmentVariable;
    }

    /// <summary>The file holding the value, or null.</summary>
    public string? FilePath { get; }

    /// <summary>The environment variable (of the building process) holding the value, or null.</summary>
    public string? EnvironmentVariable { get; }

    /// <summary>A secret read from a file (<c>--secret id=ID,src=PATH</c>).</summary>
    /// <param name="path">The file.</param>
    /// <returns>The secret's source.</returns>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    public static BuildSecret FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new BuildSecret(Path.GetFullPath(path), null);
    }

    /// <summary>A secret read from an environment variable (<c>--secret id=ID,env=VAR</c>).</summary>
    /// <param name="name">The variable's name.</param>
    /// <returns>The secret's source.</returns>
    /// <exception cref="ArgumentException">The name is empty.</exception>
    public static BuildSecret FromEnvironment(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new BuildSecret(null, name);
    }

    /// <summary>Reads the value; null when the file or the variable does not exist.</summary>
    internal async Task<byte[]?> ReadAsync(CancellationToken cancellationToken)
    {
        if (FilePath is { } path)
        {
            return File.Exists(path) ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false) : null;
        }

        return Environment.GetEnvironmentVariable(EnvironmentVariable!) is { } value ? System.Text.Encoding.UTF8.GetBytes(value) : null;
    }
}
