using OciKit.IntegrationTests.Cli;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.Signing;

/// <summary>
/// <c>build --policy</c> and <c>--default-policy</c> against the harness registry: a <c>FROM</c> or
/// <c>COPY --from=IMAGE</c> base pulled from the registry must satisfy the policy (the signer's key and
/// <c>insecureAcceptAnything</c> accept; another key, <c>reject</c> and a missing signature refuse), a refusal names the
/// Dockerfile line, the image and the scope, and nothing of the refused image reaches the store.
/// </summary>
[Collection(RegistryCollection.Name)]
public class PolicyBuildTests(RegistryFixture fixture)
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "OciKit.Cli.dll");

    private string Host => fixture.Registry.Host;

    [Fact]
    public async Task From_obeys_each_requirement_kind_and_a_refusal_names_the_line_and_stores_nothing()
    {
        using var dir = new TempDir();
        var signed = await PushAndSignAsync(dir, "policy-build-from");
        var unsigned = $"{Host}/signing/policy-build-unsigned:v1";
        await BusyboxImage.PushAsync(fixture.Registry, "signing/policy-build-unsigned", "v1");
        (await new CliRun(dir).RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("other"))).Succeeded();
        var signer = WritePolicy(dir, "signer.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("signer.pub")}}"}]}""");
        var other = WritePolicy(dir, "other.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("other.pub")}}"}]}""");
        var reject = WritePolicy(dir, "reject.json", $$$$"""{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"{{{{Host}}}}/signing":[{"type":"reject"}]}}}""");
        var open = WritePolicy(dir, "open.json", """{"default":[{"type":"insecureAcceptAnything"}]}""");

        // Refusals first, each into a fresh store: nothing of the image is stored, the message names line, image and scope.
        await RefusedAsync(dir, "other", other, signed, "is not by key");
        await RefusedAsync(dir, "reject", reject, signed, $"scope transports.docker[\"{Host}/signing\"]: it rejects every image");
        await RefusedAsync(dir, "unsigned", signer, unsigned, "it has no signatures");

        // The signer's key accepts the signed base, insecureAcceptAnything the unsigned one; both are pulled and built on.
        using (var accepted = new TempDir())
        {
            var cli = new CliRun(accepted);
            var context = Context(accepted, $"FROM {signed}\nLABEL checked=yes\n");
            var built = (await cli.RunAsync("--quiet", "build", "--policy", signer, "-t", "accepted:1", context)).Succeeded();
            Assert.Matches("^sha256:[0-9a-f]{64}$", built.LastLine);
            Assert.Equal(fixture.BaseDigest, (await cli.RunAsync("digest", signed)).Succeeded().LastLine);

            var openContext = Context(accepted, $"FROM {unsigned}\n", "open");
            (await cli.RunAsync("--quiet", "build", "--policy", open, "-t", "open:1", openContext)).Succeeded();
        }
    }

    [Fact]
    public async Task Copy_from_an_image_obeys_the_policy_and_the_default_policy_is_read_from_home()
    {
        using var dir = new TempDir();
        var signed = await PushAndSignAsync(dir, "policy-build-copy");
        var signer = WritePolicy(dir, "signer.json", $$"""{"default":[{"type":"sigstoreSigned","keyPath":"{{dir.Combine("signer.pub")}}"}]}""");
        var reject = WritePolicy(dir, "reject.json", """{"default":[{"type":"reject"}]}""");
        var dockerfile = $"FROM scratch\nCOPY --from={signed} /bin/busybox /busybox\n";

        using (var refused = new TempDir())
        {
            var cli = new CliRun(refused);
            (await cli.RunAsync("--quiet", "build", "--policy", reject, "-t", "copied:1", Context(refused, dockerfile)))
                .FailedWith(1, $"Dockerfile:2: base image '{signed}' is refused by the trust policy {reject}: scope default: it rejects every image");
            AssertNoBlobs(cli.Store);
        }

        using (var accepted = new TempDir())
        {
            var cli = new CliRun(accepted);
            (await cli.RunAsync("--quiet", "build", "--policy", signer, "-t", "copied:1", Context(accepted, dockerfile))).Succeeded();
        }

        // --default-policy reads $HOME/.config/containers/policy.json (the built tool as a process, so HOME is its own).
        using var home = new TempDir();
        var environment = new Dictionary<string, string?> { ["OCIKIT_STORE"] = home.Combine("store"), ["DOCKER_CONFIG"] = home.Combine("docker"), ["HOME"] = home.Path };
        var userPolicy = home.Combine(".config", "containers", "policy.json");
        Directory.CreateDirectory(Path.GetDirectoryName(userPolicy)!);
        File.Copy(reject, userPolicy);
        var run = await Tool.RunAsync("dotnet", [Cli, "--quiet", "build", "--default-policy", "-t", "copied:1", Context(home, dockerfile)], environment);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"is refused by the trust policy {userPolicy}: scope default", run.StdErr, StringComparison.Ordinal);
        AssertNoBlobs(home.Combine("store"));

        // Both options at once is a caller error before anything happens.
        (await new CliRun(home).RunAsync("--quiet", "build", "--default-policy", "--policy", reject, Context(home, dockerfile))).FailedWith(1, "give one");
    }

    private async Task RefusedAsync(TempDir dir, string name, string policy, string image, string reason)
    {
        using var store = new TempDir();
        var cli = new CliRun(store);
        var context = Context(dir, $"# refused by {name}\nFROM {image}\n", name);
        var result = await cli.RunAsync("--quiet", "build", "--policy", policy, "-t", name + ":1", context);
        result.FailedWith(1, $"Dockerfile:2: base image '{image}' is refused by the trust policy {policy}: scope ");
        Assert.Contains(reason, result.StdErr, StringComparison.Ordinal);
        AssertNoBlobs(cli.Store);
        Assert.DoesNotContain(name, (await cli.RunAsync("images")).Succeeded().StdOut, StringComparison.Ordinal);
    }

    private async Task<string> PushAndSignAsync(TempDir dir, string name)
    {
        var repository = $"signing/{name}";
        await BusyboxImage.PushAsync(fixture.Registry, repository, "v1");
        var image = $"{Host}/{repository}:v1";
        var cli = new CliRun(dir);
        (await cli.RunAsync("key", "generate", "--type", "ed25519", "--out", dir.Combine("signer"))).Succeeded();
        (await cli.RunAsync("sign", "--key", dir.Combine("signer.key"), image)).Succeeded();
        return image;
    }

    private static string Context(TempDir dir, string dockerfile, string name = "context")
    {
        var context = dir.Combine(name);
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        return context;
    }

    // The store may exist (the build opens it), but no blob of the refused image may be in it.
    private static void AssertNoBlobs(string store)
    {
        var blobs = Path.Combine(store, "blobs");
        Assert.False(Directory.Exists(blobs) && Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories).Any(), $"a refused build stored blobs in {store}");
    }

    private static string WritePolicy(TempDir dir, string name, string json)
    {
        var path = dir.Combine(name);
        File.WriteAllText(path, json);
        return path;
    }
}
