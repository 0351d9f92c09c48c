using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using OciKit.Primitives;

namespace OciKit.References;

/// <summary>
/// A fully qualified, normalized image reference: <c>registry/repository[:tag][@digest]</c>.
/// </summary>
/// <remarks>
/// <para>
/// Parsing and normalization follow the Docker reference grammar
/// (<see href="https://github.com/distribution/reference/blob/main/reference.go">distribution/reference</see>,
/// normalization as in its <c>normalize.go</c>):
/// </para>
/// <code>
/// reference        := name [ ":" tag ] [ "@" digest ]
/// name             := [domain "/"] path-component ["/" path-component]*
/// domain           := host [":" port-number]
/// host             := domain-name | "[" IPv6address "]"
/// domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
/// path-component   := /[a-z0-9]+/ [separator /[a-z0-9]+/]*
/// separator        := /[_.]|__|[-]+/
/// tag              := /[\w][\w.-]{0,127}/
/// </code>
/// <para>
/// The first path component is a registry only when it is <c>localhost</c>, contains a <c>.</c> or a <c>:</c>, or
/// has an upper-case letter; otherwise the registry is Docker Hub (<c>docker.io</c>), whose single-component
/// repositories live under <c>library/</c>. <c>index.docker.io</c> is normalized to <c>docker.io</c>. A reference with
/// neither tag nor digest gets the tag <c>latest</c>; a reference with both keeps both. The name (registry, slash and
/// repository) is at most 255 characters.
/// </para>
/// </remarks>
public sealed partial record ImageReference : IParsable<ImageReference>
{
    /// <summary>The registry name Docker Hub references carry: <c>docker.io</c>.</summary>
    public const string DockerHubRegistry = "docker.io";

    /// <summary>The host that serves Docker Hub's registry API: <c>registry-1.docker.io</c>.</summary>
    public const string DockerHubApiHost = "registry-1.docker.io";

    /// <summary>The tag given to a reference that has neither tag nor digest: <c>latest</c>.</summary>
    public const string DefaultTag = "latest";

    /// <summary>The longest a name (registry, <c>/</c> and repository) may be.</summary>
    public const int MaxNameLength = 255;

    private const string LegacyDockerHubRegistry = "index.docker.io";
    private const string OfficialNamespace = "library/";

    private ImageReference(string registry, string repository, string? tag, Digest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry, for example <c>docker.io</c>, <c>ghcr.io</c> or <c>localhost:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The repository path within the registry, for example <c>library/alpine</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag, or <see langword="null"/> when the reference names its image by digest only.</summary>
    public string? Tag { get; }

    /// <summary>The digest, or <see langword="null"/> when the reference names its image by tag only.</summary>
    public Digest? Digest { get; }

    /// <summary>The full name without tag or digest: <c>registry/repository</c>.</summary>
    public string Name => Registry + "/" + Repository;

    /// <summary>Whether the registry is Docker Hub.</summary>
    public bool IsDockerHub => Registry == DockerHubRegistry;

    /// <summary>
    /// The host (with port, if any) that serves the registry API: <c>registry-1.docker.io</c> for Docker Hub,
    /// otherwise <see cref="Registry"/>.
    /// </summary>
    public string ApiHost => IsDockerHub ? DockerHubApiHost : Registry;

    /// <summary>
    /// What identifies the manifest in the registry API (<c>/v2/&lt;name&gt;/manifests/&lt;reference&gt;</c>):
    /// the digest when there is one, otherwise the tag.
    /// </summary>
    public string ManifestReference => Digest?.ToString() ?? Tag!;

    /// <summary>
    /// The short name Docker shows: the repository without <c>docker.io/</c> and <c>library/</c>, for example
    /// <c>alpine</c> for <c>docker.io/library/alpine</c> and <c>ghcr.io/org/app</c> for itself.
    /// </summary>
    /// <remarks>
    /// Unlike Docker, a Docker Hub repository whose first component would read as a registry (it contains a <c>.</c>
    /// or is <c>localhost</c>) keeps its <c>docker.io/</c> prefix, so that the familiar form always parses back to
    /// the same reference.
    /// </remarks>
    public string FamiliarName
    {
        get
        {
            if (!IsDockerHub)
            {
                return Name;
            }

            if (Repository.StartsWith(OfficialNamespace, StringComparison.Ordinal)
                && Repository.IndexOf('/', OfficialNamespace.Length) < 0)
            {
                return Repository[OfficialNamespace.Length..];
            }

            var slash = Repository.IndexOf('/', StringComparison.Ordinal);
            var first = slash < 0 ? Repository : Repository[..slash];
            return LooksLikeRegistry(first) ? Name : Repository;
        }
    }

    /// <summary>
    /// The reference in the short form Docker shows, for example <c>alpine:latest</c> for
    /// <c>docker.io/library/alpine:latest</c>. It parses back to this reference.
    /// </summary>
    public string FamiliarString => Format(FamiliarName);

    /// <summary>Parses and normalizes an image reference.</summary>
    /// <param name="reference">The text, for example <c>alpine</c>, <c>ghcr.io/org/app:1.0</c> or <c>repo@sha256:…</c>.</param>
    /// <returns>The normalized reference.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reference"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidReferenceException">The text is not a valid reference.</exception>
    public static ImageReference Parse(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return TryParse(reference, out var result, out var error)
            ? result
            : throw new InvalidReferenceException(reference, error);
    }

    /// <summary>
    /// The spellings a local store may record a name under, each once, in the order to try them: as given, canonical
    /// (<c>docker.io/library/alpine:latest</c>) and familiar (<c>alpine:latest</c>). A name that is not a valid
    /// reference (a store's own tag) has only itself. The one home of this rule for every lookup of a local name.
    /// </summary>
    /// <param name="name">The name as the user gave it.</param>
    /// <returns>The spellings.</returns>
    public static IEnumerable<string> LocalSpellings(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        yield return name;
        if (TryParse(name, out var reference))
        {
            var canonical = reference.ToString();
            if (canonical != name)
            {
                yield return canonical;
            }

            if (reference.FamiliarString != name && reference.FamiliarString != canonical)
            {
                yield return reference.FamiliarString;
            }
        }
    }

    /// <summary>Tries to parse and normalize an image reference.</summary>
    /// <param name="reference">The text.</param>
    /// <param name="result">The normalized reference, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a valid reference.</returns>
    public static bool TryParse([NotNullWhen(true)] string? reference, [NotNullWhen(true)] out ImageReference? result)
        => TryParse(reference, out result, out _);

    static ImageReference IParsable<ImageReference>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<ImageReference>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out ImageReference result)
        => TryParse(s, out result);

