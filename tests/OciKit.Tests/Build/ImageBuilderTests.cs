using System.Collections.Immutable;
using OciKit.Build;
using OciKit.Layout;
using OciKit.Transfer;

namespace OciKit.Tests.Build;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ImageBuilderTests : IDisposable
{
    private readonly BuildFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task Global_args_reach_FROM_and_stages_only_when_redeclared_and_build_args_override_defaults()
    {
        var result = await _f.BuildAsync(
            "ARG BASE=scratch\nARG VERSION=1\nFROM ${BASE}\nENV BEFORE=\"v${VERSION}\"\nARG VERSION\nENV AFTER=v${VERSION}\nARG LOCAL=x\nENV LOCAL=${LOCAL}-$LOCAL",
            o => o with { BuildArgs = ImmutableDictionary<string, string>.Empty.Add("VERSION", "2").Add("UNUSED", "u") });
        var env = result.Config.Config!.Env!.Value;
        Assert.Contains("BEFORE=v", env);
        Assert.Contains("AFTER=v2", env);
        Assert.Contains("LOCAL=x-x", env);
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("UNUSED", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ENV_takes_precedence_over_ARG_and_all_pairs_of_one_ENV_see_the_previous_values()
    {
        var result = await _f.BuildAsync("FROM scratch\nARG A=fromarg\nENV A=fromenv\nENV B=$A C=x\nENV C=y D=$C");
        var config = result.Config.Config!;
        Assert.Equal("fromenv", config.GetEnv("B"));
        Assert.Equal("x", config.GetEnv("D"));
        Assert.Equal("y", config.GetEnv("C"));
    }

    [Fact]
    public async Task A_new_ENTRYPOINT_resets_an_inherited_CMD_but_not_one_set_in_the_same_stage()
    {
        var result = await _f.BuildAsync("FROM scratch AS base\nCMD [\"base\"]\nFROM base\nENTRYPOINT [\"/app\"]");
        Assert.Null(result.Config.Config!.Cmd);
        Assert.Equal(["/app"], result.Config.Config.Entrypoint!.Value.ToArray());

        var kept = await _f.BuildAsync("FROM scratch\nCMD [\"arg\"]\nENTRYPOINT [\"/app\"]");
        Assert.Equal(["arg"], kept.Config.Config!.Cmd!.Value.ToArray());
    }

    [Fact]
    public async Task SHELL_turns_the_shell_form_into_exec_form()
    {
        var result = await _f.BuildAsync("FROM scratch\nCMD echo one\nSHELL [\"/bin/bash\", \"-ec\"]\nENTRYPOINT run $X\nCMD two");
        var config = result.Config.Config!;
        Assert.Equal(["/bin/bash", "-ec", "run $X"], config.Entrypoint!.Value.ToArray());
        Assert.Equal(["/bin/bash", "-ec", "two"], config.Cmd!.Value.ToArray());
        Assert.Equal(["/bin/bash", "-ec"], config.Shell!.Value.ToArray());
    }

    [Fact]
    public async Task Every_config_instruction_is_recorded()
    {
        var result = await _f.BuildAsync(
            "FROM scratch\nUSER 1000:1000\nLABEL a=b \"c d\"=\"e f\"\nEXPOSE 80 53/udp 8000-8001\nVOLUME [\"/data\", \"/x\"]\n"
            + "STOPSIGNAL SIGTERM\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/\nONBUILD COPY . /src\nMAINTAINER me");
        var config = result.Config.Config!;
        Assert.Equal("1000:1000", config.User);
        Assert.Equal("e f", config.Labels!["c d"]);
        Assert.Equal(["53/udp", "80/tcp", "8000/tcp", "8001/tcp"], config.ExposedPorts!.ToArray());
        Assert.Equal(["/data", "/x"], config.Volumes!.ToArray());
        Assert.Equal("SIGTERM", config.StopSignal);
        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/"], config.Healthcheck!.Test!.Value.ToArray());
        Assert.Equal(TimeSpan.FromSeconds(5), config.Healthcheck.Interval);
        Assert.Equal(2, config.Healthcheck.Retries);
        Assert.Equal(["COPY . /src"], config.OnBuild!.Value.ToArray());
        Assert.Equal("me", result.Config.Author);
    }

    [Fact]
    public async Task History_has_an_entry_per_instruction_with_empty_layer_for_config_only_steps()
    {
        _f.Write("f", "f");
        var result = await _f.BuildAsync("FROM scratch\nENV A=1\nCOPY f /f\nWORKDIR /\nLABEL x=y");
        var history = result.Config.History;
        Assert.Equal(["ENV A=1", "COPY f /f", "WORKDIR /", "LABEL x=y"], history.Select(h => h.CreatedBy));
        Assert.Equal([true, false, true, true], history.Select(h => h.EmptyLayer));
        Assert.Single(result.Config.DiffIds);
    }

    [Fact]
    public async Task WORKDIR_creates_a_missing_directory_for_the_current_user_and_no_layer_when_it_exists()
    {
        _f.Write("f", "f");
        await _f.BuildAsync("FROM scratch\nCOPY f /exists/f\nUSER 33:44\nWORKDIR /exists\nWORKDIR /new/deep");
        var (image, files) = await _f.ReadAsync();
        Assert.Equal(2, image.Layers.Length);
        Assert.Equal((33, 44), (files["new/deep"].Uid, files["new/deep"].Gid));
    }

    [Fact]
    public async Task Base_ONBUILD_triggers_run_after_FROM_and_are_not_inherited()
    {
        _f.Write("app.txt", "app");
        var result = await _f.BuildAsync("FROM scratch AS base\nONBUILD COPY app.txt /triggered/\nFROM base");
        Assert.Null(result.Config.Config!.OnBuild);
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("app", files["triggered/app.txt"].Content);
    }

    [Fact]
    public async Task Target_selects_a_stage_and_unneeded_stages_are_not_built()
    {
        var result = await _f.BuildAsync("FROM scratch AS one\nENV STAGE=one\nFROM scratch AS two\nRUN never\nENV STAGE=two", o => o with { Target = "one" });
        Assert.Equal("one", result.Config.Config!.GetEnv("STAGE"));
    }

    [Fact]
    public async Task SkipRun_records_RUN_in_history_with_a_warning()
    {
        var result = await _f.BuildAsync("FROM scratch\nRUN echo hi", o => o with { SkipRun = true });
        var entry = Assert.Single(result.Config.History);
        Assert.Equal("RUN /bin/sh -c echo hi", entry.CreatedBy);
        Assert.True(entry.EmptyLayer);
        Assert.Contains("RUN skipped", Assert.Single(result.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_builds_of_the_same_inputs_have_the_same_digest_and_the_timestamp_is_fixed()
    {
        _f.Write("a", "a");
        _f.Write("d/b", "b");
        const string dockerfile = "FROM scratch\nCOPY . /app/\nENV X=1";
        var first = await _f.BuildAsync(dockerfile, o => o with { NoCache = true });
        File.SetLastWriteTimeUtc(Path.Combine(_f.Context, "a"), DateTime.UtcNow.AddDays(-3));
        var second = await _f.BuildAsync(dockerfile, o => o with { NoCache = true, StorePath = Path.Combine(_f.Root, "other") });
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(DateTimeOffset.UnixEpoch, first.Config.Created);

        var later = await _f.BuildAsync(dockerfile, o => o with { NoCache = true, Timestamp = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) });
        Assert.NotEqual(first.Digest, later.Digest);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), later.Config.Created);
    }

    [Fact]
    public async Task The_cache_reuses_unchanged_layers_and_misses_when_an_input_or_the_parent_changes()
    {
        _f.Write("a", "a");
        _f.Write("b", "b");
        const string dockerfile = "FROM scratch\nCOPY a /a\nCOPY b /b";
        var cold = new List<BuildProgress>();
        var first = await _f.BuildAsync(dockerfile, progress: new Collect(cold));
        Assert.All(cold.Where(p => p.CacheHit is not null), p => Assert.False(p.CacheHit));

        var warm = new List<BuildProgress>();
        var second = await _f.BuildAsync(dockerfile, progress: new Collect(warm));
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal([true, true], warm.Where(p => p.CacheHit is not null).Select(p => p.CacheHit!.Value));

        _f.Write("a", "A");
        var changed = new List<BuildProgress>();
        var third = await _f.BuildAsync(dockerfile, progress: new Collect(changed));
        Assert.NotEqual(first.Digest, third.Digest);

        // 'a' changed, and 'b' sits on a changed parent: both rebuilt.
        Assert.Equal([false, false], changed.Where(p => p.CacheHit is not null).Select(p => p.CacheHit!.Value));

        File.SetUnixFileMode(Path.Combine(_f.Context, "b"), (UnixFileMode)0x1C0);
        var mode = new List<BuildProgress>();
        await _f.BuildAsync(dockerfile, progress: new Collect(mode));
        Assert.Equal([true, false], mode.Where(p => p.CacheHit is not null).Select(p => p.CacheHit!.Value));
    }

    [Fact]
    public async Task The_cache_records_of_a_build_are_the_target_stage_steps_with_mode_min_and_every_stage_with_max()
    {
        _f.Write("a", "a");
        _f.Write("b", "b");
        const string dockerfile = "FROM scratch AS one\nCOPY a /a\nFROM scratch\nCOPY b /b\nCOPY --from=one /a /a\nWORKDIR /";
        var min = await _f.BuildAsync(dockerfile);
        Assert.Equal(3, min.CacheRecords.Length); // newest first: WORKDIR (no layer), COPY --from, COPY b
        Assert.Null(min.CacheRecords[0].Layer);
        Assert.All(min.CacheRecords.Skip(1), r => Assert.NotNull(r.Layer));
        Assert.Equal(min.Config.DiffIds.Reverse(), min.CacheRecords.Skip(1).Select(r => r.DiffId!));

        // Hits are recorded too (a registry cache learns what this build reused), and mode=max adds stage one's COPY.
        var max = await _f.BuildAsync(dockerfile, o => o with { CacheMode = CacheExportMode.Max });
        Assert.Equal(4, max.CacheRecords.Length);
        Assert.Equal(min.CacheRecords, max.CacheRecords.Take(3));
        Assert.All(max.CacheRecords, r => Assert.True(CacheRecord.IsValidKey(r.Key)));

        Assert.Empty((await _f.BuildAsync(dockerfile, o => o with { NoCache = true })).CacheRecords);
    }

    [Fact]
    public async Task A_warm_build_does_not_read_context_files_whose_size_and_mtime_are_unchanged()
    {
        var path = _f.Write("a", "one");
        const string dockerfile = "FROM scratch\nCOPY a /a";
        var first = await _f.BuildAsync(dockerfile);
        var mtime = File.GetLastWriteTimeUtc(path);

        // Same size and mtime, other bytes: the remembered digest is used (as git's index does), so the layer is reused.
        File.WriteAllText(path, "two");
        File.SetLastWriteTimeUtc(path, mtime);
        var hits = new List<BuildProgress>();
        var second = await _f.BuildAsync(dockerfile, progress: new Collect(hits));
        Assert.Equal(first.Digest, second.Digest);
        Assert.True(Assert.Single(hits, p => p.CacheHit is not null).CacheHit);

        // A new mtime makes it read the file again.
        File.SetLastWriteTimeUtc(path, mtime.AddSeconds(1));
        var third = await _f.BuildAsync(dockerfile);
        Assert.NotEqual(first.Digest, third.Digest);
    }

    [Fact]
    public async Task Squash_merges_the_stage_layers_into_one_with_the_same_files()
    {
        _f.Write("a", "a");
        _f.Write("b", "b");
        const string dockerfile = "FROM scratch\nCOPY a /x/a\nCOPY b /x/b\nCOPY a /x/a2";
        await _f.BuildAsync(dockerfile);
        var (_, layered) = await _f.ReadAsync();
        var squashed = await _f.BuildAsync(dockerfile, o => o with { Squash = true, Tags = ["squashed:latest"] });
        var (image, files) = await _f.ReadAsync("squashed:latest");
        Assert.Single(image.Layers);
        Assert.Equal(layered.OrderBy(p => p.Key, StringComparer.Ordinal), files.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Single(squashed.Config.History, h => !h.EmptyLayer);
    }

    [Fact]
    public async Task The_result_is_stored_under_every_tag()
    {
        var result = await _f.BuildAsync("FROM scratch\nENV A=1", o => o with { Tags = ["one:1", "two:2"] });
        var store = await OciLayout.OpenAsync(_f.Store);
        Assert.Equal(result.Digest, (await store.ResolveAsync("one:1"))!.Digest);
        Assert.Equal(result.Digest, (await store.ResolveAsync("two:2"))!.Digest);
    }

    [Fact]
    public async Task A_stored_image_serves_as_a_base()
    {
        _f.Write("f", "base");
        await _f.BuildAsync("FROM scratch\nCOPY f /f\nCMD [\"x\"]", o => o with { Tags = ["mybase:1"] });
        var result = await _f.BuildAsync("FROM mybase:1\nENV CHILD=1");
        Assert.Equal(["x"], result.Config.Config!.Cmd!.Value.ToArray());
        var (_, files) = await _f.ReadAsync();
        Assert.Equal("base", files["f"].Content);
    }

    [Theory]
    [InlineData(ArchiveFormat.Oci)]
    [InlineData(ArchiveFormat.Docker)]
    public async Task The_image_can_also_be_written_to_an_archive(ArchiveFormat format)
    {
        _f.Write("f", "f");
        var archive = Path.Combine(_f.Root, "image.tar");
        var result = await _f.BuildAsync("FROM scratch\nCOPY f /f");
        await new ImageDelivery(await OciLayout.OpenAsync(_f.Store)).WriteArchiveAsync(result.Tags[0], result.Tags, archive, format);
        var imported = await OciLayout.OpenAsync(Path.Combine(_f.Root, "imported"));
        await using var stream = File.OpenRead(archive);
        var images = format == ArchiveFormat.Oci ? await OciArchive.ImportAsync(stream, imported) : await DockerArchive.ImportAsync(stream, imported);
        Assert.Equal(result.Digest, Assert.Single(images).Descriptor.Digest);
    }

    [Fact]
    public async Task The_platform_comes_from_FROM_platform_else_the_options_and_feeds_TARGETARCH()
    {
        var fromOptions = await _f.BuildAsync("FROM scratch\nARG TARGETARCH\nENV ARCH=$TARGETARCH", o => o with { Platform = OciKit.Primitives.Platform.LinuxArm64 });
        Assert.Equal("arm64", fromOptions.Config.Architecture);
        Assert.Equal("arm64", fromOptions.Config.Config!.GetEnv("ARCH"));

        var fromLine = await _f.BuildAsync("FROM --platform=linux/riscv64 scratch\nENV A=1");
        Assert.Equal("riscv64", fromLine.Config.Architecture);
    }

    private sealed class Collect(List<BuildProgress> into) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => into.Add(value);
    }
}
