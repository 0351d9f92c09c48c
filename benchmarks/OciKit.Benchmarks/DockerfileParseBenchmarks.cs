using System.Text;
using BenchmarkDotNet.Attributes;
using OciKit.Dockerfile;

namespace OciKit.Benchmarks;

/// <summary>Parsing a large generated Dockerfile: the syntax tree alone, and the tree plus typed instructions.</summary>
[MemoryDiagnoser]
[Throughput]
public class DockerfileParseBenchmarks : IThroughputBenchmark
{
    private string _text = "";

    /// <summary>Number of instructions in the generated Dockerfile.</summary>
    [Params(10_000)]
    public int Instructions { get; set; }

    /// <inheritdoc />
    public long InputBytes => Encoding.UTF8.GetByteCount(_text);

    /// <summary>Generates a Dockerfile mixing every common construct (continuations, JSON, heredocs, flags).</summary>
    [GlobalSetup]
    public void Setup()
    {
        var text = new StringBuilder("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\n");
        var count = 1;
        for (var stage = 0; count < Instructions; stage++)
        {
            text.Append("FROM --platform=$BUILDPLATFORM ${BASE} AS stage").Append(stage).Append('\n');
            count++;
            for (var i = 0; i < 20 && count < Instructions; i++, count++)
            {
                text.Append((i % 10) switch
                {
                    0 => "RUN --mount=type=cache,target=/root/.cache \\\n    apk add --no-cache curl \\\n    # comment\n    git\n",
                    1 => "COPY --from=stage0 --chown=app:app --chmod=755 src/ lib/ /app/\n",
                    2 => "ENV A=1 B=\"two words\" C=${A}/x\n",
                    3 => "LABEL org.opencontainers.image.title=\"app\" version=1.0\n",
                    4 => "CMD [\"/app/run\", \"--port\", \"8080\"]\n",
                    5 => "RUN <<EOF\nset -e\necho $HOME\nEOF\n",
                    6 => "WORKDIR /app\n",
                    7 => "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/ || exit 1\n",
                    8 => "EXPOSE 8080/tcp 9090\n",
                    _ => "USER app:app\n",
                });
            }
        }

        _text = text.ToString();
    }

    /// <summary>The syntax tree only.</summary>
    /// <returns>The tree.</returns>
    [Benchmark(Baseline = true)]
    public DockerfileSyntaxTree SyntaxTree() => DockerfileSyntaxTree.Parse(_text);

    /// <summary>The syntax tree and the typed instructions and stages.</summary>
    /// <returns>The parsed Dockerfile.</returns>
    [Benchmark]
    public ParsedDockerfile TypedInstructions() => ParsedDockerfile.Parse(_text);
}