    /// <summary>Creates a reference from its parts, validating and normalizing them as <see cref="Parse"/> does.</summary>
    /// <param name="registry">The registry, for example <c>docker.io</c> or <c>localhost:5000</c>.</param>
    /// <param name="repository">The repository path, for example <c>library/alpine</c>.</param>
    /// <param name="tag">The tag, if any.</param>
    /// <param name="digest">The digest, if any.</param>
    /// <returns>The reference; its tag is <c>latest</c> when neither tag nor digest is given.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="registry"/> or <paramref name="repository"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidReferenceException">A part is invalid.</exception>
    public static ImageReference Create(string registry, string repository, string? tag = null, Digest? digest = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(repository);
        var text = registry + "/" + repository;
        if (!IsValidDomain(registry))
        {
            throw new InvalidReferenceException(text, "invalid registry host");
        }

        if (!IsValidPath(repository, out var pathError))
        {
            throw new InvalidReferenceException(text, pathError);
        }

        var parsed = Parse(text);
        if (parsed.Registry != NormalizeDomain(registry))
        {
            // A lower-case name without '.' or ':' (other than localhost) reads as a Docker Hub namespace.
            throw new InvalidReferenceException(text, "invalid registry host (it would read as a Docker Hub namespace)");
        }

        var result = tag is null ? parsed : parsed.WithTag(tag);
        if (tag is null && digest is not null)
        {
            result = new ImageReference(result.Registry, result.Repository, null, digest);
        }
        else if (digest is not null)
        {
            result = result.WithDigest(digest);
        }

        return result;
    }

    /// <summary>Whether a string is a valid tag (<c>[\w][\w.-]{0,127}</c>, where <c>\w</c> is ASCII <c>[A-Za-z0-9_]</c>).</summary>
    /// <param name="tag">The text.</param>
    /// <returns><see langword="true"/> when it is a valid tag.</returns>
    public static bool IsValidTag([NotNullWhen(true)] string? tag) => tag is not null && TagRegex().IsMatch(tag);

