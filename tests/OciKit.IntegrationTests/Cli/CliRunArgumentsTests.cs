using OciKit.Build;
using OciKit.Cli.Commands;

namespace OciKit.IntegrationTests.Cli;

/// <summary>How <c>ocikit run</c> and <c>ocikit build --secret/--cache-to</c> read their command lines (no container involved).</summary>
public sealed class CliRunArgumentsTests
{
    [Theory]
    [InlineData("run img ls -la", "run img -- ls -la")]
    [InlineData("--store /s run -e A=1 -v /h:/c img sh -c x", "--store /s run -e A=1 -v /h:/c img -- sh -c x")]
    [InlineData("run --name=n -it img", "run --name=n -it img")]
    [InlineData("run img -- ls", "run img -- ls")]
    [InlineData("build run -t x .", "build run -t x .")]
    [InlineData("--store run run img echo", "--store run run img -- echo")]
    public void Everything_after_the_image_is_the_command(string given, string expected)
        => Assert.Equal(expected.Split(' '), RunCommand.SeparateCommand(given.Split(' ')));

    [Fact]
    public void Secrets_come_from_files_or_variables_as_docker_reads_them()
    {
        var secrets = BuildCommand.ParseSecrets(["id=a,src=/tmp/a.txt", "id=b,env=B_VAR", "type=env,id=c", "id=d,source=d.txt"]);
        Assert.Equal(Path.GetFullPath("/tmp/a.txt"), secrets["a"].FilePath);
        Assert.Equal("B_VAR", secrets["b"].EnvironmentVariable);
        Assert.Equal("c", secrets["c"].EnvironmentVariable);
        Assert.Equal(Path.GetFullPath("d.txt"), secrets["d"].FilePath);
        Assert.Throws<ArgumentException>(() => BuildCommand.ParseSecrets(["src=/x"]));
        Assert.Throws<ArgumentException>(() => BuildCommand.ParseSecrets(["id=x,value=inline"]));
        Assert.IsType<BuildSecret>(secrets["a"]);
    }

    [Theory]
    [InlineData("r.example/team/cache", "r.example/team/cache:ocikit-cache", CacheExportMode.Min)]
    [InlineData("r.example/team/cache:main,mode=max", "r.example/team/cache:main", CacheExportMode.Max)]
    [InlineData("type=registry,ref=r.example:5000/c,mode=min", "r.example:5000/c:ocikit-cache", CacheExportMode.Min)]
    public void Cache_to_takes_a_repository_and_a_mode_as_buildkit_spells_them(string given, string repository, CacheExportMode mode)
    {
        var (parsed, parsedMode) = BuildCommand.ParseCacheTo(given);
        Assert.Equal(repository, parsed!.ToString());
        Assert.Equal(mode, parsedMode);
    }

    [Theory]
    [InlineData("r.example/c,mode=all")]
    [InlineData("mode=max")]
    [InlineData("type=local,dest=/tmp/c")]
    public void Cache_to_refuses_what_it_cannot_do(string given) =>
        Assert.Throws<ArgumentException>(() => BuildCommand.ParseCacheTo(given));
}
