using System.Text.Json;
using OciKit.Cli;

namespace OciKit.IntegrationTests.Cli;

public class InspectFormatTests
{
    private static readonly JsonElement Root = JsonDocument.Parse("""
        {"Id":"sha256:abc","Os":"linux","Size":42,"Config":{"Env":["A=1","B=two words"],"Cmd":["sh"],"Labels":{"z":"1","a":"x"},"User":null,"Tty":false}}
        """).RootElement;

    [Theory]
    [InlineData("{{.Id}}", "sha256:abc")]
    [InlineData("{{.Config.Env}}", "[A=1 B=two words]")]
    [InlineData("{{ .Config.Cmd }}", "[sh]")]
    [InlineData("{{.Config.Labels}}", "map[a:x z:1]")]
    [InlineData("{{.config.env}}", "[A=1 B=two words]")]
    [InlineData("{{.Size}}", "42")]
    [InlineData("{{.Config.Tty}}", "false")]
    [InlineData("{{.Config.User}}", "<nil>")]
    [InlineData("{{.Missing}}", "<no value>")]
    [InlineData("{{.Id.Deeper}}", "<no value>")]
    [InlineData("os={{.Os}}, cmd={{json .Config.Cmd}}", "os=linux, cmd=[\"sh\"]")]
    [InlineData("{{json .Missing}}", "null")]
    [InlineData("{{.}}", "map[Config:map[Cmd:[sh] Env:[A=1 B=two words] Labels:map[a:x z:1] Tty:false User:<nil>] Id:sha256:abc Os:linux Size:42]")]
    [InlineData("no actions", "no actions")]
    public void Renders_field_paths_as_go_templates_print_them(string template, string expected) =>
        Assert.Equal(expected, InspectFormat.Apply(Root, template));

    [Theory]
    [InlineData("{{.Config")]
    [InlineData("{{range .Config.Env}}{{.}}{{end}}")]
    [InlineData("{{Config}}")]
    public void Rejects_what_it_cannot_render(string template) =>
        Assert.Throws<FormatException>(() => InspectFormat.Apply(Root, template));
}