    /// <summary>A copy of this reference with another tag; the digest, if any, is kept.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>The new reference.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tag"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidReferenceException">The tag is invalid.</exception>
    public ImageReference WithTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        return IsValidTag(tag)
            ? new ImageReference(Registry, Repository, tag, Digest)
            : throw new InvalidReferenceException(Name + ":" + tag, "invalid tag");
    }

    /// <summary>A copy of this reference pinned to a digest; the tag, if any, is kept.</summary>
    /// <param name="digest">The digest.</param>
    /// <returns>The new reference.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="digest"/> is <see langword="null"/>.</exception>
    public ImageReference WithDigest(Digest digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return new ImageReference(Registry, Repository, Tag, digest);
    }

    /// <summary>The base URI of the registry API, for example <c>https://registry-1.docker.io/v2/</c>.</summary>
    /// <param name="insecure">Use plain <c>http</c> instead of <c>https</c>.</param>
    /// <returns>The URI.</returns>
    public Uri GetApiBaseUri(bool insecure = false) => new((insecure ? "http://" : "https://") + ApiHost + "/v2/");

    /// <summary>The canonical form: <c>registry/repository[:tag][@digest]</c>, for example <c>docker.io/library/alpine:latest</c>.</summary>
    /// <returns>The canonical text, which parses back to this reference.</returns>
    public override string ToString() => Format(Name);

    private string Format(string name)
    {
        var text = name;
        if (Tag is not null)
        {
            text += ":" + Tag;
        }

        if (Digest is not null)
        {
            text += "@" + Digest;
        }

        return text;
    }

    private static bool TryParse(string? reference, [NotNullWhen(true)] out ImageReference? result, out string error)
    {
        result = null;
        if (string.IsNullOrEmpty(reference))
        {
            error = "repository name must have at least one component";
            return false;
        }

        if (AnchoredIdentifierRegex().IsMatch(reference))
        {
            error = "cannot specify 64-byte hexadecimal strings as a repository name";
            return false;
        }

        var rest = reference;
        Digest? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Digest.TryParse(rest[(at + 1)..], out digest))
            {
                error = "invalid digest";
                return false;
            }

            rest = rest[..at];
        }

        string? tag = null;
        var colon = rest.LastIndexOf(':');
        if (colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            if (!IsValidTag(tag))
            {
                error = "invalid tag";
                return false;
            }

            rest = rest[..colon];
        }

        if (!SplitDomain(rest, out var domain, out var path, out error))
        {
            return false;
        }

        if (domain.Length + 1 + path.Length > MaxNameLength)
        {
            error = $"name too long (a repository name must not be more than {MaxNameLength} characters)";
            return false;
        }

        result = new ImageReference(domain, path, tag ?? (digest is null ? DefaultTag : null), digest);
        return true;
    }

    private static bool SplitDomain(string name, out string domain, out string path, out string error)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (!NamesRegistry(name))
        {
            domain = DockerHubRegistry;
            path = name;
        }
        else
        {
            domain = name[..slash];
            path = name[(slash + 1)..];
            if (!IsValidDomain(domain))
            {
                error = "invalid registry host";
                return false;
            }

            domain = NormalizeDomain(domain);
        }

        if (!IsValidPath(path, out error))
        {
            return false;
        }

        if (domain == DockerHubRegistry && !path.Contains('/', StringComparison.Ordinal))
        {
            path = OfficialNamespace + path;
        }

        return true;
    }

    /// <summary>
    /// Whether a reference's text names its registry: its first component is one (as distribution/reference decides:
    /// it has a <c>.</c> or a <c>:</c>, is <c>localhost</c>, or is not lower case). Otherwise the text is a repository
    /// of a default registry (Docker Hub when parsed).
    /// </summary>
    /// <param name="reference">The reference's text, for example <c>team/app</c> or <c>registry.example/team/app:1</c>.</param>
    /// <returns><see langword="true"/> when the text starts with a registry.</returns>
    public static bool NamesRegistry(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var slash = reference.IndexOf('/', StringComparison.Ordinal);
        return slash >= 0 && IsRegistryComponent(reference[..slash]);
    }

    // distribution/reference: a first component is a registry when it has '.', ':', is "localhost" or is not lower case.
    private static bool IsRegistryComponent(string component)
        => LooksLikeRegistry(component) || component.Contains(':', StringComparison.Ordinal) || component.Any(char.IsAsciiLetterUpper);

    private static bool LooksLikeRegistry(string component)
        => component == "localhost" || component.Contains('.', StringComparison.Ordinal);

    private static string NormalizeDomain(string domain) => domain == LegacyDockerHubRegistry ? DockerHubRegistry : domain;

    private static bool IsValidDomain(string domain) => DomainRegex().IsMatch(domain);

    private static bool IsValidPath(string path, out string error)
    {
        if (path.Length == 0)
        {
            error = "repository name must have at least one component";
            return false;
        }

        var valid = true;
        foreach (var component in path.Split('/'))
        {
            valid &= PathComponentRegex().IsMatch(component);
        }

        if (valid)
        {
            error = string.Empty;
            return true;
        }

        var lower = path.ToLowerInvariant();
        error = lower != path && IsValidPath(lower, out _)
            ? "repository name must be lowercase"
            : "invalid repository name";
        return false;
    }

    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"\A[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex PathComponentRegex();

    [GeneratedRegex(
        @"\A(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?\z",
        RegexOptions.CultureInvariant)]
    private static partial Regex DomainRegex();

    [GeneratedRegex(@"\A[a-f0-9]{64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex AnchoredIdentifierRegex();
}
