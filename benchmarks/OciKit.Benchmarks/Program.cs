using BenchmarkDotNet.Running;

// Run with: dotnet run -c Release --project benchmarks/OciKit.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

/// <summary>Entry point type, named so BenchmarkSwitcher can find the assembly.</summary>
public partial class Program;
