using System.CommandLine;
using System.Text;
using OciKit.Execution;
using OciKit.Layout;
using OciKit.References;
using OciKit.Transfer;

namespace OciKit.Cli.Commands;

/// <summary><c>ocikit run IMAGE [COMMAND [ARG…]]</c>: runs a container from an image of the store (pulled if missing), as <c>docker run</c>.</summary>
internal static class RunCommand
{
    /// <summary>The run options that take a value (the next word when not written <c>--opt=value</c>).</summary>
    private static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal)
    {
        "-e", "--env", "--env-file", "-v", "--volume", "-w", "--workdir", "-u", "--user", "--entrypoint", "--network", "--name", "--runtime",
    };

    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "The image (from the local store; pulled when missing)." };
        var commandLine = new Argument<string[]>("command") { Description = "The command and its arguments (default: the image's).", Arity = ArgumentArity.ZeroOrMore };
        var env = new Option<string[]>("--env", "-e") { Description = "Set a variable, NAME=value (NAME alone: from this environment); repeatable." };
        var envFile = new Option<string[]>("--env-file") { Description = "Read variables from a file of NAME=value lines; repeatable." };
        var volumes = new Option<string[]>("--volume", "-v") { Description = "Mount a host path, HOST:CONTAINER[:ro|rw]; repeatable." };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "The working directory inside the container." };
        var user = new Option<string?>("--user", "-u") { Description = "The user, name|uid[:group|gid]." };
        var entrypoint = new Option<string?>("--entrypoint") { Description = "Replace the image's entrypoint (\"\" removes it)." };
        var network = new Option<string>("--network") { Description = "host (default) or none.", DefaultValueFactory = _ => "host" };
        network.AcceptOnlyFromAmong("host", "none");
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass standard input to the container." };
        var tty = new Option<bool>("--tty", "-t") { Description = "Allocate a pseudo-terminal (when standard input is one)." };
        var remove = new Option<bool>("--rm") { Description = "Remove the container when it exits (the default without --name)." };
        var name = new Option<string?>("--name") { Description = "Keep the container under this name after it exits (for diff, commit, rm)." };
        var runtime = new Option<string?>("--runtime") { Description = "runc, crun, bwrap or a path (default: the first one usable)." };

        var command = new Command("run", "Run a command in a new container from an image of the local store.") { image, commandLine };
        foreach (var option in new Option[] { env, envFile, volumes, workdir, user, entrypoint, network, interactive, tty, remove, name, runtime })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var host = CliHost.Current;
            var session = CliSession.Of(parseResult, host);
            if (parseResult.GetValue(remove) && parseResult.GetValue(name) is not null)
            {
                throw new ArgumentException("--rm and --name exclude each other: a named container is kept.");
            }

            var reference = parseResult.GetValue(image)!;
            var store = await session.OpenStoreAsync(cancellationToken).ConfigureAwait(false);
            if (await store.FindAsync(reference, cancellationToken).ConfigureAwait(false) is null)
            {
                await PullAsync(session, store, reference, cancellationToken).ConfigureAwait(false);
            }

            var variables = new List<string>();
            foreach (var file in parseResult.GetValue(envFile) ?? [])
            {
                variables.AddRange(ReadEnvFile(file));
            }

            variables.AddRange((parseResult.GetValue(env) ?? []).SelectMany(Variable));
            var args = parseResult.GetValue(commandLine) ?? [];
            var entry = parseResult.GetValue(entrypoint);
            var interactiveStdin = parseResult.GetValue(interactive);
            var onConsole = ReferenceEquals(host.In, Console.In);
            var options = new ContainerOptions
            {
                Image = reference,
                Command = args.Length > 0 ? args : null,
                Entrypoint = entry is null ? null : entry.Length == 0 ? [] : [entry],
                Env = variables,
                User = parseResult.GetValue(user),
                WorkingDir = parseResult.GetValue(workdir),
                Network = parseResult.GetValue(network) == "none" ? ContainerNetwork.None : ContainerNetwork.Host,
                Mounts = [.. (parseResult.GetValue(volumes) ?? []).Select(Volume)],
                Terminal = parseResult.GetValue(tty) && onConsole && !Console.IsInputRedirected,
                Name = parseResult.GetValue(name),
                Runtime = parseResult.GetValue(runtime),
            };

            using var stdin = !interactiveStdin ? null
                : onConsole ? Console.OpenStandardInput()
                : new MemoryStream(Encoding.UTF8.GetBytes(await host.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false)));
            using var stdout = ReferenceEquals(host.Out, Console.Out) ? Console.OpenStandardOutput() : new TextWriterStream(host.Out);
            using var stderr = ReferenceEquals(host.Err, Console.Error) ? Console.OpenStandardError() : new TextWriterStream(host.Err);
            // With a terminal inside, the caller's terminal passes everything through (raw), as docker run -t does.
            using var raw = options.Terminal ? HostTerminal.EnterRawMode() : null;
            try
            {
                var exitCode = await new LocalContainers(store.Store).RunAsync(options, new ContainerIO { Stdin = stdin, Stdout = stdout, Stderr = stderr }, cancellationToken).ConfigureAwait(false);
                return exitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C: the runtime stopped the container with SIGTERM (then SIGKILL); its status is 128 + SIGTERM.
                return 128 + 15;
            }
            finally
            {
                await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                await stderr.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>
    /// Ends option parsing after the image, as docker does, so <c>ocikit run IMG ls -la</c> passes <c>-la</c> to
    /// <c>ls</c>: inserts <c>--</c> after the image word of a <c>run</c> command line.
    /// </summary>
    public static string[] SeparateCommand(string[] args)
    {
        // The subcommand is the first word that is neither an option nor a global option's value.
        var run = -1;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--store" or "--authfile" or "--insecure-registry")
            {
                i++;
            }
            else if (!args[i].StartsWith('-'))
            {
                run = args[i] == "run" ? i : -1;
                break;
            }
        }

        if (run < 0)
        {
            return args;
        }

        for (var i = run + 1; i < args.Length; i++)
        {
            var word = args[i];
            if (word == "--")
            {
                return args;
            }

            if (word.StartsWith('-') && word.Length > 1)
            {
                if (ValueOptions.Contains(word))
                {
                    i++;
                }

                continue;
            }

            // The image: everything after it is the command.
            return i + 1 < args.Length && args[i + 1] != "--" ? [.. args[..(i + 1)], "--", .. args[(i + 1)..]] : args;
        }

        return args;
    }

    private static async Task PullAsync(CliSession session, LocalImages store, string reference, CancellationToken cancellationToken)
    {
        var source = ImageReference.Parse(reference);
        using var client = session.CreateClient();
        var options = new PullOptions { LocalName = source.ToString() };
        await session.WithProgressAsync(p => new ImageTransfer(client).PullAsync(source, store.Store, options, p, cancellationToken)).ConfigureAwait(false);
    }

    private static IEnumerable<string> Variable(string value)
    {
        if (value.Contains('=', StringComparison.Ordinal))
        {
            yield return value;
        }
        else if (Environment.GetEnvironmentVariable(value) is { } fromHere)
        {
            yield return value + "=" + fromHere;
        }
    }

    private static IEnumerable<string> ReadEnvFile(string path)
    {
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.TrimStart();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            foreach (var variable in Variable(line))
            {
                yield return variable;
            }
        }
    }

    private static ContainerMount Volume(string spec)
    {
        var parts = spec.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || !parts[1].StartsWith('/') || (parts.Length == 3 && parts[2] is not ("ro" or "rw")))
        {
            throw new ArgumentException($"-v '{spec}': expected HOST:CONTAINER[:ro|rw], the container path absolute.");
        }

        var hostPath = Path.GetFullPath(parts[0]);
        if (!File.Exists(hostPath) && !Directory.Exists(hostPath))
        {
            throw new ArgumentException($"-v '{spec}': '{hostPath}' does not exist.");
        }

        return new ContainerMount(ContainerMountType.Bind, hostPath, parts[1], ReadOnly: parts.Length == 3 && parts[2] == "ro");
    }
}

/// <summary>A write-only stream onto a <see cref="TextWriter"/> (UTF-8), for in-process runs whose output is not the console.</summary>
internal sealed class TextWriterStream(TextWriter writer) : Stream
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private readonly Lock _gate = new();

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            var chars = new char[_decoder.GetCharCount(buffer, flush: false)];
            var n = _decoder.GetChars(buffer, chars, flush: false);
            writer.Write(chars, 0, n);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
        lock (_gate)
        {
            writer.Flush();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
