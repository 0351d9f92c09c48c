using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;

namespace OciKit.Dockerfile;

/// <summary>
/// Builds typed instructions from syntax nodes: checks flags and argument counts the way BuildKit's instruction
/// parser does, without expanding anything.
/// </summary>
internal sealed partial class InstructionBuilder(string fileName, char escape = '\\')
{
    /// <summary>Every instruction keyword, in lower case.</summary>
    internal static readonly ImmutableArray<string> Keywords =
    [
        "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer",
        "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
    ];

    private static readonly ImmutableArray<string> MountKeys =
    [
        "type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro", "readwrite", "rw", "id",
        "sharing", "mode", "uid", "gid", "required", "size", "env",
    ];

    private static readonly TimeSpan MinimumHealthDuration = TimeSpan.FromMilliseconds(1);

    private enum FlagKind
    {
        String,
        Bool,
        List,
    }

    // A stage name as BuildKit accepts it.
    [GeneratedRegex(@"^[a-z][a-z0-9\-_\.]*$", RegexOptions.CultureInvariant)]
    private static partial Regex StageNameRegex();

    public Instruction Build(DockerfileNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        Instruction instruction = node.Keyword switch
        {
            "from" => BuildFrom(node),
            "copy" => BuildCopy(node),
            "add" => BuildAdd(node),
            "env" => new EnvInstruction(BuildPairs(node, "ENV")),
            "label" => new LabelInstruction(BuildPairs(node, "LABEL")),
            "arg" => BuildArg(node),
            "workdir" => new WorkdirInstruction(ExactlyOne(node, "WORKDIR")),
            "user" => new UserInstruction(ExactlyOne(node, "USER")),
            "stopsignal" => new StopSignalInstruction(ExactlyOne(node, "STOPSIGNAL", flags: false)),
            "maintainer" => new MaintainerInstruction(ExactlyOne(node, "MAINTAINER")),
            "expose" => new ExposeInstruction([.. AtLeastOne(node, "EXPOSE").Order(StringComparer.Ordinal)]),
            "volume" => BuildVolume(node),
            "entrypoint" => NoFlags(node, new EntrypointInstruction(node.Args, !node.IsJson)),
            "cmd" => NoFlags(node, new CmdInstruction(node.Args, !node.IsJson)),
            "run" => BuildRun(node),
            "shell" => BuildShell(node),
            "healthcheck" => BuildHealthcheck(node),
            "onbuild" => BuildOnBuild(node),
            _ => throw UnknownInstruction(node),
        };
        return instruction with { StartLine = node.StartLine, EndLine = node.EndLine, Original = node.Original };
    }

    private DockerfileSyntaxException Error(DockerfileNode node, string problem) => Error(node.Position, problem);

    private DockerfileSyntaxException Error(SourcePosition at, string problem) =>
        new(fileName, at.Line, Math.Max(1, at.Column), problem);

    private DockerfileSyntaxException UnknownInstruction(DockerfileNode node)
    {
        var written = node.Original.Length > 0 ? node.Original.Split([' ', '\t', '\v', '\f', '\r'], 2)[0] : node.Keyword;
        var suggestion = Suggest(node.Keyword, Keywords);
        if (suggestion is not null && written == written.ToUpperInvariant())
        {
            // The suggestion follows the case the keyword was written in.
            suggestion = suggestion.ToUpperInvariant();
        }

        return Error(node, $"unknown instruction: {written}" + (suggestion is null ? "" : $" (did you mean {suggestion}?)"));
    }

