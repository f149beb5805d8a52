namespace Frugal.Models.Tests.Conformance;

/// <summary>Compares our logits at every position with llama.cpp's recorded top-k.</summary>
public static class LogitComparison
{
    /// <summary>Returns a list of problems (empty when within tolerance). logits [positions, vocab].</summary>
    public static List<string> Compare(ReferenceCase reference, float[] logits, int vocab, float tolerance) =>
        Compare(reference, logits, vocab, tolerance, out _);

    /// <summary>Logits must agree with llama.cpp's AVX2 output to this much where it replaces the reference.</summary>
    public const float AnchorTolerance = 0.001f;

    /// <summary>As above, also returning a one-line summary (mean and worst difference) for the test log.</summary>
    public static List<string> Compare(ReferenceCase reference, float[] logits, int vocab, float tolerance, out string summary) =>
        Compare(reference, null, logits, vocab, tolerance, out summary);

    /// <summary>
    /// As above; where <paramref name="anchor"/> (llama.cpp's AVX2 output, see <see cref="PlatformAnchor"/>) itself
    /// departs from the reference, that position is compared with the anchor at <see cref="AnchorTolerance"/>.
    /// </summary>
    public static List<string> Compare(ReferenceCase reference, ReferencePosition[]? anchor, float[] logits, int vocab, float tolerance, out string summary)
    {
        int anchored = 0;
        var problems = new List<string>();
        double sum = 0;
        int count = 0;
        double worst = 0;
        for (int p = 0; p < reference.Positions.Length; p++)
        {
            var expected = reference.Positions[p];
            var ours = new ReadOnlySpan<float>(logits, p * vocab, vocab);
            if (anchor is not null && PlatformAnchor.Departs(expected, anchor[p], tolerance))
            {
                anchored++;
                for (int k = 0; k < anchor[p].Ids.Length; k++)
                {
                    double offAnchor = Math.Abs(ours[anchor[p].Ids[k]] - anchor[p].Logits[k]);
                    if (offAnchor > AnchorTolerance && problems.Count < 10)
                        problems.Add($"position {p} (AVX2 anchor), token {anchor[p].Ids[k]}: ours {ours[anchor[p].Ids[k]]:F5}, llama.cpp AVX2 {anchor[p].Logits[k]:F5}");
                }
                continue;
            }
            for (int k = 0; k < expected.Ids.Length; k++)
            {
                double diff = Math.Abs(ours[expected.Ids[k]] - expected.Logits[k]);
                sum += diff;
                count++;
                worst = Math.Max(worst, diff);
                if (diff > tolerance && problems.Count < 10)
                    problems.Add($"position {p}, token {expected.Ids[k]}: ours {ours[expected.Ids[k]]:F5}, llama.cpp {expected.Logits[k]:F5} (|Δ| {diff:F5} > {tolerance})");
            }
            // Our top-1 must agree wherever llama.cpp's top-1 leads its top-2 clearly.
            if (expected.Logits.Length > 1 && expected.Logits[0] - expected.Logits[1] > 0.2f)
            {
                int ourTop = ArgMax(ours);
                if (ourTop != expected.Ids[0] && problems.Count < 10)
                    problems.Add($"position {p}: our top-1 is {ourTop}, llama.cpp's is {expected.Ids[0]} (margin {expected.Logits[0] - expected.Logits[1]:F3})");
            }
        }
        double mean = count == 0 ? 0 : sum / count;
        summary = $"{reference.FileName}: mean |Δ| {mean:F5}, worst {worst:F5} over {count} logits (tolerance {tolerance})"
            + (anchored > 0 ? $"; {anchored} positions held to llama.cpp's AVX2 output instead" : "");
        if (mean > tolerance / 3) problems.Add($"mean |Δ| {mean:F5} exceeds {tolerance / 3:F5} (worst {worst:F5})");
        return problems;
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
