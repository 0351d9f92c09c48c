using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace OciKit.Execution;

/// <summary>
/// The user and group names of an image, read from its own <c>/etc/passwd</c> and <c>/etc/group</c>, for
/// <c>COPY --chown=name:group</c> and friends, and for the user a container process runs as
/// (<see cref="ResolveExecUser"/>). Never the host's: names resolve inside the image, as Docker does.
/// </summary>
/// <remarks>
/// Parsing follows <c>moby/sys/user</c>, which BuildKit uses: lines are trimmed, blank lines skipped, fields split on
/// <c>:</c> (<c>name:password:uid:gid:…</c> and <c>name:password:gid:members</c>), an unparsable number reads as 0,
/// and the first line with a name wins. Lines starting with <c>#</c> are skipped as well (they name no user).
/// </remarks>
internal sealed class PasswdDatabase
{
    private readonly Dictionary<string, (int Uid, int Gid)> _users;
    private readonly Dictionary<string, int> _groups;
    private readonly List<PasswdEntry> _userLines;
    private readonly List<(string Name, int Gid, string[] Members)> _groupLines;

    private PasswdDatabase(Dictionary<string, (int Uid, int Gid)> users, Dictionary<string, int> groups, List<PasswdEntry> userLines, List<(string, int, string[])> groupLines)
    {
        _users = users;
        _groups = groups;
        _userLines = userLines;
        _groupLines = groupLines;
    }

    /// <summary>A database with no users and no groups (an image without <c>/etc/passwd</c>).</summary>
    public static PasswdDatabase Empty { get; } = Parse(null, null);

    /// <summary>Parses the text of <c>/etc/passwd</c> and <c>/etc/group</c>; either may be missing.</summary>
    /// <param name="passwdText">The content of <c>/etc/passwd</c>, or <see langword="null"/> when the image has none.</param>
    /// <param name="groupText">The content of <c>/etc/group</c>, or <see langword="null"/> when the image has none.</param>
    /// <returns>The database.</returns>
    public static PasswdDatabase Parse(string? passwdText, string? groupText)
    {
        var users = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        var userLines = new List<PasswdEntry>();
        foreach (var fields in Lines(passwdText))
        {
            // name:password:uid:gid:gecos:home:shell
            users.TryAdd(fields[0], (Number(fields, 2), Number(fields, 3)));
            userLines.Add(new PasswdEntry(fields[0], Number(fields, 2), Number(fields, 3), fields.Length > 5 ? fields[5] : ""));
        }

        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        var groupLines = new List<(string, int, string[])>();
        foreach (var fields in Lines(groupText))
        {
            // name:password:gid:members
            groups.TryAdd(fields[0], Number(fields, 2));
            var members = fields.Length > 3 ? fields[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            groupLines.Add((fields[0], Number(fields, 2), members));
        }

        return new PasswdDatabase(users, groups, userLines, groupLines);
    }

    /// <summary>Looks a user up by name.</summary>
    /// <param name="name">The user name.</param>
    /// <param name="uid">The user's id.</param>
    /// <param name="primaryGid">The user's primary group id (the gid <c>--chown=name</c> uses when no group is given).</param>
    /// <returns>Whether the image has the user.</returns>
    public bool TryResolveUser(string name, out int uid, out int primaryGid)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_users.TryGetValue(name, out var user))
        {
            (uid, primaryGid) = user;
            return true;
        }

