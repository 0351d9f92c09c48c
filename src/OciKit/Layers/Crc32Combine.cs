namespace OciKit.Layers;

/// <summary>
/// Combines the CRC-32s of two byte sequences into the CRC-32 of their concatenation, so that blocks can be checksummed
/// where they are compressed and the gzip trailer still carries the CRC of all the data
/// (<see href="https://www.rfc-editor.org/rfc/rfc1952#section-2.3.1">RFC 1952, 2.3.1</see>).
/// </summary>
/// <remarks>
/// Written by hand because System.IO.Hashing's <c>Crc32</c> has no combine operation and no well-kept .NET package
/// offers one (zlib's <c>crc32_combine</c> is not exposed by System.IO.Compression). The arithmetic: for the
/// reflected CRC-32 (polynomial 0xEDB88320, initial value and final XOR all ones),
/// <c>crc(A ‖ B) = crc(A) · x^(8·|B|) mod P  ⊕  crc(B)</c>, because the all-ones register that starts B cancels
/// out against the final XOR of A. Polynomials over GF(2) are kept reflected: bit 31 holds the coefficient of x^0.
/// </remarks>
internal static class Crc32Combine
{
    private const uint ReflectedPolynomial = 0xedb88320;

    // x^0 and x^8 (one byte) in the reflected representation.
    private const uint One = 1u << 31;
    private const uint OneByte = 1u << 23;

    /// <summary>The CRC-32 of <c>A ‖ B</c> from the CRC-32 of A, the CRC-32 of B and the length of B.</summary>
    public static uint Combine(uint first, uint second, long secondLength)
        => Combine(first, second, ShiftFor(secondLength));

    /// <summary>As <see cref="Combine(uint, uint, long)"/>, with <see cref="ShiftFor"/> of B's length already computed.</summary>
    public static uint Combine(uint first, uint second, uint shift) => Multiply(shift, first) ^ second;

    /// <summary><c>x^(8·length) mod P</c>: what the CRC of what precedes is multiplied by when <paramref name="length"/> bytes follow.</summary>
    public static uint ShiftFor(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var result = One;
        var power = OneByte;
        for (; length != 0; length >>= 1)
        {
            if ((length & 1) != 0)
            {
                result = Multiply(result, power);
            }

            power = Multiply(power, power);
        }

        return result;
    }

    // a · b mod P, both reflected: walks a from x^0 upwards while b is multiplied by x (a right shift, reduced by P).
    private static uint Multiply(uint a, uint b)
    {
        uint product = 0;
        for (var bit = One; bit != 0; bit >>= 1)
        {
            if ((a & bit) != 0)
            {
                product ^= b;
            }

            b = (b & 1) != 0 ? (b >> 1) ^ ReflectedPolynomial : b >> 1;
        }

        return product;
    }
}
