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

    [Theory]
    [InlineData("a", "a")]
    [InlineData("./a", "a")]
    [InlineData("/a/b", "a/b")]
    [InlineData("//a//b//", "a/b")]
    [InlineData("a/./b/.", "a/b")]
    [InlineData("a/../b", "b")]
    [InlineData("a/b/../../c", "c")]
    [InlineData("./bin/", "bin")]
    [InlineData("./", "")]
    [InlineData(".", "")]
    [InlineData("/", "")]
    [InlineData("a/..", "")]
    [InlineData("..a/b..", "..a/b..")]
    [InlineData("...", "...")]
    public void Names_read_from_a_layer_are_cleaned_as_containerd_cleans_them(string given, string expected)
    {
        Assert.Equal(expected, LayerPath.CleanRead(given));
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("../a")]
    [InlineData("/../a")]
    [InlineData("./../a")]
    [InlineData("a/../../b")]
    [InlineData("a\0b")]
    public void Names_read_from_a_layer_that_climb_above_the_root_are_refused(string given)
    {
        var error = Assert.Throws<LayerPathException>(() => LayerPath.CleanRead(given));
        Assert.Equal(given, error.Path);
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
