using System.Text.Json;
using OciKit.Primitives;
using OciKit.References;
using OciKit.Registry;

namespace OciKit.Signing;

/// <summary>How a trust policy requirement checks an image.</summary>
public enum PolicyRequirementType
{
    /// <summary>Accepts any image (<c>insecureAcceptAnything</c>).</summary>
    InsecureAcceptAnything,

    /// <summary>Refuses every image (<c>reject</c>).</summary>
    Reject,

    /// <summary>Requires a cosign signature by a key whose payload identity satisfies a rule (<c>sigstoreSigned</c>).</summary>
    SigstoreSigned,
}

/// <summary>How the identity a signature names (its payload's docker-reference) must relate to the image (<c>signedIdentity</c>).</summary>
public enum SignedIdentityType
{
    /// <summary>An image by digest: the same repository; an image by tag: exactly the same reference (<c>matchRepoDigestOrExact</c>, the default).</summary>
    MatchRepoDigestOrExact,

    /// <summary>Exactly the same reference; the image must be named by tag (<c>matchExact</c>).</summary>
    MatchExact,

    /// <summary>The same repository, any tag (<c>matchRepository</c>).</summary>
    MatchRepository,

    /// <summary>Exactly the policy's reference, whatever the image is called (<c>exactReference</c>).</summary>
    ExactReference,

    /// <summary>The policy's repository, any tag (<c>exactRepository</c>).</summary>
    ExactRepository,

    /// <summary>The image name with the policy's prefix replaced by the signed prefix, then as <see cref="MatchRepoDigestOrExact"/> (<c>remapIdentity</c>).</summary>
    RemapIdentity,
}

/// <summary>A <c>signedIdentity</c> rule.</summary>
/// <param name="Type">The rule.</param>
/// <param name="Reference">For <see cref="SignedIdentityType.ExactReference"/>: the reference; for <see cref="SignedIdentityType.ExactRepository"/>: the repository.</param>
/// <param name="Prefix">For <see cref="SignedIdentityType.RemapIdentity"/>: the prefix of the image's name that is replaced.</param>
/// <param name="SignedPrefix">For <see cref="SignedIdentityType.RemapIdentity"/>: what replaces it.</param>
public sealed record SignedIdentity(SignedIdentityType Type, string? Reference = null, string? Prefix = null, string? SignedPrefix = null)
{
    /// <summary>Whether a signature naming <paramref name="signed"/> identifies <paramref name="image"/> under this rule.</summary>
    /// <param name="image">The image being checked, as the caller named it.</param>
    /// <param name="signed">The docker-reference of the signature's payload.</param>
    /// <returns>True when the rule accepts the signature's identity.</returns>
    public bool Matches(ImageReference image, string signed)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!ImageReference.TryParse(signed, out var identity))
        {
            return false;
        }

        switch (Type)
        {
            case SignedIdentityType.MatchExact:
                return image.Digest is null && image.Tag is not null && Exact(image, identity);
            case SignedIdentityType.MatchRepository:
                return identity.Name == image.Name;
            case SignedIdentityType.ExactReference:
                return ImageReference.TryParse(Reference, out var exact) && Exact(exact, identity);
            case SignedIdentityType.ExactRepository:
                return ImageReference.TryParse(Reference, out var repository) && identity.Name == repository.Name;
            case SignedIdentityType.RemapIdentity:
                var name = image.ToString();
                if (Prefix is not null && SignedPrefix is not null && StartsAtBoundary(name, Prefix)
                    && ImageReference.TryParse(SignedPrefix + name[Prefix.Length..], out var remapped))
                {
                    image = remapped;
                }

                return RepoDigestOrExact(image, identity);
            default:
                return RepoDigestOrExact(image, identity);
        }
    }

    private static bool RepoDigestOrExact(ImageReference image, ImageReference identity)
        => image.Digest is not null ? identity.Name == image.Name : Exact(image, identity);

    private static bool Exact(ImageReference expected, ImageReference identity)
        => identity.Name == expected.Name && identity.Tag == expected.Tag && identity.Digest == expected.Digest;

    // A prefix matches a whole host, namespace or repository: "r/a" matches "r/a/b" and "r/a:1", never "r/ab".
    private static bool StartsAtBoundary(string name, string prefix)
        => name.StartsWith(prefix, StringComparison.Ordinal)
           && (name.Length == prefix.Length || prefix.EndsWith('/') || name[prefix.Length] is '/' or ':' or '@');
}

