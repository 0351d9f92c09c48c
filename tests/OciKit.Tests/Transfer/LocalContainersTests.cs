using OciKit.Images;
using OciKit.Transfer;

namespace OciKit.Tests.Transfer;

/// <summary>What <c>ocikit run</c> starts from an image's config and the overrides, as <c>docker run</c> does; commit's <c>--change</c>.</summary>
public sealed class LocalContainersTests
{
    private static readonly ContainerConfig Config = new()
    {
        Entrypoint = ["/entry.sh"],
        Cmd = ["serve", "--port", "80"],
        Env = ["PATH=/bin", "MODE=prod"],
        User = "app",
        WorkingDir = "/srv",
    };

    [Fact]
    public void The_image_config_gives_the_process_by_default()
    {
        var process = LocalContainers.Process(Config, new ContainerOptions { Image = "x" });
        Assert.Equal(["/entry.sh", "serve", "--port", "80"], process.Args);
        Assert.Equal(["PATH=/bin", "MODE=prod"], process.Env);
        Assert.Equal(("app", "/srv"), (process.User, process.WorkingDir));
    }

    [Fact]
    public void A_command_replaces_cmd_and_an_entrypoint_replaces_both()
    {
        Assert.Equal(["/entry.sh", "sh"], LocalContainers.Process(Config, new ContainerOptions { Image = "x", Command = ["sh"] }).Args);
        Assert.Equal(["/bin/sh"], LocalContainers.Process(Config, new ContainerOptions { Image = "x", Entrypoint = ["/bin/sh"] }).Args);
        Assert.Equal(["ls", "-l"], LocalContainers.Process(Config, new ContainerOptions { Image = "x", Entrypoint = [], Command = ["ls", "-l"] }).Args);
        Assert.Throws<ArgumentException>(() => LocalContainers.Process(Config, new ContainerOptions { Image = "x", Entrypoint = [] }));
    }

    [Fact]
    public void Overrides_replace_variables_user_and_directory()
    {
        var process = LocalContainers.Process(Config, new ContainerOptions { Image = "x", Env = ["MODE=dev", "NEW=1"], User = "0", WorkingDir = "/tmp" });
        Assert.Equal(["PATH=/bin", "MODE=dev", "NEW=1"], process.Env);
        Assert.Equal(("0", "/tmp"), (process.User, process.WorkingDir));
        Assert.Equal("/", LocalContainers.Process(new ContainerConfig { Cmd = ["sh"] }, new ContainerOptions { Image = "x" }).WorkingDir);
    }

    [Fact]
    public void Commit_changes_apply_config_instructions()
    {
        var image = Image.Scratch(OciKit.Primitives.Platform.Current);
        image = CommitChanges.Apply(image, ["CMD [\"cat\", \"/x\"]", "ENTRYPOINT /run.sh", "ENV A=1 B=\"two words\"", "EXPOSE 8080", "LABEL k=v", "USER u", "WORKDIR /w", "VOLUME /data", "STOPSIGNAL SIGINT"]);
        var c = image.Config.Config!;
        Assert.Equal(["cat", "/x"], c.Cmd);
        Assert.Equal(["/bin/sh", "-c", "/run.sh"], c.Entrypoint);
        Assert.Contains("A=1", c.Env!);
        Assert.Contains("B=two words", c.Env!);
        Assert.Contains("8080/tcp", c.ExposedPorts!);
        Assert.Equal("v", c.Labels!["k"]);
        Assert.Equal(("u", "/w", "SIGINT"), (c.User, c.WorkingDir, c.StopSignal));
        Assert.Contains("/data", c.Volumes!);
    }

    [Theory]
    [InlineData("RUN echo hi", "only CMD")]
    [InlineData("COPY a b", "only CMD")]
    [InlineData("FROM alpine", "exactly one instruction")]
    public void Commit_refuses_changes_that_are_not_config(string change, string problem)
    {
        var ex = Assert.Throws<ArgumentException>(() => CommitChanges.Apply(Image.Scratch(OciKit.Primitives.Platform.Current), [change]));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }
}
