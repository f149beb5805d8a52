namespace Frugal.Models.Synthesis;

/// <summary>
/// A small deterministic source of N(0, 1) values (SplitMix64 bits, Box–Muller pairs). Each tensor row gets its
/// own stream, seeded from (seed, tensor name, row), so a synthesized file does not depend on how rows were
/// spread over threads.
/// </summary>
internal struct SeededNormals
{
    private ulong _state;
    private float _spare;
    private bool _hasSpare;

    public SeededNormals(ulong seed)
    {
        _state = seed;
        _spare = 0;
        _hasSpare = false;
    }

    /// <summary>The stream for <paramref name="row"/> of the tensor called <paramref name="tensorName"/>.</summary>
    public static SeededNormals ForRow(ulong seed, string tensorName, long row) =>
        new(Mix(TensorSeed(seed, tensorName) + (ulong)row * 0x9E3779B97F4A7C15UL));

    /// <summary>The seed of one tensor: the user's seed mixed with the FNV-1a hash of its name.</summary>
    public static ulong TensorSeed(ulong seed, string tensorName)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (char c in tensorName) hash = (hash ^ c) * 0x100000001B3UL;
        return Mix(seed ^ hash);
    }

    /// <summary>SplitMix64's finalizer: a bijective scramble of 64 bits.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>A standard normal value.</summary>
    public float NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }
        // Two uniforms from one 64-bit draw: u1 in (0, 1] (so the log is finite), u2 in [0, 1).
        ulong bits = NextUInt64();
        double u1 = ((bits >> 32) + 1.0) / 4294967296.0;
        double u2 = (bits & 0xFFFF_FFFFUL) / 4294967296.0;
        double radius = Math.Sqrt(-2.0 * Math.Log(u1));
        (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
        _spare = (float)(radius * sin);
        _hasSpare = true;
        return (float)(radius * cos);
    }
}
