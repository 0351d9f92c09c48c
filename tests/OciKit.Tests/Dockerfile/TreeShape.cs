using System.Text.Json.Nodes;
using OciKit.Dockerfile;

namespace OciKit.Tests.Dockerfile;

/// <summary>A tree's JSON without line numbers, to compare trees whose text was laid out differently.</summary>
internal static class TreeShape
{
    public static string Of(DockerfileSyntaxTree tree)
    {
        var json = JsonNode.Parse(tree.ToJson(indented: false))!;
        foreach (var node in json["instructions"]!.AsArray())
        {
            Strip(node!);
        }

        return json.ToJsonString();
    }

    private static void Strip(JsonNode node)
    {
        var obj = node.AsObject();
        obj.Remove("startLine");
        obj.Remove("endLine");
        if (obj["next"] is { } next)
        {
            Strip(next);
        }
    }
}