        uid = primaryGid = 0;
        return false;
    }

    /// <summary>Looks a group up by name.</summary>
    /// <param name="name">The group name.</param>
    /// <param name="gid">The group's id.</param>
    /// <returns>Whether the image has the group.</returns>
    public bool TryResolveGroup(string name, out int gid)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _groups.TryGetValue(name, out gid);
    }

    /// <summary>
    /// Resolves a <c>--chown</c> (or <c>USER</c>) value, <c>user[:group]</c>, each part numeric or a name, as
    /// BuildKit does: a numeric user without a group takes its uid as gid; a named user without a group takes its
    /// primary gid from <c>/etc/passwd</c>; an empty user part means root.
    /// </summary>
    /// <param name="spec">The value as written, for example <c>app</c>, <c>1000:1000</c> or <c>app:staff</c>.</param>
    /// <param name="uid">The resolved user id.</param>
    /// <param name="gid">The resolved group id.</param>
    /// <param name="unresolved">The name that the image does not know, when resolution fails.</param>
    /// <returns>Whether both parts resolved.</returns>
    public bool TryResolveOwner(string spec, out int uid, out int gid, [NotNullWhen(false)] out string? unresolved)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var userPart = colon >= 0 ? spec[..colon] : spec;
        var groupPart = colon >= 0 ? spec[(colon + 1)..] : null;
        uid = gid = 0;
        unresolved = null;
        int primaryGid;
        if (userPart.Length == 0)
        {
            primaryGid = 0;
        }
        else if (TryParseId(userPart, out uid))
        {
            primaryGid = uid;
        }
        else if (!TryResolveUser(userPart, out uid, out primaryGid))
        {
            unresolved = userPart;
            return false;
        }

        if (string.IsNullOrEmpty(groupPart))
        {
            gid = primaryGid;
            return true;
        }

        if (TryParseId(groupPart, out gid) || TryResolveGroup(groupPart, out gid))
        {
            return true;
        }

        unresolved = groupPart;
        return false;
    }

    /// <summary>
    /// Resolves the user a container process runs as, <c>user[:group]</c>, as image-spec's <c>conversion.md</c> asks
    /// (the <c>User</c> field: "name or UID, and optionally group name or GID", resolved in the image's own files) and
    /// with the rules runc and Docker apply (moby/sys/user's exec-user lookup): an empty user is root; a name or uid is
    /// looked up in <c>/etc/passwd</c> (first match wins), a uid without an entry runs with gid 0 and home <c>/</c>, a
    /// name without one is an error; an explicit group is looked up by name or gid in <c>/etc/group</c> (a gid
    /// without an entry is used as is); without an explicit group, the groups listing the user as a member become its
    /// supplementary groups.
    /// </summary>
    /// <param name="spec">The <c>USER</c> value, for example <c>""</c>, <c>app</c>, <c>1000</c>, <c>app:staff</c> or <c>1000:50</c>.</param>
    /// <param name="error">Docker's wording of why it does not resolve, when it does not.</param>
    /// <returns>The resolved user, or <see langword="null"/> with <paramref name="error"/> set.</returns>
    public ExecUser? ResolveExecUser(string spec, out string? error)
    {
        ArgumentNullException.ThrowIfNull(spec);
        error = null;
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var userPart = colon >= 0 ? spec[..colon] : spec;
        var groupPart = colon >= 0 ? spec[(colon + 1)..] : "";
        var numericUser = TryParseId(userPart, out var uid);
        PasswdEntry? entry;
        if (userPart.Length == 0)
        {
            entry = _userLines.FirstOrDefault(u => u.Uid == 0);
        }
        else
        {
            entry = _userLines.FirstOrDefault(u => u.Name == userPart || (numericUser && u.Uid == uid));
            if (entry is null && !numericUser)
            {
                error = $"unable to find user {userPart}: no matching entries in passwd file";
                return null;
            }
        }

        uid = entry?.Uid ?? uid;
        var gid = entry?.Gid ?? 0;
        var home = string.IsNullOrEmpty(entry?.Home) ? "/" : entry.Home;
        var supplementary = new List<int>();
        if (groupPart.Length > 0)
        {
            var numericGroup = TryParseId(groupPart, out var groupId);
            var group = _groupLines.FirstOrDefault(g => g.Name == groupPart || (numericGroup && g.Gid == groupId));
            if (group.Name is null && !numericGroup)
            {
                error = $"unable to find group {groupPart}: no matching entries in group file";
                return null;
            }

            gid = group.Name is null ? groupId : group.Gid;
        }
        else if (entry is not null)
        {
            foreach (var group in _groupLines)
            {
                if (group.Gid != gid && !supplementary.Contains(group.Gid) && group.Members.Contains(entry.Name, StringComparer.Ordinal))
                {
                    supplementary.Add(group.Gid);
                }
            }
        }

        return new ExecUser(uid, gid, supplementary, home);
    }

    private static bool TryParseId(string text, out int id) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id);

    private static IEnumerable<string[]> Lines(string? text)
    {
        if (text is null)
        {
            yield break;
        }

        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var fields = line.Split(':');
            if (fields[0].Length > 0)
            {
                yield return fields;
            }
        }
    }

    private static int Number(string[] fields, int index)
        => index < fields.Length && int.TryParse(fields[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
}

/// <summary>One line of <c>/etc/passwd</c>: what a process needs of it.</summary>
internal sealed record PasswdEntry(string Name, int Uid, int Gid, string Home);

/// <summary>The ids a container process runs with and its home directory (for <c>HOME</c>).</summary>
/// <param name="Uid">The user id.</param>
/// <param name="Gid">The primary group id.</param>
/// <param name="AdditionalGids">Supplementary group ids from <c>/etc/group</c> membership.</param>
/// <param name="Home">The home directory from <c>/etc/passwd</c>, <c>/</c> when none.</param>
internal sealed record ExecUser(int Uid, int Gid, IReadOnlyList<int> AdditionalGids, string Home);
