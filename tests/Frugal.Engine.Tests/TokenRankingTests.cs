using Frugal.Engine.Sampling;

namespace Frugal.Engine.Tests;

public class TokenRankingTests
{
    // Reference ranking: a plain LINQ sort by (logit descending, id ascending).
    private static int[] NaiveTop(float[] values, int k) =>
        Enumerable.Range(0, values.Length).OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).ToArray();

    private static float[] ValuesWithTies(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)random.Next(-20, 20) / 4).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(40)]
    [InlineData(999)]
    [InlineData(1000)]
    [InlineData(1500)]
    public void Select_top_matches_a_plain_sort_ties_included(int k)
    {
        for (int seed = 0; seed < 5; seed++)
        {
            float[] values = ValuesWithTies(1000, seed);
            var best = new int[k];
            int count = TokenRanking.SelectTop(values, best);
            Assert.Equal(Math.Min(k, 1000), count);
            Assert.Equal(NaiveTop(values, k), best[..count]);
        }
    }

    [Fact]
    public void Sort_best_first_orders_a_subset()
    {
        float[] values = ValuesWithTies(300, 11);
        int[] subset = Enumerable.Range(0, 300).Where(i => i % 3 != 0).Reverse().ToArray();
        TokenRanking.SortBestFirst(subset, values);
        int[] expected = Enumerable.Range(0, 300).Where(i => i % 3 != 0).OrderByDescending(i => values[i]).ThenBy(i => i).ToArray();
        Assert.Equal(expected, subset);
    }

    [Fact]
    public void NaN_ranks_last()
    {
        float[] values = [float.NaN, 1f, float.NegativeInfinity, 2f];
        var best = new int[4];
        TokenRanking.SelectTop(values, best);
        Assert.Equal([3, 1, 2, 0], best);
    }

    [Fact]
    public void Log_softmax_top_k_matches_a_double_precision_reference()
    {
        float[] values = ValuesWithTies(700, 4);
        var ids = new int[6];
        var logProbabilities = new float[6];
        Assert.Equal(6, TokenRanking.LogSoftmaxTopK(values, ids, logProbabilities));
        double logSum = Math.Log(values.Sum(v => Math.Exp(v)));
        Assert.Equal(NaiveTop(values, 6), ids);
        for (int i = 0; i < 6; i++) Assert.Equal(values[ids[i]] - logSum, logProbabilities[i], 5);
    }
}
