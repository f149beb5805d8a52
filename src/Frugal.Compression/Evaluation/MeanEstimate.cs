namespace Frugal.Compression.Evaluation;

/// <summary>A sample mean and its standard error (sample standard deviation / √n).</summary>
public readonly record struct MeanEstimate(double Mean, double StandardError, long Count)
{
    public static MeanEstimate Of(IReadOnlyList<double> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("no samples", nameof(samples));
        double sum = 0;
        foreach (double s in samples) sum += s;
        double mean = sum / samples.Count;
        if (samples.Count == 1) return new MeanEstimate(mean, 0, 1);
        // Two-pass variance: no cancellation when the samples sit far from zero.
        double squares = 0;
        foreach (double s in samples) squares += (s - mean) * (s - mean);
        double variance = squares / (samples.Count - 1);
        return new MeanEstimate(mean, Math.Sqrt(variance / samples.Count), samples.Count);
    }
}
