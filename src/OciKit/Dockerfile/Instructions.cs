using System.Collections.Immutable;

namespace OciKit.Dockerfile;

/// <summary>
/// A typed Dockerfile instruction. The set is closed: one sealed record per keyword. Values are kept as written
/// (unexpanded); the build engine expands them once build arguments and the stage environment are known.
/// </summary>
public abstract record Instruction
{
    private protected Instruction()
    {
    }

    /// <summary>The 1-based line the instruction starts on.</summary>
    public int StartLine { get; init; }

    /// <summary>The 1-based last line of the instruction.</summary>
    public int EndLine { get; init; }

    /// <summary>The instruction's text with continuation lines joined (without heredoc bodies).</summary>
    public string Original { get; init; } = "";
}

/// <summary>A name and an unexpanded value, as in ENV and LABEL.</summary>
/// <param name="Name">The key as written.</param>
/// <param name="Value">The value as written (quotes kept).</param>
public sealed record NameValue(string Name, string Value);

/// <summary>An inline file given as a heredoc to COPY or ADD (<c>COPY &lt;&lt;EOF /dest</c>).</summary>
/// <param name="Path">The heredoc's name, used as the file name.</param>
/// <param name="Data">The content (leading tabs already stripped for <c>&lt;&lt;-</c>).</param>
/// <param name="Expand">Whether variables in the content are expanded.</param>
public sealed record HeredocSource(string Path, string Data, bool Expand);

/// <summary><c>FROM [--platform=P] image [AS name]</c>: starts a build stage.</summary>
/// <param name="Image">The base image reference or stage name, unexpanded.</param>
/// <param name="Platform">The <c>--platform</c> value, unexpanded.</param>
/// <param name="StageName">The stage name after <c>AS</c>, in lower case.</param>
public sealed record FromInstruction(string Image, string? Platform, string? StageName) : Instruction;

/// <summary><c>COPY</c>: copies files from the context, a stage or an image, or heredoc content.</summary>
/// <param name="Sources">The source paths (heredoc sources excluded).</param>
/// <param name="HeredocSources">The heredoc sources.</param>
/// <param name="Destination">The destination path.</param>
public sealed record CopyInstruction(ImmutableArray<string> Sources, ImmutableArray<HeredocSource> HeredocSources, string Destination)
    : Instruction
{
    /// <summary>The <c>--from</c> stage, image or context.</summary>
    public string? From { get; init; }

    /// <summary>The <c>--chown</c> value (<c>user[:group]</c>).</summary>
    public string? Chown { get; init; }

    /// <summary>The <c>--chmod</c> value.</summary>
    public string? Chmod { get; init; }

    /// <summary>Whether <c>--link</c> was given.</summary>
    public bool Link { get; init; }

    /// <summary>Whether <c>--parents</c> was given.</summary>
    public bool Parents { get; init; }

    /// <summary>The <c>--exclude</c> patterns, in order.</summary>
    public ImmutableArray<string> Exclude { get; init; } = [];

    /// <summary>Whether the arguments were in JSON form.</summary>
    public bool IsJson { get; init; }
}

/// <summary><c>ADD</c>: like COPY, and also fetches URLs and Git repositories and unpacks local archives.</summary>
/// <param name="Sources">The source paths or URLs (heredoc sources excluded).</param>
/// <param name="HeredocSources">The heredoc sources.</param>
/// <param name="Destination">The destination path.</param>
public sealed record AddInstruction(ImmutableArray<string> Sources, ImmutableArray<HeredocSource> HeredocSources, string Destination)
    : Instruction
{
    /// <summary>The <c>--chown</c> value (<c>user[:group]</c>).</summary>
    public string? Chown { get; init; }

    /// <summary>The <c>--chmod</c> value.</summary>
    public string? Chmod { get; init; }

    /// <summary>Whether <c>--link</c> was given.</summary>
    public bool Link { get; init; }

    /// <summary>The <c>--checksum</c> value for a remote source.</summary>
    public string? Checksum { get; init; }

    /// <summary>The <c>--keep-git-dir</c> value, if given.</summary>
    public bool? KeepGitDir { get; init; }

    /// <summary>The <c>--unpack</c> value, if given.</summary>
    public bool? Unpack { get; init; }

    /// <summary>The <c>--exclude</c> patterns, in order.</summary>
    public ImmutableArray<string> Exclude { get; init; } = [];

    /// <summary>Whether the arguments were in JSON form.</summary>
    public bool IsJson { get; init; }
}

/// <summary><c>ENV k=v ...</c>: sets environment variables.</summary>
/// <param name="Variables">The variables in order, unexpanded.</param>
public sealed record EnvInstruction(ImmutableArray<NameValue> Variables) : Instruction;

/// <summary><c>LABEL k=v ...</c>: adds image labels.</summary>
/// <param name="Labels">The labels in order, unexpanded.</param>
public sealed record LabelInstruction(ImmutableArray<NameValue> Labels) : Instruction;

/// <summary>One build argument declared by ARG.</summary>
/// <param name="Name">The argument's name.</param>
/// <param name="DefaultValue">The default after <c>=</c>, unexpanded, or <see langword="null"/> if none.</param>
public sealed record ArgDeclaration(string Name, string? DefaultValue);

/// <summary><c>ARG name[=default] ...</c>: declares build arguments.</summary>
/// <param name="Args">The declarations in order.</param>
public sealed record ArgInstruction(ImmutableArray<ArgDeclaration> Args) : Instruction;

/// <summary><c>WORKDIR path</c>.</summary>
/// <param name="Path">The directory, unexpanded.</param>
public sealed record WorkdirInstruction(string Path) : Instruction;