/// <summary>One requirement of a trust policy scope.</summary>
/// <param name="Type">What it requires.</param>
/// <param name="Key">For <see cref="PolicyRequirementType.SigstoreSigned"/>: the public key the signature must verify with.</param>
/// <param name="Identity">For <see cref="PolicyRequirementType.SigstoreSigned"/>: the identity rule.</param>
public sealed record PolicyRequirement(PolicyRequirementType Type, VerificationKey? Key = null, SignedIdentity? Identity = null);

/// <summary>
/// A trust policy in the <c>containers-policy.json</c> format (containers/image): a <c>default</c> list of
/// requirements and, under <c>transports.docker</c>, lists for scopes (<c>host/repo:tag</c>, <c>host/repo</c>,
/// <c>host/namespace</c>, <c>host</c>; the most specific one naming the image wins, <c>""</c> is the transport's
/// default). An image is accepted only when every requirement of its scope is satisfied. Other transports are
/// read and ignored: OciKit only pulls from registries.
/// </summary>
public sealed class TrustPolicy
{
    private readonly IReadOnlyList<PolicyRequirement> _default;
    private readonly Dictionary<string, IReadOnlyList<PolicyRequirement>> _docker;

    private TrustPolicy(string source, IReadOnlyList<PolicyRequirement> defaults, Dictionary<string, IReadOnlyList<PolicyRequirement>> docker)
    {
        Source = source;
        _default = defaults;
        _docker = docker;
    }

    /// <summary>Where the policy was read from.</summary>
    public string Source { get; }

    /// <summary>Reads a policy file; <c>keyPath</c> is resolved against the file's directory when relative.</summary>
    /// <param name="path">The policy file.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="TrustPolicyException">The file cannot be read or is not a valid policy.</exception>
    public static async Task<TrustPolicy> LoadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        string text;
        try
        {
            text = await File.ReadAllTextAsync(full, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrustPolicyException(full, $"it cannot be read ({e.Message}).", e);
        }

        return Parse(text, full, Path.GetDirectoryName(full));
    }

    /// <summary>The system-wide policy file containers/image tools (skopeo, podman, buildah) read when no other is named.</summary>
    public const string SystemPolicyPath = "/etc/containers/policy.json";

    /// <summary>The user's policy file under a home directory: <c>HOME/.config/containers/policy.json</c>, read before <see cref="SystemPolicyPath"/>.</summary>
    /// <param name="home">The home directory.</param>
    /// <returns>The path.</returns>
    public static string UserPolicyPath(string home)
    {
        ArgumentException.ThrowIfNullOrEmpty(home);
        return Path.Combine(home, ".config", "containers", "policy.json");
    }

    /// <summary>
    /// Reads the default policy as containers/image does: the user's <c>$HOME/.config/containers/policy.json</c> when it
    /// exists, else <see cref="SystemPolicyPath"/>. OciKit applies it only when its caller opts in.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The policy; its <see cref="Source"/> says which file it came from.</returns>
    /// <exception cref="TrustPolicyException">Neither file exists, or the one found cannot be read or is not a valid policy.</exception>
    public static Task<TrustPolicy> LoadDefaultAsync(CancellationToken cancellationToken = default)
    {
        var home = Environment.GetEnvironmentVariable("HOME");
        if (string.IsNullOrEmpty(home))
        {
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        }

        return LoadDefaultAsync(home, SystemPolicyPath, cancellationToken);
    }

    /// <summary>As <see cref="LoadDefaultAsync(CancellationToken)"/>, with the home directory and system file given.</summary>
    internal static async Task<TrustPolicy> LoadDefaultAsync(string? home, string systemPath, CancellationToken cancellationToken)
    {
        var user = string.IsNullOrEmpty(home) ? null : UserPolicyPath(home);
        if (user is not null && File.Exists(user))
        {
            return await LoadAsync(user, cancellationToken).ConfigureAwait(false);
        }

        if (File.Exists(systemPath))
        {
            return await LoadAsync(systemPath, cancellationToken).ConfigureAwait(false);
        }

        throw new TrustPolicyException(
            systemPath,
            user is null
                ? "the default policy was asked for and this file does not exist (and there is no home directory for a user policy)."
                : $"the default policy was asked for and neither {user} nor this file exists.");
    }

