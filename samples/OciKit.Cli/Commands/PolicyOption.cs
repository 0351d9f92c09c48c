using System.CommandLine;
using OciKit.References;
using OciKit.Registry;
using OciKit.Signing;

namespace OciKit.Cli.Commands;

/// <summary>
/// <c>--policy FILE</c> and <c>--default-policy</c> of pull, copy and build: a containers-policy.json trust policy
/// evaluated against the digest an image resolves to before anything is written; the transfer then reads that digest,
/// so what is stored is what was accepted. Without either option no policy is applied.
/// </summary>
internal sealed class PolicyOption
{
    private PolicyOption(Option<string?> file, Option<bool> useDefault)
    {
        File = file;
        Default = useDefault;
    }

    /// <summary><c>--policy FILE</c>.</summary>
    public Option<string?> File { get; }

    /// <summary><c>--default-policy</c>: the policy file skopeo, podman and buildah read.</summary>
    public Option<bool> Default { get; }

    /// <summary>Creates both options and adds them to a command.</summary>
    public static PolicyOption AddTo(Command command)
    {
        var option = new PolicyOption(
            new Option<string?>("--policy")
            {
                Description = "A containers-policy.json trust policy the image must satisfy (checked before anything is stored). Without it (or --default-policy), no policy is applied.",
            },
            new Option<bool>("--default-policy")
            {
                Description = $"Apply the default trust policy: $HOME/.config/containers/policy.json, else {TrustPolicy.SystemPolicyPath} (the files skopeo, podman and buildah read); an error when neither exists.",
            });
        command.Options.Add(option.File);
        command.Options.Add(option.Default);
        return option;
    }

    /// <summary>Whether either option was given.</summary>
    public bool IsGiven(ParseResult parseResult) => parseResult.GetValue(File) is not null || parseResult.GetValue(Default);

    /// <summary>The policy the options name, or null when neither was given.</summary>
    /// <exception cref="ArgumentException">Both were given.</exception>
    /// <exception cref="TrustPolicyException">The file is missing or invalid.</exception>
    public async Task<TrustPolicy?> LoadAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var path = parseResult.GetValue(File);
        var useDefault = parseResult.GetValue(Default);
        if (path is not null && useDefault)
        {
            throw new ArgumentException("--policy and --default-policy name two policies; give one.");
        }

        return path is not null ? await TrustPolicy.LoadAsync(path, cancellationToken).ConfigureAwait(false)
            : useDefault ? await TrustPolicy.LoadDefaultAsync(cancellationToken).ConfigureAwait(false)
            : null;
    }

    /// <summary>Evaluates the policy (when there is one) and returns the image pinned to the accepted digest.</summary>
    public static async Task<ImageReference> AdmitAsync(TrustPolicy? policy, RegistryClient client, ImageReference image, CancellationToken cancellationToken)
        => policy is null ? image : await policy.AdmitAsync(image, client, cancellationToken).ConfigureAwait(false);
}
