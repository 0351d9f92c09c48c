using OciKit.Build;
using OciKit.Dockerfile;

namespace OciKit.Tests.Build;

/// <summary><c>RUN --mount</c> fields, expanded and defaulted as BuildKit does, and refused with a clear message.</summary>
public sealed class RunMountSpecTests
{
    private static readonly Dictionary<string, string> Env = new(StringComparer.Ordinal) { ["DIR"] = "/cache", ["ID"] = "npm" };

    private static RunMountSpec Parse(string mount, string workingDir = "/")
    {
        var run = (RunInstruction)ParsedDockerfile.Parse($"FROM scratch\nRUN --mount={mount} true", "Dockerfile").Stages[0].Instructions[0];
        return RunMountSpec.Parse(run.Mounts[0], w => OciKit.Dockerfile.Shell.ShellLexer.Default.ProcessWord(w, Env), workingDir, m => new InvalidOperationException(m));
    }

    [Fact]
    public void A_bind_mount_is_read_only_from_the_context_by_default()
    {
        var spec = Parse("target=/src");
        Assert.Equal(RunMountKind.Bind, spec.Kind);
        Assert.Equal("/src", spec.Target);
        Assert.True(spec.ReadOnly);
        Assert.Null(spec.From);
        Assert.Equal("", spec.Source);
    }

    [Fact]
    public void A_bind_mount_may_be_writable_and_come_from_a_stage()
    {
        var spec = Parse("type=bind,from=builder,source=./out/../bin,target=app,rw", "/work");
        Assert.False(spec.ReadOnly);
        Assert.Equal("builder", spec.From);
        Assert.Equal("bin", spec.Source);
        Assert.Equal("/work/app", spec.Target);
    }

    [Theory]
    [InlineData("/a/../b/", "b")]
    [InlineData("./", "")]
    [InlineData("a//b/.", "a/b")]
    public void A_mount_source_is_cleaned_as_layer_names_are(string source, string cleaned) =>
        Assert.Equal(cleaned, Parse($"type=bind,source={source},target=/x").Source);

    [Fact]
    public void A_mount_source_that_climbs_above_its_root_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Parse("type=bind,source=a/../../etc,target=/x"));
        Assert.Equal("mount source 'a/../../etc' climbs outside its source", error.Message);
    }

    [Fact]
    public void A_cache_mount_is_keyed_by_its_target_unless_given_an_id_and_fields_are_expanded()
    {
        var byTarget = Parse("type=cache,target=$DIR");
        Assert.Equal(RunMountKind.Cache, byTarget.Kind);
        Assert.Equal("/cache", byTarget.Id);
        Assert.False(byTarget.ReadOnly);
        Assert.Equal((UnixFileMode)0x1ED, byTarget.Mode);

        var byId = Parse("type=cache,target=/root/.npm,id=${ID},sharing=locked,mode=0700,uid=1000,gid=1000");
        Assert.Equal("npm", byId.Id);
        Assert.Equal("locked", byId.Sharing);
        Assert.Equal((UnixFileMode)0x1C0, byId.Mode);
        Assert.Equal((1000, 1000), (byId.Uid, byId.Gid));
    }

    [Fact]
    public void A_secret_defaults_its_target_from_its_id_and_its_id_from_its_target()
    {
        var byId = Parse("type=secret,id=token");
        Assert.Equal(("token", "/run/secrets/token"), (byId.Id, byId.Target));
        Assert.True(byId.ReadOnly);
        Assert.Equal((UnixFileMode)0x100, byId.Mode);

        var byTarget = Parse("type=secret,target=/etc/creds.json,required");
        Assert.Equal("creds.json", byTarget.Id);
        Assert.True(byTarget.Required);

        var asEnv = Parse("type=secret,id=token,env=TOKEN");
        Assert.Equal(("", "TOKEN"), (asEnv.Target, asEnv.Env));
    }

    [Fact]
    public void A_tmpfs_takes_a_size()
    {
        var spec = Parse("type=tmpfs,target=/scratch,size=64m");
        Assert.Equal(RunMountKind.Tmpfs, spec.Kind);
        Assert.Equal(64L << 20, spec.Size);
    }

    [Theory]
    [InlineData("type=ssh", "ssh")]
    [InlineData("type=bind", "needs a target")]
    [InlineData("type=secret", "needs an id")]
    [InlineData("type=tmpfs,target=/t,source=x", "no 'from' or 'source'")]
    [InlineData("type=cache,target=/c,mode=9", "invalid mode")]
    [InlineData("type=cache,target=/c,uid=me", "invalid uid")]
    [InlineData("type=cache,target=/c,sharing=all", "sharing")]
    [InlineData("type=bind,target=/", "root")]
    [InlineData("type=bind,target=/x,source=../up", "climbs")]
    [InlineData("type=cache,target=/c,size=1m", "only for tmpfs")]
    public void Bad_mounts_are_refused_with_what_is_wrong(string mount, string problem)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Parse(mount));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_key_text_names_settings_but_not_content()
    {
        var a = Parse("type=secret,id=token").Describe();
        Assert.Contains("id=token", a, StringComparison.Ordinal);
        Assert.NotEqual(a, Parse("type=secret,id=token,target=/other").Describe());
    }
}
