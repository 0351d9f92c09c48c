using BenchmarkDotNet.Running;
using OciKit.Benchmarks;

// BenchmarkDotNet: dotnet run -c Release --project benchmarks/OciKit.Benchmarks -- --filter '*'
// Whole-process layer build for benchmarks/compare.sh: ... -- layer DIRECTORY OUTPUT [--compression gzip|zstd|none] [--level fastest|default|smallest]
// Multi-layer image into an OCI layout, for compare.sh: ... -- image LAYOUT TAG DIRECTORY... [--entrypoint PATH]
// Deflate floor of a self-contained publish's Runtime layer, for compare.sh: ... -- floor PUBLISH-DIRECTORY
// A publish output containerized onto a base and pushed, without MSBuild, with where the time went: ... -- containerize PUBLISH-DIRECTORY BASE REGISTRY REPOSITORY STORE
// Extraction of an image's root file system as RUN prepares it, cold then warm, for compare.sh: ... -- rootfs LAYOUT TAG WORK
switch (args)
{
    case ["layer", ..]:
        return await LayerCommand.RunAsync(args[1..]).ConfigureAwait(false);
    case ["image", ..]:
        return await ImageCommand.RunAsync(args[1..]).ConfigureAwait(false);
    case ["floor", ..]:
        return await FloorCommand.RunAsync(args[1..]).ConfigureAwait(false);
    case ["containerize", ..]:
        return await ContainerizeCommand.RunAsync(args[1..]).ConfigureAwait(false);
    case ["rootfs", ..]:
        return await RootfsCommand.RunAsync(args[1..]).ConfigureAwait(false);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

/// <summary>Entry point type, named so BenchmarkSwitcher can find the assembly.</summary>
public partial class Program;
