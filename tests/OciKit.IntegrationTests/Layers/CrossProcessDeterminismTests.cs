using System.Globalization;
using System.Text;
using OciKit.IntegrationTests.Harness;
using OciKit.Layers;

namespace OciKit.IntegrationTests.Layers;

/// <summary>
/// The same layer built in another process (another process id, which the BCL's own PAX writer would embed in header
/// names) must be byte-identical. The other process is F# interactive from the SDK, loading the same OciKit.dll.
/// </summary>
public sealed class CrossProcessDeterminismTests : IDisposable
{
    private readonly TempDir _temp = new("ocikit-layers-det");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_layer_with_pax_records_is_byte_identical_when_built_by_another_process()
    {
        var bin = AppContext.BaseDirectory;
        var otherBlob = _temp.Combine("other.tar.gz");
        var script = _temp.Combine("build.fsx");
        await File.WriteAllTextAsync(script, string.Create(CultureInfo.InvariantCulture, $$"""
            #r "{{Path.Combine(bin, "System.IO.Hashing.dll")}}"
            #r "{{Path.Combine(bin, "ZstdSharp.dll")}}"
            #r "{{Path.Combine(bin, "OciKit.dll")}}"
            open System
            open System.IO
            open OciKit.Layers
            let file (path: string) (text: string) =
                let bytes = Text.Encoding.UTF8.GetBytes(text)
                LayerEntry.File(path, int64 bytes.Length, (fun () -> new MemoryStream(bytes) :> Stream))
            let entries =
                [ file ("deep/" + String('n', 150)) "long"
                  file "ünïcödé.txt" "u"
                  file "x.txt" "x" ]
            let out = File.Create("{{otherBlob}}")
            let info = LayerWriter.WriteAsync(entries, out).GetAwaiter().GetResult()
            out.Dispose()
            printfn "%O" info.Descriptor.Digest
            """));

        var result = await Tool.RunCheckedAsync("dotnet", ["fsi", "--nologo", script]);

        LayerEntry[] entries =
        [
            Text("deep/" + new string('n', 150), "long"),
            Text("ünïcödé.txt", "u"),
            Text("x.txt", "x"),
        ];
        using var here = new MemoryStream();
        var info = await LayerWriter.WriteAsync(entries, here);

        Assert.Equal(info.Descriptor.Digest.ToString(), result.StdOut.Trim());
        Assert.Equal(here.ToArray(), await File.ReadAllBytesAsync(otherBlob));
    }

    private static LayerEntry Text(string path, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return LayerEntry.File(path, bytes.Length, () => new MemoryStream(bytes, writable: false));
    }
}
