using OciKit.Layers;

namespace OciKit.Tests.Layers;

public class LayerPathTests
{
    [Theory]
    [InlineData("a", "a")]
    [InlineData("./a", "a")]
    [InlineData("a//b/", "a/b")]
    [InlineData("a/./b/.", "a/b")]
    [InlineData("é/ü", "é/ü")]
    public void Normalizes_relative_paths(string given, string expected)
    {
        Assert.Equal(expected, LayerPath.Normalize(given));
        Assert.Equal(expected, LayerEntry.Directory(given).Path);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    [InlineData("../evil")]
    [InlineData("a/../../evil")]
    [InlineData("a/..")]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("./")]
    [InlineData("a\0b")]
    public void Refuses_unsafe_paths_with_a_typed_error(string given)
    {
        var error = Assert.Throws<LayerPathException>(() => LayerEntry.Directory(given));
        Assert.Equal(given, error.Path);
        Assert.IsAssignableFrom<OciException>(error);
    }

    [Fact]
    public void Refuses_escaping_hardlink_targets_and_reserved_names()
    {
        Assert.Throws<LayerPathException>(() => LayerEntry.Hardlink("a", "../b"));
        Assert.Throws<LayerPathException>(() => LayerEntry.Hardlink("a", "/b"));
        Assert.Throws<LayerPathException>(() => LayerEntry.Directory("x/.wh.y"));
        Assert.Throws<LayerPathException>(() => LayerTestHelpers.TextFile(".wh..wh..opq", "x"));
    }

    [Fact]
    public void Symlink_targets_are_kept_as_written()
    {
        Assert.Equal("../../etc/hosts", LayerEntry.Symlink("a/link", "../../etc/hosts").LinkTarget);
        Assert.Equal("/usr/bin/env", LayerEntry.Symlink("env", "/usr/bin/env").LinkTarget);
    }
}
