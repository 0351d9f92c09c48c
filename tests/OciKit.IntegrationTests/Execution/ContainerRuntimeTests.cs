using System.Text;
using System.Text.RegularExpressions;
using OciKit.Execution;
using OciKit.IntegrationTests.Harness;
using OciKit.Primitives;

namespace OciKit.IntegrationTests.Execution;

/// <summary>
/// The runners against the real runtimes of the machine (runc, crun, bwrap) on a busybox root file system: exit codes,
/// streams, user, environment, network, mounts, privileges, cancellation, and that a process cannot reach the host.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerRuntimeTests : IDisposable
{
    private const string Canary = "canary-secret-0451";

    private static readonly string[] Applets = ["sh", "cat", "echo", "env", "id", "ls", "pwd", "sleep", "mount", "ln", "grep", "wc", "touch", "kill", "true", "tty", "stty", "ping", "nc"];

    private readonly TempDir _dir = new("ocikit-runtime");
    private int _containers;

    public static TheoryData<string> Runtimes => new() { "runc", "crun", "bwrap" };

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Exit_codes_and_separate_streams(string runtime)
    {
        var (code, stdout, stderr) = await RunAsync(runtime, new ContainerProcess { Args = ["sh", "-c", "echo out; echo err >&2; exit 3"] });
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.Equal((3, "out\n", "err\n"), (code, stdout, stderr));
        Assert.True((await RunAsync(runtime, new ContainerProcess { Args = ["true"] })).Code is 0 or CrunRefusedThisMachine);
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Stdin_env_user_and_working_directory_are_honoured(string runtime)
    {
        var process = new ContainerProcess
        {
            Args = ["sh", "-c", "read line; echo \"$line|$FOO|$(id -u):$(id -g)|$(pwd)|$HOME|$PATH\""],
            Env = ["FOO=bar baz"],
            User = "app",
            WorkingDir = "/work/here",
        };

        var (code, stdout, stderr) = await RunAsync(runtime, process, stdin: "hello from stdin\n");
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.True(code == 0, stderr);
        Assert.Equal($"hello from stdin|bar baz|{BusyboxImage.AppUid}:{BusyboxImage.AppUid}|/work/here|/home/app|{PreparedContainer.DefaultPath}\n", stdout);
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Network_none_has_only_loopback_and_host_sees_the_hosts_interfaces(string runtime)
    {
        const string Interfaces = "grep : /proc/net/dev | while read -r name rest; do echo ${name%%:*}; done";
        var (code, none, stderr) = await RunAsync(runtime, new ContainerProcess { Args = ["sh", "-c", Interfaces], Network = ContainerNetwork.None });
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.True(code == 0, stderr);
        Assert.Equal("lo\n", none);
        // Other tests' containers (podman) may add or remove host interfaces meanwhile: compare with the host's before and after.
        var before = HostInterfaces();
        var (hostCode, host, _) = await RunAsync(runtime, new ContainerProcess { Args = ["sh", "-c", Interfaces] });
        if (hostCode == CrunRefusedThisMachine)
        {
            return;
        }

        var after = HostInterfaces();
        var seen = host.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.Superset(before.Intersect(after).ToHashSet(), seen);
        Assert.Subset(before.Union(after).ToHashSet(), seen);

        static HashSet<string> HostInterfaces()
            => File.ReadAllLines("/proc/net/dev").Where(l => l.Contains(':', StringComparison.Ordinal)).Select(l => l.Split(':')[0].Trim()).ToHashSet();
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Network_none_has_its_loopback_up_as_dockers_does(string runtime)
    {
        // runc and crun bring a new network namespace's loopback up themselves, bwrap too (--unshare-net).
        var (code, stdout, stderr) = await RunAsync(runtime, new ContainerProcess { Args = ["ping", "-c", "1", "127.0.0.1"], Network = ContainerNetwork.None });
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("1 packets transmitted, 1 packets received", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Mounts_hosts_files_and_missing_privileges(string runtime)
    {
        var rw = Directory.CreateDirectory(_dir.Combine("rw")).FullName;
        var ro = Directory.CreateDirectory(_dir.Combine("ro")).FullName;
        var process = new ContainerProcess
        {
            Args =
            [
                "sh", "-c",
                "echo written > /rw/file; echo nope > /ro/file && echo ro-written; " +
                "echo h > /proc/sysrq-trigger && echo sysrq-written; mount -t tmpfs none /mnt 2>/dev/null && echo mounted; " +
                "touch /tmpfs/x && echo tmpfs-ok; cat /etc/hostname; grep -c builder-7 /etc/hosts; cat /etc/resolv.conf",
            ],
            Hostname = "builder-7",
            Mounts =
            [
                new ContainerMount(ContainerMountType.Bind, rw, "/rw", ReadOnly: false),
                new ContainerMount(ContainerMountType.Bind, ro, "/ro", ReadOnly: true),
                new ContainerMount(ContainerMountType.Tmpfs, "", "/tmpfs", ReadOnly: false) { Options = ["mode=1777"] },
            ],
        };

        var (code, stdout, _) = await RunAsync(runtime, process);
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        var resolv = File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        Assert.Equal("tmpfs-ok\nbuilder-7\n1\n" + resolv, stdout);
        Assert.Equal("written\n", File.ReadAllText(Path.Combine(rw, "file")));
        Assert.False(File.Exists(Path.Combine(ro, "file")));
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task A_process_cannot_reach_a_host_file_through_dotdot_proc_or_symlinks(string runtime)
    {
        var canary = _dir.Combine("canary.txt");
        File.WriteAllText(canary, Canary);
        var rootfs = Rootfs();
        File.CreateSymbolicLink(Path.Combine(rootfs, "planted"), canary);
        // A mount destination leading to the host: the runtime mounts at that path inside the root file system instead
        // (so the canary's path, seen from inside, shows the container's host name).
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "hostname"), canary);
        var script =
            $"cat /../../../..{canary}; cat /proc/1/root{canary}; cat /proc/self/root{canary}; cat /planted; " +
            $"ln -s {canary} /made; cat /made; echo pwned > /made; echo pwned > /planted; echo pwned > /proc/1/root{canary}; " +
            "cat /proc/1/root/planted; cat /etc/hostname; echo pwned > /etc/hostname; echo done";

        var (code, stdout, _) = await RunAsync(runtime, new ContainerProcess { Args = ["sh", "-c", script] }, rootfs: rootfs);
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.Equal(0, code);
        Assert.DoesNotContain(Canary, stdout, StringComparison.Ordinal);
        Assert.EndsWith("done\n", stdout, StringComparison.Ordinal);
        Assert.Equal(Canary, File.ReadAllText(canary));
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task A_missing_program_is_a_run_error_naming_it(string runtime)
    {
        var e = await Assert.ThrowsAsync<ContainerRunException>(() => RunAsync(runtime, new ContainerProcess { Args = ["no-such-program"] }));

        Assert.Equal(runtime, e.Runtime);
        Assert.True(e.Message.Contains("no-such-program", StringComparison.Ordinal) || IsCrunRefusingThisMachine(runtime, e), e.Message);
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task A_process_killed_by_a_signal_exits_128_plus_the_signal_and_output_streams_before_the_end(string runtime)
    {
        var stdout = new SignallingStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var stop = new CancellationTokenSource();
        var script = $"echo ready; sleep {Marker()}; echo never";
        var run = RunAsync(runtime, new ContainerProcess { Args = ["sh", "-c", script] }, stdout: stdout, cancellationToken: stop.Token);
        try
        {
            await Task.WhenAny(run, stdout.WaitForAsync("ready\n", timeout.Token)).Unwrap();
            if (run.IsCompletedSuccessfully && (await run).Code == CrunRefusedThisMachine)
            {
                return;
            }

            // The shell and, until it has exec'd sleep, its fork have this command line: the shell is the one whose parent is not.
            var pids = ProcessesWithArguments("sh", "-c", script);
            var main = Assert.Single(pids, pid => !pids.Contains(ParentOf(pid)));
            System.Diagnostics.Process.GetProcessById(main).Kill();   // SIGKILL from the host to the container's main process

            Assert.Equal(137, (await run).Code);
            Assert.Equal("ready\n", Encoding.UTF8.GetString(stdout.ToArray()));
        }
        finally
        {
            await StopAsync(stop, run);
        }
    }

    public static TheoryData<string, bool> RuntimesWithAndWithoutTerminal => new()
    {
        { "runc", false }, { "crun", false }, { "bwrap", false }, { "runc", true }, { "crun", true }, { "bwrap", true },
    };

    [Theory]
    [MemberData(nameof(RuntimesWithAndWithoutTerminal))]
    public async Task Cancellation_kills_the_container_and_leaves_no_runtime_state(string runtime, bool terminal)
    {
        var marker = Marker();
        var stdout = new SignallingStream();
        using var cancel = new CancellationTokenSource();
        var name = $"cancel-{runtime}{(terminal ? "-tty" : "")}";
        var state = Directory.CreateDirectory(_dir.Combine("state-" + name)).FullName;
        var script = $"echo ready; sleep {marker}; echo never";
        var process = new ContainerProcess { Args = ["sh", "-c", script], Terminal = terminal };
        var container = new ContainerRun(name, Rootfs(), state, process, new ContainerIO { Stdout = stdout });
        var run = Runtime(runtime).RunAsync(container, cancel.Token);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            var first = await Task.WhenAny(run, stdout.WaitForAsync(terminal ? "ready\r\n" : "ready\n", timeout.Token));
            if (first == run && IsCrunRefusingThisMachine(runtime, run.Exception?.InnerException))
            {
                return;
            }

            await first;
            Assert.NotEmpty(ProcessesWithArguments("sh", "-c", script));
        }
        finally
        {
            await cancel.CancelAsync();
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Empty(ProcessesWithArguments("sh", "-c", script));
        Assert.Empty(ProcessesWithArguments("sleep", marker));
        var runtimeRoot = Path.Combine(state, "runtime-root");
        Assert.False(Directory.Exists(Path.Combine(runtimeRoot, container.Id)), $"{runtime} left its state in {runtimeRoot}");
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task A_terminal_is_the_processs_tty_with_line_discipline_window_size_input_and_exit_code(string runtime)
    {
        // The input is held back until the process is ready to read, so the terminal's echo lands at a known place.
        var stdout = new SignallingStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var stdin = new GatedStream(stdout.WaitForAsync("ready\r\n", timeout.Token), "hello tty\n");
        // The window size is checked where it is ours: bwrap's process uses our terminal itself. runc and crun in the
        // foreground make the container its own terminal and copy the size onto it after the process has started (as
        // docker run -t does), so a process reading it at once may see 0 0 — a race of theirs, not checked here.
        var ownTerminal = runtime == "bwrap";
        var process = new ContainerProcess
        {
            Args = ["sh", "-c", "tty; test -t 0 && test -t 1 && test -t 2 && echo all-terminals; " + (ownTerminal ? "stty size; " : "") + "echo ready; read line; echo \"got:$line\"; exit 7"],
            Terminal = true,
        };
        var state = Directory.CreateDirectory(_dir.Combine("state-tty-" + runtime)).FullName;
        int code;
        try
        {
            code = await Runtime(runtime).RunAsync(new ContainerRun("tty-" + runtime, Rootfs(), state, process, new ContainerIO { Stdin = stdin, Stdout = stdout }), timeout.Token);
        }
        catch (ContainerRunException e) when (IsCrunRefusingThisMachine(runtime, e))
        {
            return;
        }

        var output = Encoding.UTF8.GetString(stdout.ToArray());
        var (rows, columns) = PseudoTerminal.CallersWindowSize();
        Assert.Equal(7, code);
        // Every \n written arrives as \r\n (the terminal's output processing); the input is echoed, then read.
        var size = ownTerminal ? $"{rows} {columns}\r\n" : "";
        Assert.Matches(new Regex($"^/dev/pts/[0-9]+\r\nall-terminals\r\n{size}ready\r\nhello tty\r\ngot:hello tty\r\n$"), output);
    }

    [Theory]
    [MemberData(nameof(Runtimes))]
    public async Task Symlinked_hosts_files_are_provided_paths_not_changes(string runtime)
    {
        // An image made by GNU tar whose /etc/resolv.conf is a dangling relative link and /etc/hosts an absolute one:
        // the runtime creates its mount points where they lead, inside the root file system.
        var tree = Rootfs();
        Directory.CreateDirectory(Path.Combine(tree, "run"));
        File.CreateSymbolicLink(Path.Combine(tree, "etc", "resolv.conf"), "../run/resolv.conf");
        File.CreateSymbolicLink(Path.Combine(tree, "etc", "hosts"), "/run/hosts");
        var layer = _dir.Combine($"layer-{runtime}.tar");
        await Tool.RunCheckedAsync("tar", ["--create", "--file", layer, "--numeric-owner", "--directory", tree, "."]);
        var bytes = await File.ReadAllBytesAsync(layer);
        var descriptor = new Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.ComputeSha256(bytes), bytes.Length);
        await using var rootfs = await ContainerRootfs.PrepareAsync(
            [descriptor],
            (_, _) => Task.FromResult<Stream>(new MemoryStream(bytes)),
            new RootfsOptions { WorkDirectory = _dir.Combine("work-" + runtime), Mode = RootfsMode.Copy });
        var process = new ContainerProcess { Args = ["sh", "-c", "cat /etc/hostname; grep -c localhost /etc/hosts"], Hostname = "linked" };

        var (code, stdout, stderr) = await RunAsync(runtime, process, rootfs: rootfs.Path);
        if (code == CrunRefusedThisMachine)
        {
            return;
        }

        Assert.True(code == 0, stderr);
        Assert.Equal("linked\n2\n", stdout);
        Assert.Empty(await rootfs.GetChangesAsync(ContainerRuntimes.ProvidedPaths(process, rootfs.Path)));
        // Without the root file system, the mount points the links lead to are not known as provided.
        Assert.Contains(await rootfs.GetChangesAsync(ContainerRuntimes.ProvidedPaths(process)), c => c.Path == "/run/resolv.conf");
    }

    [Fact]
    public async Task Bwrap_runs_a_container_for_an_unprivileged_user_in_a_user_namespace()
    {
        var (uid, gid) = RootlessUser.Ids();

        // bwrap started as that user.
        var wrapper = _dir.Combine("bwrap-as-" + RootlessUser.Name);
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec setpriv {string.Join(' ', RootlessUser.Command(Tool.Locate("bwrap"), []))} \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_101_101);
        var secret = Directory.CreateDirectory(_dir.Combine("secret")).FullName;
        File.WriteAllText(Path.Combine(secret, "root-only"), Canary);
        File.SetUnixFileMode(Path.Combine(secret, "root-only"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var rootfs = Rootfs();
        var state = Directory.CreateDirectory(_dir.Combine("state-rootless")).FullName;
        foreach (var dir in new[] { _dir.Path, state, secret })
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);   // the user must reach its root file system and state
        }

        // A rootless build's tree belongs to its user (bwrap creates the mount points in it).
        await Tool.RunCheckedAsync("chown", ["-R", $"{uid}:{gid}", rootfs]);

        var runtime = new BubblewrapRuntime(wrapper, unprivileged: true);
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var process = new ContainerProcess
        {
            Args = ["sh", "-c", "id -u; cat /etc/hostname; grep -c : /proc/net/dev; cat /secret/root-only || echo denied"],
            Hostname = "rootless",
            Network = ContainerNetwork.None,
            Mounts = [new ContainerMount(ContainerMountType.Bind, secret, "/secret", ReadOnly: true)],
        };

        var code = await runtime.RunAsync(new ContainerRun("rootless", rootfs, state, process, new ContainerIO { Stdout = stdout, Stderr = stderr }));

        Assert.True(code == 0, Encoding.UTF8.GetString(stderr.ToArray()));
        // root inside its user namespace, but not on the host: a file only the host's root may read stays closed.
        Assert.Equal("0\nrootless\n1\ndenied\n", Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Fact]
    public async Task Automatic_selection_runs_runc_as_root_and_bwrap_otherwise()
    {
        var selected = ContainerRuntimes.Select();

        Assert.Equal(Environment.IsPrivilegedProcess ? "runc" : "bwrap", selected.Name);
        var stdout = new MemoryStream();
        var state = Directory.CreateDirectory(_dir.Combine("state-auto")).FullName;
        var code = await selected.RunAsync(new ContainerRun("auto", Rootfs(), state, new ContainerProcess { Args = ["echo", "auto"] }, new ContainerIO { Stdout = stdout }));
        Assert.Equal((0, "auto\n"), (code, Encoding.UTF8.GetString(stdout.ToArray())));
    }

    /// <summary>What the helper returns when crun refuses this machine (see <see cref="IsCrunRefusingThisMachine"/>).</summary>
    private const int CrunRefusedThisMachine = -1000;

    /// <summary>
    /// crun 1.8.1 refuses to start containers (not always: it depends on the cgroup state of the moment) on a machine
    /// whose cgroups are in hybrid mode with a controller in the unified hierarchy, as the test machine's are
    /// (<c>/sys/fs/cgroup/unified/cgroup.controllers</c> lists hugetlb), whatever its cgroup manager. The runner must
    /// then report crun's own reason, which is what the tests check when it happens.
    /// </summary>
    private static bool IsCrunRefusingThisMachine(string runtime, Exception? e)
        => runtime == "crun" && e is ContainerRunException run && run.Message.Contains("crun could not run the container: cgroups in hybrid mode not supported", StringComparison.Ordinal);

    /// <summary>A number no other process on the machine has in its arguments, to find the container's processes.</summary>
    private static string Marker() => Random.Shared.Next(10_000_000, 99_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Stops a container a failed assertion left running.</summary>
    private static async Task StopAsync(CancellationTokenSource stop, Task run)
    {
        await stop.CancelAsync();
        try
        {
            await run;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(string runtime, ContainerProcess process, string? stdin = null, string? rootfs = null, Stream? stdout = null, CancellationToken cancellationToken = default)
    {
        var id = $"t{Environment.ProcessId}-{Interlocked.Increment(ref _containers)}";
        var state = Directory.CreateDirectory(_dir.Combine("state-" + id)).FullName;
        var output = stdout ?? new MemoryStream();
        var error = new MemoryStream();
        var io = new ContainerIO
        {
            Stdin = stdin is null ? null : new MemoryStream(Encoding.UTF8.GetBytes(stdin)),
            Stdout = output,
            Stderr = error,
        };
        int code;
        try
        {
            code = await Runtime(runtime).RunAsync(new ContainerRun(id, rootfs ?? Rootfs(), state, process, io), cancellationToken);
        }
        catch (ContainerRunException e) when (IsCrunRefusingThisMachine(runtime, e) && process.Args[0] != "no-such-program")
        {
            return (CrunRefusedThisMachine, "", e.Message);
        }

        return (code, output is MemoryStream m ? Encoding.UTF8.GetString(m.ToArray()) : "", Encoding.UTF8.GetString(error.ToArray()));
    }

    private static IContainerRuntime Runtime(string name) => name switch
    {
        "bwrap" => new BubblewrapRuntime(Tool.Locate("bwrap"), unprivileged: false),
        _ => new OciRuntime(name, Tool.Locate(name)) { StopGracePeriod = TimeSpan.FromSeconds(1) },
    };

    /// <summary>A fresh busybox root file system: the static busybox, applet links, and root and app in /etc/passwd and /etc/group.</summary>
    private string Rootfs()
    {
        var rootfs = Directory.CreateDirectory(_dir.Combine("rootfs-" + Interlocked.Increment(ref _containers))).FullName;
        Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        Directory.CreateDirectory(Path.Combine(rootfs, "mnt"));
        File.Copy(Tool.Locate("busybox"), Path.Combine(rootfs, "bin", "busybox"));
        foreach (var applet in Applets)
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        }

        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), $"root:x:0:0:root:/root:/bin/sh\napp:x:{BusyboxImage.AppUid}:{BusyboxImage.AppUid}:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc", "group"), $"root:x:0:\napp:x:{BusyboxImage.AppUid}:\n");
        return rootfs;
    }

    /// <summary>The host pids of processes whose argument vector is exactly <paramref name="arguments"/>.</summary>
    private static List<int> ProcessesWithArguments(params string[] arguments)
    {
        var wanted = string.Join('\0', arguments) + "\0";
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(dir, "cmdline")) == wanted)
                    {
                        pids.Add(pid);
                    }
                }
                catch (IOException)
                {
                    // The process ended while listing.
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }

        return pids;
    }

    private static int ParentOf(int pid)
    {
        // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces: read after the last ')'.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>An input that gives its text only once a task has completed (a user typing after a prompt).</summary>
    private sealed class GatedStream(Task gate, string text) : Stream
    {
        private readonly MemoryStream _content = new(Encoding.UTF8.GetBytes(text));

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            gate.GetAwaiter().GetResult();
            return _content.Read(buffer, offset, count);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken);
            return _content.Read(buffer.Span);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A stream recording what is written and telling when a text has arrived (to prove output is streamed).</summary>
    private sealed class SignallingStream : MemoryStream
    {
        private readonly Lock _gate = new();
        private readonly List<(string Text, TaskCompletionSource Arrived)> _waiters = [];

        public Task WaitForAsync(string text, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                if (Encoding.UTF8.GetString(ToArray()).Contains(text, StringComparison.Ordinal))
                {
                    return Task.CompletedTask;
                }

                var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                cancellationToken.Register(() => arrived.TrySetCanceled(cancellationToken));
                _waiters.Add((text, arrived));
                return arrived.Task;
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_gate)
            {
                base.Write(buffer, offset, count);
                var content = Encoding.UTF8.GetString(ToArray());
                foreach (var (text, arrived) in _waiters.Where(w => content.Contains(w.Text, StringComparison.Ordinal)))
                {
                    arrived.TrySetResult();
                }
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }
    }
}
