using System.Collections.Immutable;
using System.Text;
using OciKit.Primitives;

namespace OciKit.Images;

/// <summary>
/// ChainIDs of a layer stack (<see href="https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid">image-spec, Layer ChainID</see>):
/// <c>ChainID(L0) = DiffID(L0)</c>, <c>ChainID(L0…Ln) = sha256(ChainID(L0…Ln-1) + " " + DiffID(Ln))</c>.
/// </summary>
public static class ChainId
{
    /// <summary>The ChainID of every prefix of a layer stack.</summary>
    /// <param name="diffIds">The DiffIDs, base first.</param>
    /// <returns>One ChainID per layer; the last one identifies the whole stack.</returns>
    public static ImmutableArray<Digest> ComputeAll(IEnumerable<Digest> diffIds)
    {
        ArgumentNullException.ThrowIfNull(diffIds);
        return [.. ComputeAll(diffIds.Select(static d => d.ToString())).Select(Digest.Parse)];
    }

    /// <summary>The ChainID of a whole layer stack.</summary>
    /// <param name="diffIds">The DiffIDs, base first.</param>
    /// <returns>The ChainID, or <see langword="null"/> for an empty stack.</returns>
    public static Digest? Compute(IEnumerable<Digest> diffIds)
    {
        var all = ComputeAll(diffIds);
        return all.IsEmpty ? null : all[^1];
    }

    // On strings so that the spec's test vectors (which are not real digests) can be checked as they are.
    internal static IEnumerable<string> ComputeAll(IEnumerable<string> diffIds)
    {
        string? chain = null;
        foreach (var diffId in diffIds)
        {
            chain = chain is null ? diffId : Digest.ComputeSha256(Encoding.UTF8.GetBytes(chain + " " + diffId)).ToString();
            yield return chain;
        }
    }
}