/// <summary><c>USER user[:group]</c>.</summary>
/// <param name="User">The user (and group), unexpanded.</param>
public sealed record UserInstruction(string User) : Instruction;

/// <summary><c>EXPOSE port[/proto] ...</c>.</summary>
/// <param name="Ports">The ports as written.</param>
public sealed record ExposeInstruction(ImmutableArray<string> Ports) : Instruction;

/// <summary><c>VOLUME path ...</c>.</summary>
/// <param name="Paths">The mount points.</param>
public sealed record VolumeInstruction(ImmutableArray<string> Paths) : Instruction;

/// <summary><c>ENTRYPOINT</c>: the image's entry point.</summary>
/// <param name="Command">The command: the exec-form elements, or the shell-form text as one element.</param>
/// <param name="PrependShell">Whether the command was in shell form and runs through the stage's shell.</param>
public sealed record EntrypointInstruction(ImmutableArray<string> Command, bool PrependShell) : Instruction;

/// <summary><c>CMD</c>: the image's default command.</summary>
/// <param name="Command">The command: the exec-form elements, or the shell-form text as one element.</param>
/// <param name="PrependShell">Whether the command was in shell form and runs through the stage's shell.</param>
public sealed record CmdInstruction(ImmutableArray<string> Command, bool PrependShell) : Instruction;

/// <summary>A <c>RUN --mount</c> option, its fields kept unexpanded.</summary>
/// <param name="Type">The mount type: <c>bind</c> (the default), <c>cache</c>, <c>tmpfs</c>, <c>secret</c> or <c>ssh</c>.</param>
/// <param name="Options">The other fields in order (keys in lower case; a bare key has a null value).</param>
public sealed record RunMount(string Type, ImmutableArray<KeyValuePair<string, string?>> Options)
{
    /// <summary>The value of a field (<c>target</c>, <c>source</c>, <c>id</c> ...), or null when absent.</summary>
    /// <param name="key">The field name; aliases such as <c>dst</c> are not resolved.</param>
    /// <returns>The value.</returns>
    public string? Get(string key)
    {
        foreach (var option in Options)
        {
            if (string.Equals(option.Key, key, StringComparison.Ordinal))
            {
                return option.Value;
            }
        }

        return null;
    }
}

/// <summary><c>RUN</c>: a command to run while building (OciKit never runs it, but keeps it exactly).</summary>
/// <param name="Command">The command: the exec-form elements, or the shell-form text as one element.</param>
/// <param name="PrependShell">Whether the command was in shell form and runs through the stage's shell.</param>
public sealed record RunInstruction(ImmutableArray<string> Command, bool PrependShell) : Instruction
{
    /// <summary>The heredocs attached to the command.</summary>
    public ImmutableArray<DockerfileHeredoc> Heredocs { get; init; } = [];

    /// <summary>The <c>--mount</c> options.</summary>
    public ImmutableArray<RunMount> Mounts { get; init; } = [];

    /// <summary>The <c>--network</c> mode (<c>default</c>, <c>none</c> or <c>host</c>).</summary>
    public string? Network { get; init; }

    /// <summary>The <c>--security</c> mode (<c>sandbox</c> or <c>insecure</c>).</summary>
    public string? Security { get; init; }
}

/// <summary><c>SHELL ["executable", "param"...]</c>: the shell for shell-form commands.</summary>
/// <param name="Shell">The shell command line.</param>
public sealed record ShellInstruction(ImmutableArray<string> Shell) : Instruction;

/// <summary><c>STOPSIGNAL signal</c>.</summary>
/// <param name="Signal">The signal name or number, unexpanded.</param>
public sealed record StopSignalInstruction(string Signal) : Instruction;

/// <summary><c>HEALTHCHECK</c>: how to test the container's health, or <c>NONE</c> to disable an inherited check.</summary>
/// <param name="Test">
/// The test as the image config stores it: <c>["NONE"]</c>, <c>["CMD", args...]</c> or <c>["CMD-SHELL", command]</c>.
/// </param>
public sealed record HealthcheckInstruction(ImmutableArray<string> Test) : Instruction
{
    /// <summary>Whether this is <c>HEALTHCHECK NONE</c>.</summary>
    public bool IsNone => Test.Length == 1 && Test[0] == "NONE";

    /// <summary>The <c>--interval</c> value.</summary>
    public TimeSpan? Interval { get; init; }

    /// <summary>The <c>--timeout</c> value.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The <c>--start-period</c> value.</summary>
    public TimeSpan? StartPeriod { get; init; }

    /// <summary>The <c>--start-interval</c> value.</summary>
    public TimeSpan? StartInterval { get; init; }

    /// <summary>The <c>--retries</c> value.</summary>
    public int? Retries { get; init; }
}

/// <summary><c>ONBUILD instruction</c>: a trigger stored in the image and run by builds based on it.</summary>
/// <param name="Expression">The trigger's text, as stored in the image config.</param>
/// <param name="Trigger">The trigger parsed as an instruction.</param>
public sealed record OnBuildInstruction(string Expression, Instruction Trigger) : Instruction;

/// <summary><c>MAINTAINER name</c> (deprecated; becomes the image's author).</summary>
/// <param name="Maintainer">The text.</param>
public sealed record MaintainerInstruction(string Maintainer) : Instruction;

/// <summary>A build stage: a FROM and the instructions up to the next FROM.</summary>
/// <param name="Name">The stage name (from <c>AS name</c>), in lower case.</param>
/// <param name="Index">The 0-based position of the stage in the file.</param>
/// <param name="From">The FROM instruction that starts the stage.</param>
/// <param name="Instructions">The instructions after FROM, in order.</param>
public sealed record Stage(string? Name, int Index, FromInstruction From, ImmutableArray<Instruction> Instructions);
