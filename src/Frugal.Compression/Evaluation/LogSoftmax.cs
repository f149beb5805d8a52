namespace Frugal.Compression.Evaluation;

/// <summary>Numerically stable log-probabilities of a row of logits, computed in double.</summary>
public static class LogSoftmax
{
    /// <summary>output[i] = logits[i] − max − log Σ exp(logits[k] − max).</summary>
    public static void Compute(ReadOnlySpan<float> logits, Span<double> output)
    {
        if (logits.IsEmpty) throw new ArgumentException("no logits", nameof(logits));
        if (output.Length < logits.Length) throw new ArgumentException($"output holds {output.Length} values, {logits.Length} needed", nameof(output));
        double max = double.NegativeInfinity;
        foreach (float value in logits) max = Math.Max(max, value);
        if (double.IsNaN(max) || double.IsInfinity(max)) throw new ArgumentException($"logits are not finite (max {max})", nameof(logits));
        double sum = 0;
        foreach (float value in logits) sum += Math.Exp(value - max);
        double logSum = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) output[i] = logits[i] - logSum;
    }

    /// <summary>The index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