    /// <summary>Parses policy JSON.</summary>
    /// <param name="json">The policy text.</param>
    /// <param name="source">What to call it in errors (the file name).</param>
    /// <param name="baseDirectory">Where relative <c>keyPath</c>s are resolved; the current directory when null.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="TrustPolicyException">It is not a valid policy: not JSON, no <c>default</c>, an unknown type or field, an unreadable key.</exception>
    public static TrustPolicy Parse(string json, string source, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new TrustPolicyException(source, $"it is not JSON ({e.Message}).", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TrustPolicyException(source, "it is not a JSON object.");
            }

            IReadOnlyList<PolicyRequirement>? defaults = null;
            var docker = new Dictionary<string, IReadOnlyList<PolicyRequirement>>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "default":
                        defaults = Requirements(property.Value, "default", source, baseDirectory);
                        break;
                    case "transports":
                        if (property.Value.ValueKind != JsonValueKind.Object)
                        {
                            throw new TrustPolicyException(source, "'transports' is not an object.");
                        }

                        foreach (var transport in property.Value.EnumerateObject())
                        {
                            if (transport.Value.ValueKind != JsonValueKind.Object)
                            {
                                throw new TrustPolicyException(source, $"transport '{transport.Name}' is not an object of scopes.");
                            }

                            foreach (var scope in transport.Value.EnumerateObject())
                            {
                                var requirements = Requirements(scope.Value, $"transports.{transport.Name}[\"{scope.Name}\"]", source, baseDirectory);
                                if (transport.Name == "docker")
                                {
                                    if (scope.Name.Length > 0 && !IsDockerScope(scope.Name))
                                    {
                                        throw new TrustPolicyException(source, $"docker scope '{scope.Name}' is not a host, namespace, repository or reference.");
                                    }

                                    docker[scope.Name] = requirements;
                                }
                            }
                        }

                        break;
                    default:
                        throw new TrustPolicyException(source, $"it has an unknown field '{property.Name}'.");
                }
            }

            return new TrustPolicy(source, defaults ?? throw new TrustPolicyException(source, "it has no 'default' requirements."), docker);
        }
    }

    /// <summary>The scope whose requirements apply to an image: the most specific <c>transports.docker</c> scope naming it, else <c>""</c> there, else <c>default</c>.</summary>
    /// <param name="image">The image.</param>
    /// <returns>The scope's name (<c>transports.docker["…"]</c> or <c>default</c>) and its requirements.</returns>
    public (string Scope, IReadOnlyList<PolicyRequirement> Requirements) RequirementsFor(ImageReference image)
    {
        ArgumentNullException.ThrowIfNull(image);
        foreach (var candidate in Scopes(image))
        {
            if (_docker.TryGetValue(candidate, out var requirements))
            {
                return ($"transports.docker[\"{candidate}\"]", requirements);
            }
        }

        return ("default", _default);
    }

    /// <summary>
    /// Accepts an image or refuses it: every requirement of its scope must be satisfied; a <c>sigstoreSigned</c>
    /// requirement needs a signature of <paramref name="manifestDigest"/> that its key verifies and whose identity
    /// its <c>signedIdentity</c> rule accepts.
    /// </summary>
    /// <param name="image">The image as the caller named it (by tag or digest).</param>
    /// <param name="manifestDigest">The digest of the manifest (or index) the name resolves to, the one that will be stored.</param>
    /// <param name="client">The registry client that reads the signatures.</param>
    /// <param name="cancellationToken">Cancels the evaluation.</param>
    /// <returns>The scope that accepted the image.</returns>
    /// <exception cref="TrustPolicyRefusedException">The policy refuses the image; the message names the scope and why.</exception>
    /// <exception cref="RegistryException">The registry failed while the signatures were read.</exception>
    public async Task<string> EvaluateAsync(ImageReference image, Digest manifestDigest, RegistryClient client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(client);
        var (scope, requirements) = RequirementsFor(image);
        foreach (var requirement in requirements)
        {
            switch (requirement.Type)
            {
                case PolicyRequirementType.InsecureAcceptAnything:
                    break;
                case PolicyRequirementType.Reject:
                    throw new TrustPolicyRefusedException(image.ToString(), scope, "it rejects every image");
                default:
                    await CheckSignedAsync(image, manifestDigest, client, requirement, scope, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }

        return scope;
    }

    /// <summary>
    /// Resolves an image in its registry and evaluates the policy against the digest it resolves to, before anything
    /// is read or stored: the caller then transfers the returned reference, pinned to that digest, so what is stored
    /// is what was accepted (a tag moved in between changes nothing).
    /// </summary>
    /// <param name="image">The image as the caller named it (by tag or digest).</param>
    /// <param name="client">The registry client that resolves the image and reads its signatures.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns><paramref name="image"/> with the accepted digest.</returns>
    /// <exception cref="TrustPolicyRefusedException">The policy refuses the image; the message names the image, the scope and why.</exception>
    /// <exception cref="RegistryException">The registry failed (for example <c>MANIFEST_UNKNOWN</c>: there is no such image).</exception>
    public async Task<ImageReference> AdmitAsync(ImageReference image, RegistryClient client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(client);
        var digest = image.Digest ?? (await client.GetManifestAsync(image, cancellationToken).ConfigureAwait(false)).Digest;
        await EvaluateAsync(image, digest, client, cancellationToken).ConfigureAwait(false);
        return image.WithDigest(digest);
    }

    private static async Task CheckSignedAsync(ImageReference image, Digest manifestDigest, RegistryClient client, PolicyRequirement requirement, string scope, CancellationToken cancellationToken)
    {
        IReadOnlyList<VerifiedSignature> verified;
        try
        {
            verified = await CosignSignatures.VerifyAsync(client, image.WithDigest(manifestDigest), requirement.Key!, requiredRepository: null, cancellationToken).ConfigureAwait(false);
        }
        catch (SignatureVerificationException e)
        {
            throw new TrustPolicyRefusedException(image.ToString(), scope, e.Reasons.Count == 0 ? "it has no signatures" : string.Join("; ", e.Reasons), e);
        }

        var identity = requirement.Identity ?? new SignedIdentity(SignedIdentityType.MatchRepoDigestOrExact);
        if (!verified.Any(signature => identity.Matches(image, signature.DockerReference)))
        {
            var names = string.Join(", ", verified.Select(s => $"'{s.DockerReference}'").Distinct());
            throw new TrustPolicyRefusedException(image.ToString(), scope, $"its signatures by key {requirement.Key!.Fingerprint} name {names}, which the {identity.Type} identity rule does not accept");
        }
    }

    // Most specific first: the reference itself, the repository, each namespace, the host.
    private static IEnumerable<string> Scopes(ImageReference image)
    {
        if (image.Digest is { } digest)
        {
            yield return image.Name + "@" + digest;
        }
        else if (image.Tag is { } tag)
        {
            yield return image.Name + ":" + tag;
        }

        var name = image.Name;
        while (true)
        {
            yield return name;
            var slash = name.LastIndexOf('/');
            if (slash < 0)
            {
                break;
            }

            name = name[..slash];
        }

        yield return string.Empty;
    }

    private static bool IsDockerScope(string scope)
        => !scope.Contains("://", StringComparison.Ordinal) && !scope.StartsWith('/') && !scope.EndsWith('/')
           && !scope.Contains('*', StringComparison.Ordinal) && !scope.Any(char.IsWhiteSpace);

    // Whether a spelling names a tag or digest itself (a ':' after the last '/', or an '@'), not just a repository.
    private static bool HasTagOrDigest(string reference)
        => reference.Contains('@', StringComparison.Ordinal) || reference[(reference.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal);

    private static IReadOnlyList<PolicyRequirement> Requirements(JsonElement list, string where, string source, string? baseDirectory)
    {
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            throw new TrustPolicyException(source, $"{where} is not a non-empty list of requirements.");
        }

        return list.EnumerateArray().Select((element, i) => Requirement(element, $"{where}[{i}]", source, baseDirectory)).ToList();
    }

    private static PolicyRequirement Requirement(JsonElement element, string where, string source, string? baseDirectory)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new TrustPolicyException(source, $"{where} is not an object.");
        }

        var type = String(element, "type", where, source) ?? throw new TrustPolicyException(source, $"{where} has no 'type'.");
        switch (type)
        {
            case "insecureAcceptAnything":
                OnlyFields(element, where, source, "type");
                return new PolicyRequirement(PolicyRequirementType.InsecureAcceptAnything);
            case "reject":
                OnlyFields(element, where, source, "type");
                return new PolicyRequirement(PolicyRequirementType.Reject);
            case "sigstoreSigned":
                OnlyFields(element, where, source, "type", "keyPath", "keyData", "signedIdentity");
                var keyPath = String(element, "keyPath", where, source);
                var keyData = String(element, "keyData", where, source);
                var key = (keyPath, keyData) switch
                {
                    (not null, not null) => throw new TrustPolicyException(source, $"{where} has both 'keyPath' and 'keyData'."),
                    (null, null) => throw new TrustPolicyException(source, $"{where} has neither 'keyPath' nor 'keyData' (keyless signatures are not supported)."),
                    (not null, _) => ReadKeyFile(keyPath, baseDirectory, where, source),
                    _ => ReadKeyData(keyData!, where, source),
                };
                var identity = element.TryGetProperty("signedIdentity", out var rule)
                    ? Identity(rule, where + ".signedIdentity", source)
                    : new SignedIdentity(SignedIdentityType.MatchRepoDigestOrExact);
                return new PolicyRequirement(PolicyRequirementType.SigstoreSigned, key, identity);
            case "signedBy":
                throw new TrustPolicyException(source, $"{where} has type 'signedBy' (GPG simple signing), which is not supported; use 'sigstoreSigned'.");
            default:
                throw new TrustPolicyException(source, $"{where} has an unknown type '{type}'.");
        }
    }

    private static SignedIdentity Identity(JsonElement element, string where, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new TrustPolicyException(source, $"{where} is not an object.");
        }

        var type = String(element, "type", where, source) ?? throw new TrustPolicyException(source, $"{where} has no 'type'.");
        switch (type)
        {
            case "matchRepoDigestOrExact":
                OnlyFields(element, where, source, "type");
                return new SignedIdentity(SignedIdentityType.MatchRepoDigestOrExact);
            case "matchExact":
                OnlyFields(element, where, source, "type");
                return new SignedIdentity(SignedIdentityType.MatchExact);
            case "matchRepository":
                OnlyFields(element, where, source, "type");
                return new SignedIdentity(SignedIdentityType.MatchRepository);
            case "exactReference":
                OnlyFields(element, where, source, "type", "dockerReference");
                var reference = String(element, "dockerReference", where, source);
                if (!ImageReference.TryParse(reference, out _) || !HasTagOrDigest(reference))
                {
                    throw new TrustPolicyException(source, $"{where}.dockerReference '{reference}' is not a reference with a tag or digest.");
                }

                return new SignedIdentity(SignedIdentityType.ExactReference, Reference: reference);
            case "exactRepository":
                OnlyFields(element, where, source, "type", "dockerRepository");
                var repository = String(element, "dockerRepository", where, source);
                if (!ImageReference.TryParse(repository, out _) || HasTagOrDigest(repository))
                {
                    throw new TrustPolicyException(source, $"{where}.dockerRepository '{repository}' is not a repository without tag or digest.");
                }

                return new SignedIdentity(SignedIdentityType.ExactRepository, Reference: repository);
            case "remapIdentity":
                OnlyFields(element, where, source, "type", "prefix", "signedPrefix");
                var prefix = String(element, "prefix", where, source);
                var signedPrefix = String(element, "signedPrefix", where, source);
                if (string.IsNullOrEmpty(prefix) || string.IsNullOrEmpty(signedPrefix))
                {
                    throw new TrustPolicyException(source, $"{where} needs both 'prefix' and 'signedPrefix'.");
                }

                return new SignedIdentity(SignedIdentityType.RemapIdentity, Prefix: prefix, SignedPrefix: signedPrefix);
            default:
                throw new TrustPolicyException(source, $"{where} has an unknown type '{type}'.");
        }
    }

    private static VerificationKey ReadKeyFile(string path, string? baseDirectory, string where, string source)
    {
        var full = Path.GetFullPath(path, baseDirectory ?? Directory.GetCurrentDirectory());
        string pem;
        try
        {
            pem = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrustPolicyException(source, $"{where}.keyPath {full} cannot be read ({e.Message}).", e);
        }

        try
        {
            return VerificationKey.FromPem(pem, full);
        }
        catch (SigningKeyException e)
        {
            throw new TrustPolicyException(source, $"{where}.keyPath: {e.Message}", e);
        }
    }

    private static VerificationKey ReadKeyData(string data, string where, string source)
    {
        try
        {
            return VerificationKey.FromPem(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(data)), where + ".keyData");
        }
        catch (FormatException e)
        {
            throw new TrustPolicyException(source, $"{where}.keyData is not base64.", e);
        }
        catch (SigningKeyException e)
        {
            throw new TrustPolicyException(source, $"{where}.keyData: {e.Reason}", e);
        }
    }

    private static string? String(JsonElement element, string name, string where, string source)
    {
        if (!element.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new TrustPolicyException(source, $"{where}.{name} is not a string.");
    }

    private static void OnlyFields(JsonElement element, string where, string source, params string[] allowed)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!allowed.Contains(property.Name))
            {
                throw new TrustPolicyException(source, $"{where} has an unknown or unsupported field '{property.Name}'.");
            }
        }
    }
}
