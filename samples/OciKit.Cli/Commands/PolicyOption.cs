using System.CommandLine;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>--policy FILE</c> of pull and copy: a containers-policy.json trust policy evaluated against the digest the
/// source resolves to before anything is written; the transfer then reads that digest, so what is stored is what
/// was accepted.
/// </summary>
internal static class PolicyOption
{
    public static Option<string?> Create() => new("--policy")
    {
        Description = "A containers-policy.json trust policy the image must satisfy (checked before anything is stored). Without it, no policy is applied.",
    };

    /// <summary>Loads the policy (when given), resolves the image, evaluates it and returns the image pinned to the accepted digest.</summary>
    public static async Task<ImageReference> AdmitAsync(string? policyPath, RegistryClient client, ImageReference image, CancellationToken cancellationToken)
    {
        if (policyPath is null)
        {
            return image;
        }

        var policy = await TrustPolicy.LoadAsync(policyPath, cancellationToken).ConfigureAwait(false);
        var digest = image.Digest ?? (await client.GetManifestAsync(image, cancellationToken).ConfigureAwait(false)).Digest;
        await policy.EvaluateAsync(image, digest, client, cancellationToken).ConfigureAwait(false);
        return image.WithDigest(digest);
    }
}
