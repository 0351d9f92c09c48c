using System.Text.Json;
using OciKit.IntegrationTests.Harness;

namespace OciKit.IntegrationTests.MSBuild;

/// <summary>
/// <c>dotnet publish -t:OciPublish</c> with the packed OciKit.MSBuild package on the two samples, against the test
/// registry, and the results run with podman.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class OciPublishTests(RegistryFixture registry, OciPublishFixture fixture) : IClassFixture<OciPublishFixture>
{
    private const string ConsoleRepository = "samples/console-app";

    [Fact]
    public async Task Console_app_publishes_runs_and_a_code_change_pushes_only_the_app_layer()
    {
        var host = registry.Registry.Host;
        var (_, digest1) = await fixture.PublishAsync("console-app", registry);
        var image = $"{host}/{ConsoleRepository}:1.0.0";

        var output = await fixture.Containers.RunFromRegistryAsync(image, []);
        Assert.Equal("Hello from a container (v1) as app in /app; args: --from-image", output.Trim());

        var (manifest1, config1) = await ReadImageAsync(ConsoleRepository, digest1);
        var config = config1.RootElement.GetProperty("config");
        Assert.Contains("GREETING=Hello from a container", Strings(config.GetProperty("Env")));
        Assert.Equal("app", config.GetProperty("User").GetString());
        Assert.Equal("/app", config.GetProperty("WorkingDir").GetString());
        Assert.Equal(["/app/console-app"], Strings(config.GetProperty("Entrypoint")));
        Assert.Equal(["--from-image"], Strings(config.GetProperty("Cmd")));
        var labels = config.GetProperty("Labels");
        Assert.Equal("OciKit console sample", labels.GetProperty("org.opencontainers.image.title").GetString());
        Assert.Equal("2023-11-14T22:13:20Z", labels.GetProperty("org.opencontainers.image.created").GetString());
        var baseImage = await fixture.BaseImageAsync(registry);
        Assert.Equal(baseImage, labels.GetProperty("org.opencontainers.image.base.name").GetString());
        var baseManifest = await GetAsync($"base/dotnet/manifests/10");
        Assert.Equal(JsonDocument.Parse(baseManifest).RootElement.GetProperty("layers").GetArrayLength() + 2, Layers(manifest1).Length);
        Assert.StartsWith("sha256:", labels.GetProperty("org.opencontainers.image.base.digest").GetString(), StringComparison.Ordinal);

        // The second tag names the same image.
        Assert.Equal(digest1, await ManifestDigestAsync(ConsoleRepository, "latest"));

        // A one-line code change: only the app layer (and the new config) is uploaded.
        var program = Path.Combine(fixture.WorkDirectory, "console-app", "Program.cs");
        await File.WriteAllTextAsync(program, (await File.ReadAllTextAsync(program)).Replace("\"v1\"", "\"v2\"", StringComparison.Ordinal));
        var uploadsBefore = Uploads();
        var (second, digest2) = await fixture.PublishAsync("console-app", registry, "-v:d");
        Assert.NotEqual(digest1, digest2);

        // Compiled anew, so the host started ahead opened the push's upload sessions while the publish went on.
        Assert.Contains("OciKit: the project was compiled anew: the host started ahead opens its upload sessions", second.StdOut, StringComparison.Ordinal);
        var (manifest2, _) = await ReadImageAsync(ConsoleRepository, digest2);
        var layers1 = Layers(manifest1);
        var layers2 = Layers(manifest2);
        Assert.Equal(layers1[..^1], layers2[..^1]);
        Assert.NotEqual(layers1[^1], layers2[^1]);
        Assert.Equal(2, Uploads() - uploadsBefore); // the app layer and the config
        Assert.Contains("(v2)", await fixture.Containers.RunFromRegistryAsync(image, []), StringComparison.Ordinal);

        // No change: the same digest, nothing uploaded, no manifest put.
        var uploadsBeforeThird = Uploads();
        var manifestPuts = registry.Registry.CountRequests("PUT", $"/v2/{ConsoleRepository}/manifests/");
        var sessions = registry.Registry.CountRequests("POST", $"/v2/{ConsoleRepository}/blobs/uploads/");
        var (third, digest3) = await fixture.PublishAsync("console-app", registry, "-v:d");
        Assert.Equal(digest2, digest3);
        Assert.DoesNotContain("the project was compiled anew", third.StdOut, StringComparison.Ordinal);
        Assert.Equal(sessions, registry.Registry.CountRequests("POST", $"/v2/{ConsoleRepository}/blobs/uploads/")); // none opened, none left behind
        Assert.Equal(uploadsBeforeThird, Uploads());
        Assert.Equal(manifestPuts, registry.Registry.CountRequests("PUT", $"/v2/{ConsoleRepository}/manifests/"));
        Assert.Contains("Skipping target \"_OciKitContainerize\"", third.StdOut, StringComparison.Ordinal);

        // Forced to run again, the task rebuilds the same image bytes: same digest, no upload; in the out-of-process host
        // (the default, as above) and in process (OciKitOutOfProcess=false) alike.
        foreach (var outOfProcess in new[] { true, false })
        {
            var (fourth, digest4) = await fixture.PublishAsync("console-app", registry, "-v:d", "-p:OciPublishForce=true", $"-p:OciKitOutOfProcess={outOfProcess}");
            Assert.Equal(digest2, digest4);
            Assert.True(fourth.StdOut.Contains("0 blob(s) uploaded", StringComparison.Ordinal), fourth.StdOut[^Math.Min(fourth.StdOut.Length, 6000)..]);
            Assert.Equal(uploadsBeforeThird, Uploads());
            Assert.DoesNotContain("Skipping target \"_OciKitContainerize\"", fourth.StdOut, StringComparison.Ordinal);
            Assert.Equal(outOfProcess, fourth.StdOut.Contains("OciKit: running out of process", StringComparison.Ordinal));

            // Out of process, in the host started at the publish's beginning, which had read the registry meanwhile.
            Assert.Equal(outOfProcess, fourth.StdOut.Contains("OciKit: running out of process, in the host started ahead: ", StringComparison.Ordinal));
            Assert.Equal(outOfProcess, fourth.StdOut.Contains("OciKit: the host started ahead readied the client, the store and the registry reads", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_publish_that_fails_to_compile_leaves_no_host_started_ahead_running()
    {
        // A store of its own, so that the hosts started ahead for this publish are told apart from other tests'.
        var store = Path.Combine(fixture.WorkDirectory, "store-" + Guid.NewGuid().ToString("N"));
        var program = Path.Combine(fixture.WorkDirectory, "console-app", "Program.cs");
        var source = await File.ReadAllTextAsync(program);
        await File.WriteAllTextAsync(program, source + "\nthis does not compile\n");
        try
        {
            var result = await fixture.RunPublishAsync("console-app", "OciPublish", registry, [$"-p:OciKitStorePath={store}", "-v:d"], check: false);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("OciKit: starting the out-of-process host ahead of its job", result.StdOut, StringComparison.Ordinal);
            var running = Directory.EnumerateDirectories("/proc").Select(p => Path.Combine(p, "cmdline")).Where(File.Exists)
                .Select(f => { try { return File.ReadAllText(f).Replace('\0', ' '); } catch (IOException) { return ""; } })
                .Where(c => c.Contains("ocikit-msbuild-host --wait", StringComparison.Ordinal) && c.Contains("store=" + store, StringComparison.Ordinal))
                .ToList();
            Assert.True(running.Count == 0, $"a host started ahead is still running: {string.Join(", ", running)}");
        }
        finally
        {
            await File.WriteAllTextAsync(program, source);
        }
    }

    [Fact]
    public async Task Several_ContainerRuntimeIdentifiers_publish_one_image_index_that_runs_on_this_platform()
    {
        const string Repository = "samples/console-multi";
        var baseImage = await fixture.MultiPlatformBaseImageAsync(registry);
        var (_, digest) = await fixture.PublishAsync(
            "console-app-multi",
            registry,
            "-p:ContainerRuntimeIdentifiers=\"linux-x64;linux-arm64\"",
            "-p:RuntimeIdentifiers=\"linux-x64;linux-arm64\"",
            "-p:UseAppHost=false",
            $"-p:ContainerRepository={Repository}",
            $"-p:ContainerBaseImage={baseImage}");

        var index = JsonDocument.Parse(await GetAsync($"{Repository}/manifests/{digest}", "application/vnd.oci.image.index.v1+json")).RootElement;
        Assert.Equal("application/vnd.oci.image.index.v1+json", index.GetProperty("mediaType").GetString());
        var platforms = index.GetProperty("manifests").EnumerateArray()
            .Select(m => m.GetProperty("platform")).Select(p => p.GetProperty("os").GetString() + "/" + p.GetProperty("architecture").GetString()).ToArray();
        Assert.Equal(["linux/amd64", "linux/arm64"], platforms);
        foreach (var entry in index.GetProperty("manifests").EnumerateArray())
        {
            var (_, config) = await ReadImageAsync(Repository, entry.GetProperty("digest").GetString()!);
            Assert.Equal(entry.GetProperty("platform").GetProperty("architecture").GetString(), config.RootElement.GetProperty("architecture").GetString());
            Assert.Equal(["dotnet", "/app/console-app.dll"], Strings(config.RootElement.GetProperty("config").GetProperty("Entrypoint")));
        }

        var output = await fixture.Containers.RunFromRegistryAsync($"{registry.Registry.Host}/{Repository}:1.0.0", []);
        Assert.StartsWith("Hello from a container (v1)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fresh_agent_publishing_the_unchanged_self_contained_app_takes_its_runtime_layer_from_the_registry_cache()
    {
        // Two agents (two stores), the cache in the target repository itself.
        const string Repository = "samples/console-cached";
        using var agents = new TempDir("ocikit-agents");
        string[] common = ["-r", "linux-x64", "--self-contained", $"-p:ContainerRepository={Repository}", $"-p:ContainerCacheRepository={Repository}", "-v:n"];
        var (first, digest1) = await fixture.PublishAsync("console-app", registry, [.. common, $"-p:OciKitStorePath={agents.Combine("one")}"]);
        Assert.Matches(@$"Cache {System.Text.RegularExpressions.Regex.Escape(registry.Registry.Host)}/{Repository}:ocikit-cache: \d+ record\(s\) written", first.StdOut);
        var uploads = registry.Registry.CountRequests("PUT", $"/v2/{Repository}/blobs/uploads/");

        // The second agent hashes the files, finds the runtime layer's record (it compresses no runtime) and writes only
        // the small layers (left out of the cache: the app's), the same bytes; it uploads none.
        var (second, digest2) = await fixture.PublishAsync("console-app", registry, [.. common, $"-p:OciKitStorePath={agents.Combine("two")}"]);
        Assert.Equal(digest1, digest2);
        var layers = second.StdOut.Split('\n').Where(l => l.Contains("Layer ", StringComparison.Ordinal) && l.Contains(" → sha256:", StringComparison.Ordinal)).ToList();
        Assert.True(layers.Count >= 3, second.StdOut); // the runtime, the package and the app
        var reused = $"(unchanged, reused from {registry.Registry.Host}/{Repository}:ocikit-cache)";
        Assert.Contains(layers, l => l.Contains("Layer Runtime: ", StringComparison.Ordinal) && l.Contains(reused, StringComparison.Ordinal));
        Assert.Contains(layers, l => l.Contains("Layer App: ", StringComparison.Ordinal) && !l.Contains("reused", StringComparison.Ordinal));
        Assert.Contains("0 blob(s) uploaded", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(uploads, registry.Registry.CountRequests("PUT", $"/v2/{Repository}/blobs/uploads/"));
        Assert.False(Directory.Exists(Path.Combine(agents.Combine("two"), "blobs", "sha256")) && Directory.EnumerateFiles(Path.Combine(agents.Combine("two"), "blobs", "sha256")).Any(f => new FileInfo(f).Length > 1024 * 1024),
            "the second agent's store holds a layer it should have left in the registry");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_missing_base_image_fails_with_a_coded_error(bool outOfProcess)
    {
        var result = await fixture.RunPublishAsync(
            Path.Combine("web-app", "WebApp"), "OciPublish", registry, [$"-p:ContainerBaseImage={registry.Registry.Host}/base/missing:1", $"-p:OciKitOutOfProcess={outOfProcess}"], check: false);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Matches(@"error OCIK0004: .*base/missing:1.*no such image", result.StdOut);
        Assert.DoesNotContain("MSB4018", result.StdOut, StringComparison.Ordinal); // no unhandled task exception
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Credentials_come_from_the_docker_config_in_the_environment_in_either_mode(bool outOfProcess)
    {
        // A token registry that lets only RegistryServer.User push; the credentials are in a config.json that only the
        // publish's environment names (DOCKER_CONFIG), so the out-of-process host must resolve them as the task does.
        await using var tokenRegistry = await RegistryServer.StartTokenAsync();
        using var home = new TempDir();
        var auth = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}"));
        Directory.CreateDirectory(home.Combine("docker"));
        await File.WriteAllTextAsync(home.Combine("docker", "config.json"), JsonSerializer.Serialize(new Dictionary<string, Dictionary<string, Dictionary<string, string>>> { ["auths"] = new() { [tokenRegistry.Host] = new() { ["auth"] = auth } } }));

        var (result, digest) = await fixture.PublishAsync(
            "console-app",
            registry,
            [$"-p:ContainerRegistry={tokenRegistry.Host}", "-p:ContainerRepository=samples/console-token", $"-p:OciKitOutOfProcess={outOfProcess}", "-p:OciPublishForce=true", "-v:d"],
            new Dictionary<string, string?> { ["DOCKER_CONFIG"] = home.Combine("docker") });

        Assert.StartsWith("sha256:", digest, StringComparison.Ordinal);
        Assert.True(tokenRegistry.CountRequests("PUT", "/v2/samples/console-token/manifests/") > 0, "no manifest was pushed to the token registry");
        Assert.DoesNotContain(RegistryServer.Password, result.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain(auth, result.StdOut, StringComparison.Ordinal);
        Assert.Equal(outOfProcess, result.StdOut.Contains("OciKit: running out of process", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_registry_refusing_the_uploads_fails_with_a_coded_error_and_no_manifest()
    {
        // Layers go up while they are built; the registry refuses every upload, the early ones and the push's retries.
        using var proxy = new FaultProxy(registry.Registry.BaseUri);
        proxy.Add("PATCH", "/blobs/uploads/", new Fault.Status(400), times: 100);
        proxy.Add("PUT", "/blobs/uploads/", new Fault.Status(400), times: 100);

        var result = await fixture.RunPublishAsync(
            "console-app", "OciPublish", registry, [$"-p:ContainerRegistry={proxy.Host}", "-p:ContainerRepository=samples/refused"], check: false);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Matches(@"error OCIK0002: ", result.StdOut);
        Assert.DoesNotContain("MSB4018", result.StdOut, StringComparison.Ordinal); // no unhandled task exception
        Assert.Contains(proxy.Requests, r => r.Method == "PATCH");
        Assert.DoesNotContain(proxy.Requests, r => r.Method == "PUT" && r.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_sdks_own_PublishContainer_keeps_working_beside_OciPublish()
    {
        await fixture.RunPublishAsync("console-app", "PublishContainer", registry, ["-p:EnableSdkContainerSupport=true", "-p:ContainerRepository=samples/console-app-sdk"]);

        var digest = await ManifestDigestAsync("samples/console-app-sdk", "1.0.0");
        var (_, config) = await ReadImageAsync("samples/console-app-sdk", digest);
        Assert.Contains(Strings(config.RootElement.GetProperty("config").GetProperty("Entrypoint")), e => e.StartsWith("/app/console-app", StringComparison.Ordinal));
        var output = await fixture.Containers.RunFromRegistryAsync($"{registry.Registry.Host}/samples/console-app-sdk:1.0.0", []);
        Assert.StartsWith("Hello from a container", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Web_app_publishes_with_its_project_reference_in_a_layer_of_its_own_and_serves_http()
    {
        const string Repository = "samples/web-app";
        var (_, digest) = await fixture.PublishAsync(Path.Combine("web-app", "WebApp"), registry, "-p:ContainerLabel=team=web", "-p:ContainerUser=app");

        var output = await fixture.Containers.RunFromRegistryAsync($"{registry.Registry.Host}/{Repository}:latest", ["--probe"]);
        Assert.Contains("GET / -> Hello, web, from OciKit", output, StringComparison.Ordinal);

        var (manifest, configJson) = await ReadImageAsync(Repository, digest);
        var config = configJson.RootElement.GetProperty("config");
        Assert.True(config.GetProperty("ExposedPorts").TryGetProperty("8080/tcp", out _));
        Assert.Contains("ASPNETCORE_HTTP_PORTS=8080", Strings(config.GetProperty("Env")));
        Assert.Equal("web", config.GetProperty("Labels").GetProperty("team").GetString());
        Assert.Equal(fixture.WebRevision, config.GetProperty("Labels").GetProperty("org.opencontainers.image.revision").GetString());
        Assert.Equal("app", config.GetProperty("User").GetString());
        Assert.Equal(["/app/WebApp"], Strings(config.GetProperty("Entrypoint")));

        // The project reference (Greetings) and the app are two layers on top of the base's.
        var history = configJson.RootElement.GetProperty("history").EnumerateArray().Select(h => h.TryGetProperty("created_by", out var c) ? c.GetString() : null).ToArray();
        Assert.Contains(history, h => h is not null && h.Contains("ProjectReferences layer (2 files)", StringComparison.Ordinal));
        Assert.Contains(history, h => h is not null && h.Contains("App layer", StringComparison.Ordinal));
        Assert.True(Layers(manifest).Length >= 3);
    }

    [Fact]
    public async Task An_ed25519_key_signs_and_an_sbom_is_attached_and_key_and_policy_failures_are_coded_without_the_passphrase()
    {
        const string Repository = "samples/console-signed";
        const string Variable = "OCIKIT_IT_SIGNING_PASSPHRASE";
        const string Passphrase = "correct horse battery staple";
        using var dir = new TempDir();
        using (var key = OciKit.Signing.SigningKey.Generate(OciKit.Signing.SigningKeyType.Ed25519))
        {
            await OciKit.Signing.KeyFiles.WriteAsync(key, dir.Combine("signer"), Passphrase);
        }

        string[] signing = [$"-p:ContainerRepository={Repository}", $"-p:ContainerSigningKey={dir.Combine("signer.key")}", $"-p:ContainerSigningKeyPassphraseEnvironmentVariable={Variable}"];
        var (result, digest) = await fixture.PublishAsync("console-app", registry, [.. signing, "-p:ContainerGenerateSbom=true"], new Dictionary<string, string?> { [Variable] = Passphrase });
        Assert.DoesNotContain(Passphrase, result.StdOut, StringComparison.Ordinal);
        var signatureLine = Assert.Single(result.StdOut.Split('\n'), l => l.Contains("OciPublish signature: ", StringComparison.Ordinal));
        Assert.Contains($" of {digest}", signatureLine, StringComparison.Ordinal);
        var sbomLine = Assert.Single(result.StdOut.Split('\n'), l => l.Contains("OciPublish sbom: ", StringComparison.Ordinal));

        // The signature verifies with the public key (Ed25519 through NSec's libsodium, inside MSBuild), the SBOM is attached.
        using var cliDir = new TempDir();
        var cli = new Cli.CliRun(cliDir);
        var image = $"{registry.Registry.Host}/{Repository}:1.0.0";
        (await cli.RunAsync("verify", "--key", dir.Combine("signer.pub"), image)).Succeeded();
        var signatureManifest = await ManifestDigestAsync(Repository, $"sha256-{digest["sha256:".Length..]}.sig");
        Assert.Contains(signatureManifest, signatureLine, StringComparison.Ordinal);
        var sbom = (await cli.RunAsync("sbom", "--attached", "docker://" + image)).Succeeded().StdOut;
        Assert.Contains("pkg:nuget/Polly.Core@8.6.5", sbom, StringComparison.Ordinal);
        var index = JsonDocument.Parse(await GetAsync($"{Repository}/manifests/sha256-{digest["sha256:".Length..]}", "application/vnd.oci.image.index.v1+json")).RootElement;
        var artifact = Assert.Single(index.GetProperty("manifests").EnumerateArray().ToList()).GetProperty("digest").GetString()!;
        Assert.Contains($"{artifact} of {digest}", sbomLine, StringComparison.Ordinal);

        // A wrong passphrase and a policy refusing the base are coded errors; neither message holds the passphrase. The
        // same in the out-of-process host and in process.
        var policy = dir.Combine("policy.json");
        await File.WriteAllTextAsync(policy, """{"default":[{"type":"reject"}]}""");
        foreach (var outOfProcess in new[] { true, false })
        {
            var mode = $"-p:OciKitOutOfProcess={outOfProcess}";
            var wrong = await fixture.RunPublishAsync("console-app", "OciPublish", registry, [.. signing, mode, "--no-restore", "--no-build"], check: false, new Dictionary<string, string?> { [Variable] = "not the passphrase" });
            Assert.NotEqual(0, wrong.ExitCode);
            Assert.Matches(@"error OCIK0010: .*signer\.key.*passphrase is wrong", wrong.StdOut);
            Assert.DoesNotContain("not the passphrase", wrong.StdOut, StringComparison.Ordinal);
            Assert.DoesNotContain("MSB4018", wrong.StdOut, StringComparison.Ordinal);

            var refused = await fixture.RunPublishAsync("console-app", "OciPublish", registry, [$"-p:ContainerRepository={Repository}", $"-p:ContainerTrustPolicy={policy}", mode, "--no-restore", "--no-build"], check: false);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Matches(@"error OCIK0011: Trust policy refuses .*base/dotnet:10: scope default: it rejects every image", refused.StdOut);
        }
    }

    private int Uploads() => registry.Registry.CountRequests("PUT", $"/v2/{ConsoleRepository}/blobs/uploads/");

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static string[] Layers(JsonDocument manifest) => [.. manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!)];

    private async Task<(JsonDocument Manifest, JsonDocument Config)> ReadImageAsync(string repository, string digest)
    {
        var manifest = JsonDocument.Parse(await GetAsync($"{repository}/manifests/{digest}"));
        var configDigest = manifest.RootElement.GetProperty("config").GetProperty("digest").GetString();
        return (manifest, JsonDocument.Parse(await GetAsync($"{repository}/blobs/{configDigest}")));
    }

    private async Task<string> ManifestDigestAsync(string repository, string tag)
    {
        using var http = registry.Registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Head, $"v2/{repository}/manifests/{tag}");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("Docker-Content-Digest").Single();
    }

    private async Task<string> GetAsync(string path, string? accept = null)
    {
        using var http = registry.Registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "v2/" + path);
        if (accept is not null)
        {
            request.Headers.Accept.ParseAdd(accept);
        }

        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }
}
