using System.Collections.Immutable;
using OciKit.Dockerfile;
using OciKit.Images;

namespace OciKit.Transfer;

/// <summary>
/// <c>docker commit --change</c>: Dockerfile instructions that change only the config (CMD, ENTRYPOINT, ENV, EXPOSE,
/// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), applied as written (no variable expansion, as docker commit does).
/// </summary>
internal static class CommitChanges
{
    private static readonly ImmutableArray<string> DefaultShell = ["/bin/sh", "-c"];

    /// <exception cref="ArgumentException">A change does not parse or is not one commit accepts.</exception>
    public static Image Apply(Image image, IEnumerable<string> changes)
    {
        foreach (var change in changes)
        {
            Instruction instruction;
            try
            {
                var stages = ParsedDockerfile.Parse("FROM scratch\n" + change, "--change").Stages;
                instruction = stages.Length == 1 && stages[0].Instructions.Length == 1
                    ? stages[0].Instructions[0]
                    : throw new ArgumentException($"--change '{change}' must be exactly one instruction.", nameof(changes));
            }
            catch (DockerfileSyntaxException ex)
            {
                throw new ArgumentException($"--change '{change}': {ex.Message}", nameof(changes), ex);
            }

            var shell = image.Config.Config?.Shell is { IsDefaultOrEmpty: false } s ? s : DefaultShell;
            ImmutableArray<string> Command(ImmutableArray<string> command, bool prependShell) =>
                prependShell ? [.. shell, string.Join(' ', command)] : command;

            image = instruction switch
            {
                CmdInstruction c => image.WithCmd(Command(c.Command, c.PrependShell)),
                EntrypointInstruction e => image.WithEntrypoint(Command(e.Command, e.PrependShell)),
                EnvInstruction env => env.Variables.Aggregate(image, (i, v) => i.WithEnv(v.Name, Unquote(v.Value))),
                LabelInstruction l => l.Labels.Aggregate(image, (i, v) => i.WithLabel(Unquote(v.Name), Unquote(v.Value))),
                ExposeInstruction x => x.Ports.Aggregate(image, (i, p) => i.WithExposedPort(p.Contains('/', StringComparison.Ordinal) ? p : p + "/tcp")),
                UserInstruction u => image.WithUser(u.User),
                WorkdirInstruction w => image.WithWorkingDir(w.Path),
                VolumeInstruction v => v.Paths.Aggregate(image, (i, p) => i.WithVolume(p)),
                StopSignalInstruction ss => image.WithContainerConfig(c => c with { StopSignal = ss.Signal }),
                OnBuildInstruction o => image.WithContainerConfig(c => c with { OnBuild = (c.OnBuild ?? []).Add(o.Expression) }),
                _ => throw new ArgumentException($"--change '{change}': only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR can be changed.", nameof(changes)),
            };
        }

        return image;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] is '"' or '\'') && value[^1] == value[0] ? value[1..^1] : value;
}
