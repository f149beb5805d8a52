namespace Frugal.Compression.Pruning;

/// <summary>How FFN neurons are chosen for removal.</summary>
public enum PruneMethod
{
    /// <summary>Lowest mean(a_j²) × ‖W_down[:, j]‖² on the calibration text (activation-aware).</summary>
    Importance,

    /// <summary>Uniformly random neurons (seeded), the baseline importance must beat.</summary>
    Random,
}

/// <summary>Settings of FFN channel pruning.</summary>
public sealed record FfnPruneOptions
{
    /// <summary>Fraction of each layer's FFN neurons to remove, in (0, 1).</summary>
    public required double Ratio { get; init; }

    public PruneMethod Method { get; init; } = PruneMethod.Importance;

    /// <summary>Seed of <see cref="PruneMethod.Random"/>.</summary>
    public int Seed { get; init; }

    /// <summary>Calibration chunk size in tokens (0: the model's context length, capped at 512).</summary>
    public int ContextSize { get; init; }

    /// <summary>Most calibration chunks (null: the whole text).</summary>
    public int? MaxChunks { get; init; }

    /// <summary>Threads for the calibration forward pass and requantization (0: every core).</summary>
    public int Threads { get; init; }
}

/// <summary>Settings of whole-layer removal.</summary>
public sealed record LayerPruneOptions
{
    /// <summary>Number of transformer blocks to remove (1 … block count − 1).</summary>
    public required int Count { get; init; }

    /// <summary>Calibration chunk size in tokens (0: the model's context length, capped at 512).</summary>
    public int ContextSize { get; init; }

    /// <summary>Most calibration chunks (null: the whole text).</summary>
    public int? MaxChunks { get; init; }

    public int Threads { get; init; }
}

/// <summary>What FFN pruning did.</summary>
/// <param name="RemovedNeurons">Per layer, the removed neuron indices in ascending order.</param>
/// <param name="Notes">Adjustments worth telling the user (rounded counts, type fallbacks).</param>
public sealed record FfnPruneResult(int OriginalFeedForward, int NewFeedForward, IReadOnlyList<int[]> RemovedNeurons,
    IReadOnlyList<string> Notes, long InputBytes, long OutputBytes);

/// <summary>What layer removal did.</summary>
/// <param name="Similarity">Per original layer, the mean cosine similarity of its input and output residual stream.</param>
/// <param name="RemovedLayers">Original indices of the removed blocks, ascending.</param>
public sealed record LayerPruneResult(int OriginalLayers, int NewLayers, IReadOnlyList<double> Similarity,
    IReadOnlyList<int> RemovedLayers, long InputBytes, long OutputBytes);
