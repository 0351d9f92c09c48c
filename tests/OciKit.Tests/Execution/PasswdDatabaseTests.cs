using OciKit.Execution;

namespace OciKit.Tests.Execution;

public class PasswdDatabaseTests
{
    private const string Passwd = """
        root:x:0:0:root:/root:/bin/sh
          # a comment
        app:x:1654:1655:app:/home/app:/bin/sh

        app:x:9:9:shadowed by the first line:/:/bin/false
        broken:x:notanumber:12
        short:x:44
        """;

    private const string Group = "root:x:0:\nstaff:x:50:app,root\r\nstaff:x:51:\nweird:x:-3:\n";

    [Fact]
    public void Users_resolve_to_uid_and_primary_gid_first_line_winning()
    {
        var db = PasswdDatabase.Parse(Passwd, Group);

        Assert.True(db.TryResolveUser("app", out var uid, out var gid));
        Assert.Equal((1654, 1655), (uid, gid));
        Assert.True(db.TryResolveUser("root", out uid, out gid));
        Assert.Equal((0, 0), (uid, gid));
    }

    [Fact]
    public void Unparsable_or_missing_numbers_read_as_zero_as_in_moby_sys_user()
    {
        var db = PasswdDatabase.Parse(Passwd, Group);

        Assert.True(db.TryResolveUser("broken", out var uid, out var gid));
        Assert.Equal((0, 12), (uid, gid));
        Assert.True(db.TryResolveUser("short", out uid, out gid));
        Assert.Equal((44, 0), (uid, gid));
        Assert.True(db.TryResolveGroup("weird", out var weird));
        Assert.Equal(0, weird);
    }

    [Fact]
    public void Groups_resolve_by_name_and_names_are_case_sensitive()
    {
        var db = PasswdDatabase.Parse(Passwd, Group);

        Assert.True(db.TryResolveGroup("staff", out var gid));
        Assert.Equal(50, gid);
        Assert.False(db.TryResolveGroup("Staff", out _));
        Assert.False(db.TryResolveUser("APP", out _, out _));
        Assert.False(db.TryResolveUser("# a comment", out _, out _));
    }

    [Fact]
    public void An_image_without_the_files_has_no_names()
    {
        Assert.False(PasswdDatabase.Parse(null, null).TryResolveUser("root", out _, out _));
        Assert.False(PasswdDatabase.Empty.TryResolveGroup("root", out _));
        Assert.False(PasswdDatabase.Parse(Passwd, null).TryResolveGroup("root", out _));
    }

    [Theory]
    [InlineData("app", 1654, 1655)]
    [InlineData("app:staff", 1654, 50)]
    [InlineData("app:7", 1654, 7)]
    [InlineData("1000", 1000, 1000)]
    [InlineData("1000:root", 1000, 0)]
    [InlineData(":staff", 0, 50)]
    [InlineData("root:", 0, 0)]
    public void Owner_specs_resolve_as_BuildKit_does(string spec, int expectedUid, int expectedGid)
    {
        Assert.True(PasswdDatabase.Parse(Passwd, Group).TryResolveOwner(spec, out var uid, out var gid, out var unresolved));
        Assert.Equal((expectedUid, expectedGid), (uid, gid));
        Assert.Null(unresolved);
    }

    [Theory]
    [InlineData("nobody", "nobody")]
    [InlineData("app:nogroup", "nogroup")]
    [InlineData("1000:nogroup", "nogroup")]
    public void Unknown_names_are_reported(string spec, string name)
    {
        Assert.False(PasswdDatabase.Parse(Passwd, Group).TryResolveOwner(spec, out _, out _, out var unresolved));
        Assert.Equal(name, unresolved);
    }
}
