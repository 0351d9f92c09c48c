namespace Greetings;

/// <summary>Greetings shared by the web sample.</summary>
public static class Greeter
{
    /// <summary>A greeting for <paramref name="who"/>.</summary>
    /// <param name="who">Who is greeted.</param>
    /// <returns>The greeting.</returns>
    public static string Greet(string who) => $"Hello, {who}, from OciKit";
}
