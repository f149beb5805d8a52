using Frugal.Compression.Evaluation;

namespace Frugal.Compression.Tests.Evaluation;

/// <summary>The numerical pieces of the perplexity and KL measurements, checked against values worked out by hand.</summary>
public class EvaluationMathTests
{
    [Fact]
    public void Log_softmax_matches_the_definition_and_survives_huge_logits()
    {
        float[] logits = [1f, 2f, 3f];
        var output = new double[3];
        LogSoftmax.Compute(logits, output);
        double logSum = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        for (int i = 0; i < 3; i++) Assert.Equal(logits[i] - logSum, output[i], 12);

        // exp(1000) overflows a double: the max shift must keep it finite, and shifting all logits changes nothing.
        float[] huge = [1001f, 1002f, 1003f];
        var shifted = new double[3];
        LogSoftmax.Compute(huge, shifted);
        for (int i = 0; i < 3; i++) Assert.Equal(output[i], shifted[i], 9);
        Assert.Equal(1.0, shifted.Sum(Math.Exp), 12);
    }

    [Fact]
    public void Log_softmax_refuses_non_finite_logits()
    {
        var output = new double[2];
        Assert.Throws<ArgumentException>(() => LogSoftmax.Compute([float.NaN, 1f], output));
        Assert.Throws<ArgumentException>(() => LogSoftmax.Compute([float.PositiveInfinity, 1f], output));
    }

    [Fact]
    public void Kl_divergence_of_two_coins()
    {
        // KL(P‖Q) for P = (0.5, 0.5), Q = (0.9, 0.1): 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1).
        double[] p = [Math.Log(0.5), Math.Log(0.5)];
        double[] q = [Math.Log(0.9), Math.Log(0.1)];
        double expected = 0.5 * Math.Log(0.5 / 0.9) + 0.5 * Math.Log(0.5 / 0.1);
        Assert.Equal(expected, PerplexityEvaluator.KlDivergence(p, q), 12);
        Assert.Equal(0.0, PerplexityEvaluator.KlDivergence(p, p));
        Assert.True(PerplexityEvaluator.KlDivergence(q, p) > 0);
    }

    [Fact]
    public void Mean_estimate_uses_the_sample_standard_deviation()
    {
        // mean 5, sample variance 32/7 → SE = sqrt(32/7/8).
        var estimate = MeanEstimate.Of([2, 4, 4, 4, 5, 5, 7, 9]);
        Assert.Equal(5.0, estimate.Mean, 12);
        Assert.Equal(Math.Sqrt(32.0 / 7 / 8), estimate.StandardError, 12);
        Assert.Equal(8, estimate.Count);
        Assert.Throws<ArgumentException>(() => MeanEstimate.Of([]));
    }

    [Fact]
    public void Percentile_interpolates_between_neighbours()
    {
        double[] sorted = [0, 10, 20, 30, 40];
        Assert.Equal(0, PerplexityEvaluator.Percentile(sorted, 0));
        Assert.Equal(40, PerplexityEvaluator.Percentile(sorted, 1));
        Assert.Equal(20, PerplexityEvaluator.Percentile(sorted, 0.5));
        Assert.Equal(39.6, PerplexityEvaluator.Percentile(sorted, 0.99), 9);
    }
}
