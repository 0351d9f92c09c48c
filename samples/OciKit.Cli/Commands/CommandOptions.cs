using System.CommandLine;
using OciKit.Primitives;

namespace OciKit.Cli.Commands;

/// <summary>Options and arguments several commands share.</summary>
internal static class CommandOptions
{
    public static Option<string?> Platform() => new("--platform")
    {
        Description = "The platform to pick from a multi-platform image, os/arch[/variant] (default: this machine's).",
    };

    public static Platform? ParsePlatform(string? text) => text is null ? null : Primitives.Platform.Parse(text);

    public static Argument<string> Reference(string name, string description) => new(name) { Description = description };
}
