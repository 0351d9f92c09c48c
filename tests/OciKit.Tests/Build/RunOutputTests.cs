using System.Text;
using OciKit.Build;

namespace OciKit.Tests.Build;

/// <summary>RUN output: reported line by line as it arrives, secrets masked, the last lines kept for errors.</summary>
public sealed class RunOutputTests
{
    [Fact]
    public void Lines_are_reported_as_they_complete_even_when_split_across_writes()
    {
        var lines = new List<string>();
        using var output = new RunOutput(lines.Add, []);
        output.Write(Encoding.UTF8.GetBytes("first\r\nsec"));
        Assert.Equal(["first"], lines);
        var euro = Encoding.UTF8.GetBytes("ond €\nthird");
        output.Write(euro.AsSpan(0, 9)); // splits the euro sign's bytes
        output.Write(euro.AsSpan(9));
        Assert.Equal(["first", "second €"], lines);
        output.Flush();
        Assert.Equal(["first", "second €", "third"], lines);
    }

    [Fact]
    public void Secrets_are_masked_and_only_the_last_lines_are_kept()
    {
        var lines = new List<string>();
        using var output = new RunOutput(lines.Add, ["s3cr3t-value"]);
        for (var i = 0; i < 15; i++)
        {
            output.Write(Encoding.UTF8.GetBytes($"line {i} s3cr3t-value\n"));
        }

        Assert.Equal(15, lines.Count);
        Assert.DoesNotContain(lines, l => l.Contains("s3cr3t", StringComparison.Ordinal));
        Assert.Equal(RunOutput.KeptLines, output.LastLines.Count);
        Assert.Equal("line 14 ****", output.LastLines[^1]);
        Assert.Equal("line 5 ****", output.LastLines[0]);
    }
}
