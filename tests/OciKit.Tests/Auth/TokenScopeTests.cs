using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OciKit.Auth;
using OciKit.References;

namespace OciKit.Tests.Auth;

public class TokenScopeTests
{
    [Fact]
    public void Parses_and_formats_a_repository_scope()
    {
        var scope = TokenScope.Parse("repository:library/alpine:push,pull");
        Assert.Equal("repository", scope.ResourceType);
        Assert.Equal("library/alpine", scope.ResourceName);
        Assert.Equal(["pull", "push"], scope.Actions);
        Assert.Equal("repository:library/alpine:pull,push", scope.ToString());
    }

    [Fact]
    public void Resource_names_may_contain_colons_and_types_may_have_a_class()
    {
        var scope = TokenScope.Parse("repository(plugin):localhost:5000/x:pull");
        Assert.Equal("repository(plugin)", scope.ResourceType);
        Assert.Equal("localhost:5000/x", scope.ResourceName);
        Assert.Equal("registry:catalog:*", TokenScope.Parse("registry:catalog:*").ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("repository")]
    [InlineData("repository:x")]
    [InlineData("repository::pull")]
    [InlineData(":x:pull")]
    [InlineData("repository:x:")]
    [InlineData("repository:x:pull,")]
    [InlineData("repository:a b:pull")]
    public void Rejects_malformed_scopes(string text)
    {
        Assert.False(TokenScope.TryParse(text, out _));
        Assert.Equal("token scope", Assert.Throws<OciFormatException>(() => TokenScope.Parse(text)).Subject);
    }

    [Fact]
    public void Merges_scopes_of_the_same_resource()
    {
        var merged = TokenScope.Merge([
            TokenScope.ForRepository("a", TokenScope.Pull),
            TokenScope.ForRepository("b", TokenScope.Pull),
            TokenScope.ForRepository("a", TokenScope.Push, TokenScope.Pull),
            TokenScope.Create("registry", "catalog", "*"),
        ]);
        Assert.Equal(["repository:a:pull,push", "repository:b:pull", "registry:catalog:*"], merged.Select(s => s.ToString()));
        Assert.Equal("repository:a:pull,push repository:b:pull", TokenScope.FormatList([TokenScope.Parse("repository:a:push"), TokenScope.Parse("repository:b:pull"), TokenScope.Parse("repository:a:pull")]));
        Assert.Equal(["repository:a:pull,push", "repository:b:pull"], TokenScope.ParseList(" repository:a:pull  repository:b:pull repository:a:push").Select(s => s.ToString()));
    }

    [Fact]
    public void Covers_compares_resource_and_actions()
    {
        var pullPush = TokenScope.ForRepository(ImageReference.Parse("alpine"), TokenScope.Pull, TokenScope.Push);
        Assert.Equal("library/alpine", pullPush.ResourceName);
        Assert.True(pullPush.Covers(TokenScope.ForRepository("library/alpine", TokenScope.Pull)));
        Assert.False(TokenScope.ForRepository("library/alpine", TokenScope.Pull).Covers(pullPush));
        Assert.False(pullPush.Covers(TokenScope.ForRepository("library/other", TokenScope.Pull)));
        Assert.True(TokenScope.ForRepository("x", "*").Covers(TokenScope.ForRepository("x", TokenScope.Delete)));
    }

    [Fact]
    public void Equal_scopes_are_equal_whatever_the_action_order()
    {
        Assert.Equal(TokenScope.Parse("repository:a:push,pull,pull"), TokenScope.Parse("repository:a:pull,push"));
        Assert.Equal(TokenScope.Parse("repository:a:push,pull").GetHashCode(), TokenScope.Parse("repository:a:pull,push").GetHashCode());
    }

    private static readonly Gen<TokenScope> Scopes =
        from name in Gen.Elements("a", "b", "library/alpine", "localhost:5000/x")
        from actions in Gen.SubListOf("pull", "push", "delete", "*").Where(l => l.Count > 0)
        select TokenScope.ForRepository(name, actions);

    [Property]
    public Property Merging_is_idempotent_and_keeps_every_action()
        => Prop.ForAll(Gen.ListOf(Scopes).ToArbitrary(), scopes =>
        {
            var merged = TokenScope.Merge(scopes);
            var again = TokenScope.Merge(merged);
            return merged.SequenceEqual(again)
                && scopes.All(s => merged.Any(m => m.Covers(s)))
                && merged.Select(m => m.ResourceName).Distinct().Count() == merged.Count
                && TokenScope.ParseList(TokenScope.FormatList(scopes)).SequenceEqual(merged);
        });
}
