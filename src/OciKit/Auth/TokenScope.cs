using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using OciKit.Primitives;
using OciKit.References;

namespace OciKit.Auth;

/// <summary>
/// A token scope as the distribution token spec writes it: <c>resourcetype:resourcename:action[,action]*</c>,
/// for example <c>repository:library/alpine:pull,push</c>.
/// </summary>
/// <remarks>
/// See <see href="https://distribution.github.io/distribution/spec/auth/scope/">Token Scope Documentation</see>.
/// The resource name may itself contain <c>:</c> (the type ends at the first colon, the actions start after the
/// last one). Actions are kept sorted (ordinal) and without duplicates, so equal scopes have equal text.
/// </remarks>
public sealed record TokenScope
{
    /// <summary>The <c>repository</c> resource type.</summary>
    public const string RepositoryType = "repository";

    /// <summary>The <c>registry</c> resource type (for example <c>registry:catalog:*</c>).</summary>
    public const string RegistryType = "registry";

    /// <summary>The <c>pull</c> action.</summary>
    public const string Pull = "pull";

    /// <summary>The <c>push</c> action.</summary>
    public const string Push = "push";

    /// <summary>The <c>delete</c> action.</summary>
    public const string Delete = "delete";

    /// <summary>The <c>*</c> action: every action.</summary>
    public const string AllActions = "*";

    private readonly ImmutableArray<string> _actions;

    private TokenScope(string resourceType, string resourceName, ImmutableArray<string> actions)
    {
        ResourceType = resourceType;
        ResourceName = resourceName;
        _actions = actions;
    }

    /// <summary>The resource type, for example <c>repository</c>.</summary>
    public string ResourceType { get; }

    /// <summary>The resource name, for example <c>library/alpine</c>.</summary>
    public string ResourceName { get; }

    /// <summary>The actions, sorted and without duplicates, for example <c>pull</c>, <c>push</c>.</summary>
    public IReadOnlyList<string> Actions => _actions;