    /// <summary>The nearest candidate by edit distance, if it is close enough to be a likely typo.</summary>
    internal static string? Suggest(string value, IEnumerable<string> candidates)
    {
        if (value.Length == 0)
        {
            return null;
        }

        string? best = null;
        var bestDistance = int.MaxValue;
        var lower = value.ToLowerInvariant();
        foreach (var candidate in candidates)
        {
            var distance = EditDistance(lower, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        // At most two edits away, as BuildKit (and HCL) suggest.
        return bestDistance <= 2 ? best : null;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private T NoFlags<T>(DockerfileNode node, T instruction)
    {
        ParseFlags(node);
        return instruction;
    }

    private Dictionary<string, object> ParseFlags(DockerfileNode node, params ReadOnlySpan<(string Name, FlagKind Kind)> allowed)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < node.Flags.Length; i++)
        {
            var text = node.Flags[i];
            var at = i < node.FlagPositions.Length ? node.FlagPositions[i] : node.Position;
            if (!text.StartsWith("--", StringComparison.Ordinal))
            {
                throw Error(at, $"arg should start with -- : {text}");
            }

            if (text == "--")
            {
                break;
            }

            var body = text[2..];
            var eq = body.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? body : body[..eq];
            var value = eq < 0 ? null : body[(eq + 1)..];
            FlagKind? kind = null;
            var names = new List<string>();
            foreach (var (allowedName, allowedKind) in allowed)
            {
                names.Add(allowedName);
                if (allowedName == name)
                {
                    kind = allowedKind;
                }
            }

            if (kind is null)
            {
                var suggestion = Suggest(name, names);
                throw Error(at, $"unknown flag: --{name}" + (suggestion is null ? "" : $" (did you mean --{suggestion}?)"));
            }

            if (kind != FlagKind.List && values.ContainsKey(name))
            {
                throw Error(at, $"duplicate flag specified: {name}");
            }

            switch (kind)
            {
                case FlagKind.Bool:
                    values[name] = value is ""
                        ? throw Error(at, $"missing a value on flag: --{name}")
                        : value is null || value.Equals("true", StringComparison.OrdinalIgnoreCase)
                        ? true
                        : value.Equals("false", StringComparison.OrdinalIgnoreCase)
                            ? false
                            : throw Error(at, $"expecting boolean value for flag {name}, not: {value}");
                    break;
                case FlagKind.String:
                    values[name] = value ?? throw Error(at, $"missing a value on flag: --{name}");
                    break;
                default:
                    var list = values.TryGetValue(name, out var existing) ? (ImmutableArray<string>)existing : [];
                    values[name] = list.Add(value ?? throw Error(at, $"missing a value on flag: --{name}"));
                    break;
            }
        }

        return values;
    }

    private static string? GetString(Dictionary<string, object> flags, string name) =>
        flags.TryGetValue(name, out var value) ? (string)value : null;

    private static bool? GetBool(Dictionary<string, object> flags, string name) =>
        flags.TryGetValue(name, out var value) ? (bool)value : null;

    private static ImmutableArray<string> GetList(Dictionary<string, object> flags, string name) =>
        flags.TryGetValue(name, out var value) ? (ImmutableArray<string>)value : [];

    // Argument counts are checked before flags, so the first error reported is the one BuildKit reports.
    private string ExactlyOne(DockerfileNode node, string keyword, bool flags = true)
    {
        var arg = node.Args.Length == 1 ? node.Args[0] : throw Error(node, $"{keyword} requires exactly one argument");
        if (flags)
        {
            ParseFlags(node);
        }

        return arg;
    }

    private ImmutableArray<string> AtLeastOne(DockerfileNode node, string keyword)
    {
        var args = node.Args.Length > 0 ? node.Args : throw Error(node, $"{keyword} requires at least one argument");
        ParseFlags(node);
        return args;
    }

    private FromInstruction BuildFrom(DockerfileNode node)
    {
        var args = node.Args;
        if (!(args.Length == 1 || (args.Length == 3 && args[1].Equals("as", StringComparison.OrdinalIgnoreCase))))
        {
            throw Error(node, "FROM requires either one or three arguments");
        }

        string? stageName = null;
        if (args.Length == 3)
        {
            stageName = args[2].ToLowerInvariant();
            if (!StageNameRegex().IsMatch(stageName))
            {
                throw Error(node, $"invalid name for build stage: \"{args[2]}\", name can't start with a number or contain symbols");
            }
        }

        var flags = ParseFlags(node, ("platform", FlagKind.String));
        return new FromInstruction(args[0], GetString(flags, "platform"), stageName);
    }

    private void RequireDestination(DockerfileNode node, string keyword)
    {
        if (node.Args.Length < 2)
        {
            throw Error(node, $"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined");
        }
    }

    private (ImmutableArray<string> Sources, ImmutableArray<HeredocSource> Heredocs, string Destination) SourcesAndDestination(
        DockerfileNode node, string keyword)
    {

        var destination = node.Args[^1];
        if (!node.IsJson && DockerfileParser.HeredocName(destination) is not null)
        {
            throw Error(node, $"{keyword} cannot accept a heredoc as a destination");
        }

        var sources = ImmutableArray.CreateBuilder<string>();
        var heredocs = ImmutableArray.CreateBuilder<HeredocSource>();
        foreach (var source in node.Args.AsSpan(0, node.Args.Length - 1))
        {
            var name = node.IsJson ? null : DockerfileParser.HeredocName(source);
            var heredoc = name is null ? null : node.Heredocs.FirstOrDefault(h => h.Name == name);
            if (heredoc is not null)
            {
                heredocs.Add(new HeredocSource(heredoc.Name, heredoc.Content, heredoc.Expand));
            }
            else
            {
                sources.Add(source);
            }
        }

        return (sources.ToImmutable(), heredocs.ToImmutable(), destination);
    }

    private CopyInstruction BuildCopy(DockerfileNode node)
    {
        RequireDestination(node, "COPY");
        var flags = ParseFlags(
            node,
            ("from", FlagKind.String),
            ("chown", FlagKind.String),
            ("chmod", FlagKind.String),
            ("link", FlagKind.Bool),
            ("parents", FlagKind.Bool),
            ("exclude", FlagKind.List));
        var (sources, heredocs, destination) = SourcesAndDestination(node, "COPY");
        return new CopyInstruction(sources, heredocs, destination)
        {
            From = GetString(flags, "from"),
            Chown = GetString(flags, "chown"),
            Chmod = GetString(flags, "chmod"),
            Link = GetBool(flags, "link") ?? false,
            Parents = GetBool(flags, "parents") ?? false,
            Exclude = GetList(flags, "exclude"),
            IsJson = node.IsJson,
        };
    }

    private AddInstruction BuildAdd(DockerfileNode node)
    {
        RequireDestination(node, "ADD");
        var flags = ParseFlags(
            node,
            ("chown", FlagKind.String),
            ("chmod", FlagKind.String),
            ("link", FlagKind.Bool),
            ("keep-git-dir", FlagKind.Bool),
            ("checksum", FlagKind.String),
            ("unpack", FlagKind.Bool),
            ("exclude", FlagKind.List));
        var (sources, heredocs, destination) = SourcesAndDestination(node, "ADD");
        return new AddInstruction(sources, heredocs, destination)
        {
            Chown = GetString(flags, "chown"),
            Chmod = GetString(flags, "chmod"),
            Link = GetBool(flags, "link") ?? false,
            KeepGitDir = GetBool(flags, "keep-git-dir"),
            Checksum = GetString(flags, "checksum"),
            Unpack = GetBool(flags, "unpack"),
            Exclude = GetList(flags, "exclude"),
            IsJson = node.IsJson,
        };
    }

    private ImmutableArray<NameValue> BuildPairs(DockerfileNode node, string keyword)
    {
        ParseFlags(node);
        if (node.Args.Length == 0)
        {
            throw Error(node, $"{keyword} requires at least one argument");
        }

        if (node.Args.Length % 2 != 0)
        {
            throw Error(node, $"Bad input to {keyword}, too many arguments");
        }

        var pairs = ImmutableArray.CreateBuilder<NameValue>(node.Args.Length / 2);
        for (var i = 0; i < node.Args.Length; i += 2)
        {
            if (node.Args[i].Length == 0)
            {
                throw Error(node, $"{keyword} names can not be blank");
            }

            if (!node.IsLegacyForm)
            {
                CheckQuotes(node, node.Args[i]);
                CheckQuotes(node, node.Args[i + 1]);
            }

            pairs.Add(new NameValue(node.Args[i], node.Args[i + 1]));
        }

        return pairs.MoveToImmutable();
    }

    private ArgInstruction BuildArg(DockerfileNode node)
    {
        var args = AtLeastOne(node, "ARG");
        var declarations = ImmutableArray.CreateBuilder<ArgDeclaration>(args.Length);
        foreach (var arg in args)
        {
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg : arg[..eq];
            if (name.Length == 0)
            {
                throw Error(node, "ARG names can not be blank");
            }

            CheckQuotes(node, arg);
            declarations.Add(new ArgDeclaration(name, eq < 0 ? null : arg[(eq + 1)..]));
        }

        return new ArgInstruction(declarations.MoveToImmutable());
    }

    /// <summary>
    /// ENV, LABEL and ARG values always go through the shell lexer at build time; an unbalanced quote there would
    /// fail the build, so it is reported now, with its location.
    /// </summary>
    private void CheckQuotes(DockerfileNode node, string word)
    {
        var quote = '\0';
        for (var i = 0; i < word.Length; i++)
        {
            var c = word[i];
            if (quote == '\'')
            {
                quote = c == '\'' ? '\0' : quote;
            }
            else if (c == escape)
            {
                i++;
            }
            else if (quote == '"')
            {
                quote = c == '"' ? '\0' : quote;
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
        }

        if (quote != '\0')
        {
            var start = word.IndexOf('=', StringComparison.Ordinal) is var eq && eq >= 0 && node.Keyword == "arg" ? eq + 1 : 0;
            throw Error(node.ArgsPosition, $"unterminated {(quote == '"' ? "double" : "single")} quote in {word[start..]}");
        }
    }

    private VolumeInstruction BuildVolume(DockerfileNode node)
    {
        var paths = AtLeastOne(node, "VOLUME").Select(p => p.Trim()).ToImmutableArray();
        if (paths.Any(p => p.Length == 0))
        {
            throw Error(node, "VOLUME specified can not be an empty string");
        }

        return new VolumeInstruction(paths);
    }

    private RunInstruction BuildRun(DockerfileNode node)
    {
        var flags = ParseFlags(node, ("mount", FlagKind.List), ("network", FlagKind.String), ("security", FlagKind.String));
        var network = GetString(flags, "network");
        if (network is not null && !network.Contains('$', StringComparison.Ordinal) && network is not ("default" or "none" or "host"))
        {
            throw Error(node, $"unsupported network mode \"{network}\"");
        }

        var security = GetString(flags, "security");
        if (security is not null && !security.Contains('$', StringComparison.Ordinal) && security is not ("sandbox" or "insecure"))
        {
            throw Error(node, $"unsupported security mode \"{security}\"");
        }

        var mounts = ImmutableArray.CreateBuilder<RunMount>();
        var mountIndex = 0;
        for (var i = 0; i < node.Flags.Length; i++)
        {
            if (node.Flags[i].StartsWith("--mount=", StringComparison.Ordinal))
            {
                var at = i < node.FlagPositions.Length ? node.FlagPositions[i] : node.Position;
                mounts.Add(ParseMount(GetList(flags, "mount")[mountIndex++], at));
            }
        }

        return new RunInstruction(node.Args, !node.IsJson)
        {
            Heredocs = node.Heredocs,
            Mounts = mounts.ToImmutable(),
            Network = network,
            Security = security,
        };
    }

    private RunMount ParseMount(string value, SourcePosition at)
    {
        var type = "bind";
        var options = ImmutableArray.CreateBuilder<KeyValuePair<string, string?>>();
        foreach (var field in SplitCsv(value, at))
        {
            if (field.Length == 0)
            {
                continue;
            }

            var eq = field.IndexOf('=', StringComparison.Ordinal);
            var key = (eq < 0 ? field : field[..eq]).ToLowerInvariant();
            var fieldValue = eq < 0 ? null : field[(eq + 1)..];
            if (!MountKeys.Contains(key))
            {
                throw Error(at, $"unexpected key '{key}' in '{field}'");
            }

            if (fieldValue is null && key is not ("readonly" or "ro" or "readwrite" or "rw" or "required"))
            {
                throw Error(at, $"invalid field '{field}' must be a key=value pair");
            }

            if (key == "from" && fieldValue!.IndexOf('$', StringComparison.Ordinal) is var dollar && dollar >= 0 && dollar < fieldValue.Length - 1)
            {
                // A mount's source stage is resolved before build arguments are known.
                throw Error(at, "'from' doesn't support variable expansion, define alias stage instead");
            }

            if (key == "type")
            {
                type = fieldValue ?? throw Error(at, $"invalid mount type: '{field}'");
                if (!type.Contains('$', StringComparison.Ordinal) && type is not ("bind" or "cache" or "tmpfs" or "secret" or "ssh"))
                {
                    throw Error(at, $"unsupported mount type \"{type}\"");
                }
            }
            else
            {
                options.Add(new(key, fieldValue));
            }
        }

        return new RunMount(type, options.ToImmutable());
    }

    /// <summary>Splits a comma-separated field list; a field may be double-quoted with <c>""</c> for a quote.</summary>
    private List<string> SplitCsv(string value, SourcePosition at)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var i = 0;
        while (true)
        {
            if (i < value.Length && value[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= value.Length)
                    {
                        throw Error(at, $"unterminated quote in mount '{value}'");
                    }

                    if (value[i] == '"')
                    {
                        if (i + 1 < value.Length && value[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    field.Append(value[i++]);
                }
            }

            while (i < value.Length && value[i] != ',')
            {
                field.Append(value[i++]);
            }

            fields.Add(field.ToString());
            field.Clear();
            if (i >= value.Length)
            {
                return fields;
            }

            i++;
        }
    }

    private ShellInstruction BuildShell(DockerfileNode node)
    {
        ParseFlags(node);
        if (node.Args.Length == 0)
        {
            throw Error(node, "SHELL requires at least one argument");
        }

        return node.IsJson ? new ShellInstruction(node.Args) : throw Error(node, "SHELL requires the arguments to be in JSON form");
    }

    private HealthcheckInstruction BuildHealthcheck(DockerfileNode node)
    {
        if (node.Args.Length == 0)
        {
            throw Error(node, "HEALTHCHECK requires at least one argument");
        }

        var type = node.Args[0].ToUpperInvariant();
        if (type == "NONE")
        {
            // BuildKit reads no flags for NONE.
            return node.Args.Length == 1 ? new HealthcheckInstruction(["NONE"]) : throw Error(node, "HEALTHCHECK NONE takes no arguments");
        }

        var flags = ParseFlags(
            node,
            ("interval", FlagKind.String),
            ("timeout", FlagKind.String),
            ("start-period", FlagKind.String),
            ("start-interval", FlagKind.String),
            ("retries", FlagKind.String));
        ImmutableArray<string> test;
        if (type == "CMD")
        {
            var command = node.Args.AsSpan()[1..];
            if (command.IsEmpty)
            {
                throw Error(node, "Missing command after HEALTHCHECK CMD");
            }

            test = node.IsJson ? ["CMD", .. command] : ["CMD-SHELL", .. command];
        }
        else
        {
            throw Error(node, $"Unknown type \"{node.Args[0]}\" in HEALTHCHECK (try CMD)");
        }

        int? retries = null;
        if (GetString(flags, "retries") is { } retriesText)
        {
            if (!int.TryParse(retriesText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
            {
                throw Error(node, $"invalid value for --retries: \"{retriesText}\"");
            }

            retries = parsed >= 0 ? parsed : throw Error(node, $"--retries cannot be negative ({parsed})");
        }

        return new HealthcheckInstruction(test)
        {
            Interval = Duration(node, flags, "interval"),
            Timeout = Duration(node, flags, "timeout"),
            StartPeriod = Duration(node, flags, "start-period"),
            StartInterval = Duration(node, flags, "start-interval"),
            Retries = retries,
        };
    }

    private TimeSpan? Duration(DockerfileNode node, Dictionary<string, object> flags, string name)
    {
        if (GetString(flags, name) is not { } text)
        {
            return null;
        }

        if (!GoDuration.TryParse(text, out var duration))
        {
            throw Error(node, $"invalid duration \"{text}\" for --{name}");
        }

        if (duration != TimeSpan.Zero && duration < MinimumHealthDuration)
        {
            throw Error(node, $"Interval \"{name}\" cannot be less than 1ms");
        }

        return duration;
    }

    private OnBuildInstruction BuildOnBuild(DockerfileNode node)
    {
        if (node.Next is not { } trigger)
        {
            throw Error(node, "ONBUILD requires at least one argument");
        }

        ParseFlags(node);

        switch (trigger.Keyword)
        {
            case "onbuild":
                throw Error(trigger, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            case "from" or "maintainer":
                throw Error(trigger, $"{trigger.Keyword.ToUpperInvariant()} isn't allowed as an ONBUILD trigger");
            default:
                // The stored expression carries its heredoc bodies, so the child build can parse it again.
                var expression = new System.Text.StringBuilder(trigger.Original);
                foreach (var heredoc in node.Heredocs)
                {
                    expression.Append('\n').Append(heredoc.Content).Append(heredoc.Name);
                }

                return new OnBuildInstruction(expression.ToString(), Build(trigger with { Heredocs = node.Heredocs }));
        }
    }
}
