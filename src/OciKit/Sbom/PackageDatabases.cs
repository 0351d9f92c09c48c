using System.Text;
using System.Text.Json;

namespace OciKit.Sbom;

/// <summary>Readers of the package databases an SBOM lists: dpkg's status file, apk's installed database, .NET's deps.json.</summary>
internal static class PackageDatabases
{
    /// <summary>
    /// Reads dpkg's status file (<c>/var/lib/dpkg/status</c>, or one file of distroless' <c>status.d</c>): RFC 822-like
    /// stanzas separated by blank lines, continuation lines starting with a space or tab
    /// (<see href="https://manpages.debian.org/dpkg-query">deb-control</see>). A package whose <c>Status</c> says it is
    /// not installed is left out; a stanza without <c>Package</c> or <c>Version</c>, or with a line that is no field, is
    /// skipped with a warning.
    /// </summary>
    public static void ReadDpkgStatus(string text, string path, List<SbomPackage> packages, List<string> warnings)
    {
        foreach (var (line, fields, error) in Stanzas(text, ':', continuation: true))
        {
            if (error is not null)
            {
                warnings.Add($"{path}:{line}: skipped a stanza: {error}");
                continue;
            }

            fields.TryGetValue("Package", out var name);
            fields.TryGetValue("Version", out var version);
            if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(version))
            {
                warnings.Add($"{path}:{line}: skipped a stanza without {(string.IsNullOrEmpty(name) ? "Package" : "Version")}");
                continue;
            }

            // "install ok installed": the third word is the package's state; a removed package (only its configuration
            // files left, or nothing) is not in the image.
            if (fields.TryGetValue("Status", out var status) && status.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: 3 } words
                && words[2] is "not-installed" or "config-files")
            {
                continue;
            }

            fields.TryGetValue("Architecture", out var architecture);
            packages.Add(new SbomPackage(SbomPackageType.Deb, name, version, string.IsNullOrEmpty(architecture) ? null : architecture, path));
        }
    }

    /// <summary>
    /// Reads apk's installed database (<c>/lib/apk/db/installed</c>): records separated by blank lines, one
    /// <c>X:value</c> line per field (<c>P</c> name, <c>V</c> version, <c>A</c> architecture), as
    /// <see href="https://wiki.alpinelinux.org/wiki/Apk_spec">the apk spec</see> describes. A record without <c>P</c> or
    /// <c>V</c>, or with a line that is no field, is skipped with a warning.
    /// </summary>
    public static void ReadApkInstalled(string text, string path, List<SbomPackage> packages, List<string> warnings)
    {
        foreach (var (line, fields, error) in Stanzas(text, ':', continuation: false))
        {
            if (error is not null)
            {
                warnings.Add($"{path}:{line}: skipped a record: {error}");
                continue;
            }

            fields.TryGetValue("P", out var name);
            fields.TryGetValue("V", out var version);
            if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(version))
            {
                warnings.Add($"{path}:{line}: skipped a record without {(string.IsNullOrEmpty(name) ? "P" : "V")}");
                continue;
            }

            fields.TryGetValue("A", out var architecture);
            packages.Add(new SbomPackage(SbomPackageType.Apk, name, version, string.IsNullOrEmpty(architecture) ? null : architecture, path));
        }
    }

    /// <summary>
    /// Reads a .NET application's <c>*.deps.json</c>: every entry of <c>libraries</c> whose <c>type</c> is
    /// <c>package</c> is a NuGet package named <c>NAME/VERSION</c> (projects and references are the application's own).
    /// </summary>
    /// <exception cref="SbomFormatException">The file is not JSON, or <c>libraries</c> is not an object.</exception>
    public static void ReadDepsJson(ReadOnlyMemory<byte> utf8, string path, List<SbomPackage> packages, List<string> warnings)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new SbomFormatException(path, $"not JSON (line {e.LineNumber + 1}: {e.Message})", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SbomFormatException(path, "the document is not a JSON object");
            }

            if (!document.RootElement.TryGetProperty("libraries", out var libraries))
            {
                return;
            }

            if (libraries.ValueKind != JsonValueKind.Object)
            {
                throw new SbomFormatException(path, "'libraries' is not an object");
            }

            foreach (var library in libraries.EnumerateObject())
            {
                if (library.Value.ValueKind != JsonValueKind.Object
                    || !library.Value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                    || type.GetString() != "package")
                {
                    continue;
                }

                var slash = library.Name.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || slash == library.Name.Length - 1)
                {
                    warnings.Add($"{path}: skipped the library '{library.Name}', which is not NAME/VERSION");
                    continue;
                }

                packages.Add(new SbomPackage(SbomPackageType.NuGet, library.Name[..slash], library.Name[(slash + 1)..], null, path));
            }
        }
    }

    /// <summary>
    /// Splits a control-style text into stanzas of <c>Name: value</c> fields, each with the line it starts on, or an
    /// error when a line in it is neither a field nor (when allowed) a continuation. The first value of a repeated field wins.
    /// </summary>
    private static IEnumerable<(int Line, Dictionary<string, string> Fields, string? Error)> Stanzas(string text, char separator, bool continuation)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        string? error = null;
        string? last = null;
        var start = 0;
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                if (fields.Count > 0 || error is not null)
                {
                    yield return (start, fields, error);
                }

                fields = new Dictionary<string, string>(StringComparer.Ordinal);
                error = null;
                last = null;
                continue;
            }

            if (fields.Count == 0 && error is null)
            {
                start = number;
            }

            if (continuation && line[0] is ' ' or '\t')
            {
                if (last is null)
                {
                    error ??= $"line {number} continues no field";
                }

                // Continuation lines belong to multi-line fields (Description, Conffiles), which an SBOM does not read.
                continue;
            }

            var colon = line.IndexOf(separator, StringComparison.Ordinal);
            if (colon <= 0)
            {
                error ??= $"line {number} is not a field";
                last = null;
                continue;
            }

            last = line[..colon];
            fields.TryAdd(last, line[(colon + 1)..].Trim());
        }

        if (fields.Count > 0 || error is not null)
        {
            yield return (start, fields, error);
        }
    }

    /// <summary>Decodes a text database as UTF-8, replacing invalid bytes (package descriptions are not always UTF-8).</summary>
    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
