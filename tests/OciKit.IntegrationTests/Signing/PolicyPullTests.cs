using System.Security.Cryptography;
using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Signing;

/// <summary>
/// <c>--policy</c> on pull and copy against the harness registry: busybox signed by <c>ocikit sign</c> is accepted with
/// the signer's key and by <c>insecureAcceptAnything</c>, refused with another key and by <c>reject</c>, and a refusal
/// exits 1 with one line and leaves the store (and a copy's destination) exactly as it was.
/// </summary>
[Collection(RegistryCollection.Name)]
public class PolicyPullTests(RegistryFixture fixture)
{
    private string Host => fixture.Registry.Host;

    [Fact]
    public async Task Pull_is_accepted_with_the_signers_key_and_refused_with_another_leaving_the_store_unchanged()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var image = await PushAndSignAsync(cli, dir, "policy-key");
        (await cli.RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("other"))).Succeeded();
        var signer = WritePolicy(dir, "signer.json", $$$$"""{"default":[{"type":"reject"}],"transports":{"docker":{"{{{{Host}}}}/signing":[{"type":"sigstoreSigned","keyPath":"{{{{dir.Combine("signer.pub")}}}}"}]}}}""");
        var other = WritePolicy(dir, "other.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("other.pub")}}"}]}""");

        var pulled = (await cli.RunAsync("pull", "--policy", signer, image)).Succeeded();
        Assert.Equal(fixture.BaseDigest, pulled.LastLine);
        Assert.Equal(["v1"], await TagsInStoreAsync(cli, $"{Host}/signing/policy-key-ed25519"));

        // A second image under the same key is refused by another key's policy; nothing of it is stored.
        var second = $"{Host}/signing/policy-key-ed25519:v2";
        await BusyboxImage.PushAsync(fixture.Registry, "signing/policy-key-ed25519", "v2");
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), second)).Succeeded();
        var before = Snapshot(cli.Store);
        (await cli.RunAsync("pull", "--policy", other, second)).FailedWith(1, "is not by key");
        Assert.Equal(before, Snapshot(cli.Store));
        Assert.Equal(["v1"], await TagsInStoreAsync(cli, $"{Host}/signing/policy-key-ed25519"));
    }

    [Fact]
    public async Task Reject_refuses_naming_the_scope_and_insecure_accept_anything_accepts_an_unsigned_image()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        await BusyboxImage.PushAsync(fixture.Registry, "signing/policy-unsigned", "v1");
        var image = $"{Host}/signing/policy-unsigned:v1";
        var reject = WritePolicy(dir, "reject.json", $$$$"""{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"{{{{Host}}}}/signing/policy-unsigned":[{"type":"reject"}]}}}""");
        var open = WritePolicy(dir, "open.json", """{"default":[{"type":"insecureAcceptAnything"}]}""");

        (await cli.RunAsync("pull", "--policy", reject, image)).FailedWith(1, $"scope transports.docker[\"{Host}/signing/policy-unsigned\"]: it rejects every image");
        Assert.False(Directory.Exists(cli.Store) && Directory.EnumerateFileSystemEntries(cli.Store).Any(), "a refused pull stored something");

        var pulled = (await cli.RunAsync("pull", "--policy", open, image)).Succeeded();
        Assert.Equal(fixture.BaseDigest, pulled.LastLine);

        // An unsigned image under a sigstoreSigned default is refused.
        (await cli.RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("k"))).Succeeded();
        var signed = WritePolicy(dir, "signed.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("k.pub")}}"}]}""");
        (await cli.RunAsync("pull", "--policy", signed, image)).FailedWith(1, "it has no signatures");
    }

    [Fact]
    public async Task Copy_checks_the_policy_before_writing_the_destination()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var image = await PushAndSignAsync(cli, dir, "policy-copy");
        var signer = WritePolicy(dir, "signer.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("signer.pub")}}"}]}""");
        var reject = WritePolicy(dir, "reject.json", """{"default":[{"type":"reject"}]}""");

        var refusedLayout = dir.Combine("refused");
        (await cli.RunAsync("copy", "--policy", reject, "docker://" + image, "oci:" + refusedLayout + ":v1")).FailedWith(1, "scope default: it rejects every image");
        Assert.False(Directory.Exists(refusedLayout));

        var layout = dir.Combine("accepted");
        var copied = (await cli.RunAsync("copy", "--policy", signer, "docker://" + image, "oci:" + layout + ":v1")).Succeeded();
        Assert.Equal(fixture.BaseDigest, copied.LastLine);

        // A docker-archive named after the source keeps the tag the caller gave, not the digest the policy pinned.
        var archive = dir.Combine("busybox.tar");
        (await cli.RunAsync("copy", "--policy", signer, "docker://" + image, "docker-archive:" + archive)).Succeeded();
        var manifest = await Tool.RunCheckedAsync("tar", ["-xOf", archive, "manifest.json"]);
        Assert.Contains($"\"RepoTags\":[\"{image}\"]", manifest.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_policy_file_is_one_line_naming_the_file_and_a_policy_for_a_local_source_is_refused()
    {
        using var dir = new TempDir();
        var cli = new CliRun(dir);
        var bad = WritePolicy(dir, "bad.json", """{"default":[{"type":"trustMe"}]}""");
        (await cli.RunAsync("pull", "--policy", bad, $"{Host}/signing/never:v1")).FailedWith(1, $"{bad}: default[0] has an unknown type 'trustMe'");
        (await cli.RunAsync("copy", "--policy", bad, "oci:" + dir.Combine("layout") + ":v1", "oci:" + dir.Combine("out") + ":v1")).FailedWith(1, "--policy applies to registry sources");
        Assert.False(Directory.Exists(dir.Combine("out")));
    }

    private async Task<string> PushAndSignAsync(CliRun cli, TempDir dir, string name)
    {
        var repository = $"signing/{name}-ed25519";
        await BusyboxImage.PushAsync(fixture.Registry, repository, "v1");
        var image = $"{Host}/{repository}:v1";
        (await cli.RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), image)).Succeeded();
        return image;
    }

    // The tags `ocikit images` lists for a repository (its REPOSITORY and TAG columns).
    private static async Task<string[]> TagsInStoreAsync(CliRun cli, string repository)
        => [.. (await cli.RunAsync("images")).Succeeded().StdOut.Split('\n')
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(columns => columns.Length > 1 && columns[0] == repository)
            .Select(columns => columns[1])];

    private static string WritePolicy(TempDir dir, string name, string json)
    {
        var path = dir.Combine(name);
        File.WriteAllText(path, json);
        return path;
    }

    // Every file under the store with its content hash, so "unchanged" means byte for byte.
    private static SortedDictionary<string, string> Snapshot(string store)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories))
        {
            files[Path.GetRelativePath(store, file)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        }

        return files;
    }
}
