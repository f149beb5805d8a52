using Frugal.Compression.Pruning;

namespace Frugal.Compression.Tests.Pruning;

/// <summary>Neuron choice and size planning, on small hand-made inputs.</summary>
public class PruningMathTests
{
    [Fact]
    public void Lowest_scores_are_chosen_and_returned_in_index_order()
    {
        Assert.Equal([1, 3], ModelPruner.LowestScores([5, 1, 4, 0.5, 9], 2));
        Assert.Equal([0, 2], ModelPruner.LowestScores([1, 3, 1, 3], 2)); // ties: lower index first
        Assert.Empty(ModelPruner.LowestScores([1, 2], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelPruner.LowestScores([1, 2], 3));
    }

    [Fact]
    public void Importance_weighs_activation_energy_by_the_down_column_norm()
    {
        // down [dim 2, ffn 3]: column norms² = 1+0, 4+4, 0+9.
        float[] down = [1, 2, 0, 0, 2, 3];
        double[] meanSquares = [10, 1, 0.5];
        var scores = ModelPruner.NeuronImportance(meanSquares, down, dim: 2, ffn: 3);
        Assert.Equal([10.0, 8.0, 4.5], scores);
        Assert.Throws<ArgumentException>(() => ModelPruner.NeuronImportance(meanSquares, down, dim: 3, ffn: 3));
    }

    [Fact]
    public void Float_weights_keep_exactly_the_requested_size()
    {
        Assert.Equal(155, ModelPruner.PlanKeptCount(172, 0.10, 1, out var note)); // 172 − round(17.2)
        Assert.Null(note);
        Assert.Equal(86, ModelPruner.PlanKeptCount(172, 0.50, 1, out _));
    }

    [Fact]
    public void Quantized_weights_keep_whole_blocks()
    {
        // 512 − 51 = 461 → nearest multiple of 32 is 448 (461/32 = 14.4).
        Assert.Equal(448, ModelPruner.PlanKeptCount(512, 0.10, 32, out var note));
        Assert.Contains("448", note);
        Assert.Equal(384, ModelPruner.PlanKeptCount(512, 0.25, 32, out note));
        Assert.Null(note);
        // K-quants: 512 holds two blocks of 256; any real pruning keeps one.
        Assert.Equal(256, ModelPruner.PlanKeptCount(512, 0.10, 256, out _));
        // Too small to drop a whole block: the caller falls back to F32.
        Assert.Equal(-1, ModelPruner.PlanKeptCount(256, 0.10, 256, out note));
        Assert.Contains("F32", note);
    }
}
