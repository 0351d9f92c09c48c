using BenchmarkDotNet.Attributes;
using OciKit.Dockerfile.Shell;

namespace OciKit.Benchmarks;

/// <summary>Expanding typical Dockerfile words: every ENV, COPY, FROM and LABEL argument goes through the lexer.</summary>
[MemoryDiagnoser]
public class ShellExpansionBenchmarks
{
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal)
    {
        ["VERSION"] = "1.2.3",
        ["TARGETOS"] = "linux",
        ["TARGETARCH"] = "arm64",
        ["TARGETVARIANT"] = string.Empty,
        ["APP_HOME"] = "/opt/app",
        ["IMAGE"] = "registry.example.com/team/app:1.2.3",
    };

    /// <summary>A word without anything to expand (the common case).</summary>
    [Benchmark(Baseline = true)]
    public string PlainWord() => ShellLexer.Default.ProcessWord("/usr/local/bin/app", _environment);

    /// <summary>A file name built from platform build args with a conditional suffix.</summary>
    [Benchmark]
    public string PlatformArtifact() => ShellLexer.Default.ProcessWord(
        "app-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz", _environment);

    /// <summary>A quoted ENV value with a default.</summary>
    [Benchmark]
    public string QuotedWithDefault() => ShellLexer.Default.ProcessWord("\"${APP_HOME:-/app}/data\" $HOME", _environment);

    /// <summary>Pattern removal (a regular expression under the hood).</summary>
    [Benchmark]
    public string TrimTag() => ShellLexer.Default.ProcessWord("${IMAGE%:*}", _environment);

    /// <summary>Word splitting of a COPY line's arguments.</summary>
    [Benchmark]
    public IReadOnlyList<string> SplitWords() => ShellLexer.Default.ProcessWords("--chown=app:app ./src $APP_HOME/src", _environment);
}
