using OciKit.Build;

namespace OciKit.Tests.Build;

/// <summary>Each bad input is a <see cref="BuildException"/> naming its line, and leaves the store as it was.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BadInputTests : IDisposable
{
    private readonly BuildFixture _f = new();

    public BadInputTests()
    {
        _f.Write("ok.txt", "ok");
        _f.Write("../outside.txt", "secret");
    }

    public void Dispose() => _f.Dispose();

    [Theory]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nCOPY ../outside.txt /b", 3, "outside the build context")]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nCOPY missing.txt /b", 3, "not found")]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nRUN --mount=type=ssh true", 3, "RUN --mount=type=ssh is not supported")]
    [InlineData("FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y", 2, "circular dependency")]
    [InlineData("FROM scratch AS a\nCOPY --from=a /x /x", 2, "circular dependency")]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nCOPY --from=5 /x /x", 3, "stage")]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nADD https://example.com/x.git /src", 3, "Git")]
    [InlineData("FROM scratch\nCOPY ok.txt /a\nCOPY --chown=nobody ok.txt /b", 3, "nobody")]
    [InlineData("FROM scratch\nCOPY --chmod=9z ok.txt /a", 2, "chmod")]
    public async Task Fails_with_the_line_and_writes_nothing(string dockerfile, int line, string problem)
    {
        // A first successful build so the store exists with content to compare against.
        await _f.BuildAsync("FROM scratch\nCOPY ok.txt /ok", o => o with { Tags = ["before:1"] });
        var before = _f.StoreSnapshot();

        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync(dockerfile));
        Assert.Equal(line, ex.Line);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"Dockerfile:{line}: ", ex.Message, StringComparison.Ordinal);
        Assert.Equal(string.Join("\n", before), string.Join("\n", _f.StoreSnapshot()));
    }

    [Fact]
    public async Task An_unknown_target_stage_is_an_error()
    {
        var ex = await Assert.ThrowsAsync<BuildException>(() => _f.BuildAsync("FROM scratch AS one", o => o with { Target = "two" }));
        Assert.Contains("\"two\"", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_f.StoreSnapshot().Where(f => f.Contains("blobs", StringComparison.Ordinal)));
    }
}