    /// <summary>Creates a scope.</summary>
    /// <param name="resourceType">The resource type, for example <c>repository</c>.</param>
    /// <param name="resourceName">The resource name.</param>
    /// <param name="actions">At least one action.</param>
    /// <returns>The scope.</returns>
    /// <exception cref="ArgumentException">A part is empty or contains a character the scope grammar forbids.</exception>
    public static TokenScope Create(string resourceType, string resourceName, params IEnumerable<string> actions)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourceType);
        ArgumentException.ThrowIfNullOrEmpty(resourceName);
        ArgumentNullException.ThrowIfNull(actions);
        if (resourceType.Contains(':', StringComparison.Ordinal) || resourceType.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException("A resource type may not contain ':' or white space.", nameof(resourceType));
        }

        if (resourceName.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException("A resource name may not contain white space.", nameof(resourceName));
        }

        var sorted = NormalizeActions(actions);
        if (sorted.IsEmpty || sorted.Any(a => a.Length == 0 || a.Contains(',', StringComparison.Ordinal) || a.Contains(':', StringComparison.Ordinal) || a.Any(char.IsWhiteSpace)))
        {
            throw new ArgumentException("A scope needs at least one action, each non-empty and without ',', ':' or white space.", nameof(actions));
        }

        return new TokenScope(resourceType, resourceName, sorted);
    }

    /// <summary>A <c>repository</c> scope.</summary>
    /// <param name="repository">The repository path, for example <c>library/alpine</c>.</param>
    /// <param name="actions">The actions, for example <see cref="Pull"/> and <see cref="Push"/>.</param>
    /// <returns>The scope.</returns>
    /// <exception cref="ArgumentException">The repository is empty or no valid action is given.</exception>
    public static TokenScope ForRepository(string repository, params IEnumerable<string> actions)
        => Create(RepositoryType, repository, actions);

    /// <summary>A <c>repository</c> scope for an image reference's repository.</summary>
    /// <param name="reference">The image reference.</param>
    /// <param name="actions">The actions.</param>
    /// <returns>The scope.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reference"/> is <see langword="null"/>.</exception>
    public static TokenScope ForRepository(ImageReference reference, params IEnumerable<string> actions)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return Create(RepositoryType, reference.Repository, actions);
    }

    /// <summary>Parses one scope.</summary>
    /// <param name="scope">The text, for example <c>repository:library/alpine:pull</c>.</param>
    /// <returns>The scope.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scope"/> is <see langword="null"/>.</exception>
    /// <exception cref="OciFormatException">The text is not a scope.</exception>
    public static TokenScope Parse(string scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return TryParse(scope, out var result)
            ? result
            : throw new OciFormatException("token scope", $"'{scope}' is not of the form type:name:action[,action].");
    }

    /// <summary>Tries to parse one scope.</summary>
    /// <param name="scope">The text.</param>
    /// <param name="result">The scope, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a scope.</returns>
    public static bool TryParse([NotNullWhen(true)] string? scope, [NotNullWhen(true)] out TokenScope? result)
    {
        result = null;
        if (string.IsNullOrEmpty(scope))
        {
            return false;
        }

        var first = scope.IndexOf(':', StringComparison.Ordinal);
        var last = scope.LastIndexOf(':');
        if (first <= 0 || last <= first + 1 || last == scope.Length - 1)
        {
            return false;
        }

        try
        {
            result = Create(scope[..first], scope[(first + 1)..last], scope[(last + 1)..].Split(','));
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Parses a space-separated list of scopes, as in the <c>scope</c> parameter of a challenge.</summary>
    /// <param name="scopes">The text; empty text gives an empty list.</param>
    /// <returns>The scopes, merged (see <see cref="Merge"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scopes"/> is <see langword="null"/>.</exception>
    /// <exception cref="OciFormatException">An item is not a scope.</exception>
    public static IReadOnlyList<TokenScope> ParseList(string scopes)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        return Merge(scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Parse));
    }

    /// <summary>
    /// Merges scopes: scopes of the same type and name become one with the union of their actions. The order of
    /// first appearance is kept.
    /// </summary>
    /// <param name="scopes">The scopes.</param>
    /// <returns>The merged scopes.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scopes"/> is <see langword="null"/>.</exception>
    public static IReadOnlyList<TokenScope> Merge(IEnumerable<TokenScope> scopes)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        var merged = new List<TokenScope>();
        foreach (var scope in scopes)
        {
            ArgumentNullException.ThrowIfNull(scope, nameof(scopes));
            var index = merged.FindIndex(s => s.ResourceType == scope.ResourceType && s.ResourceName == scope.ResourceName);
            if (index < 0)
            {
                merged.Add(scope);
            }
            else
            {
                var existing = merged[index];
                merged[index] = new TokenScope(existing.ResourceType, existing.ResourceName, NormalizeActions(existing._actions.Concat(scope._actions)));
            }
        }

        return merged.ToImmutableArray();
    }

    /// <summary>Formats scopes as the space-separated list a token request's <c>scope</c> parameter may carry.</summary>
    /// <param name="scopes">The scopes; they are merged first.</param>
    /// <returns>For example <c>repository:a:pull repository:b:pull,push</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scopes"/> is <see langword="null"/>.</exception>
    public static string FormatList(IEnumerable<TokenScope> scopes) => string.Join(' ', Merge(scopes));

    /// <summary>Whether a token granted this scope also grants <paramref name="other"/>: same resource, and every action of <paramref name="other"/> (or <c>*</c>).</summary>
    /// <param name="other">The scope needed.</param>
    /// <returns><see langword="true"/> when this scope covers it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is <see langword="null"/>.</exception>
    public bool Covers(TokenScope other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ResourceType == other.ResourceType
            && ResourceName == other.ResourceName
            && (_actions.Contains(AllActions) || other._actions.All(_actions.Contains));
    }

    /// <summary>Compares type, name and actions.</summary>
    /// <param name="other">The other scope.</param>
    /// <returns><see langword="true"/> when both are the same scope.</returns>
    public bool Equals(TokenScope? other)
        => other is not null && ResourceType == other.ResourceType && ResourceName == other.ResourceName && _actions.SequenceEqual(other._actions);

    /// <summary>A hash of type, name and actions.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => HashCode.Combine(ResourceType, ResourceName, string.Join(',', _actions));

    /// <summary>The scope in token-request form.</summary>
    /// <returns>For example <c>repository:library/alpine:pull,push</c>.</returns>
    public override string ToString() => ResourceType + ":" + ResourceName + ":" + string.Join(',', _actions);

    private static ImmutableArray<string> NormalizeActions(IEnumerable<string> actions)
    {
        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var action in actions)
        {
            set.Add(action?.Trim() ?? string.Empty);
        }

        return [.. set];
    }
}
