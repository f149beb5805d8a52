namespace Frugal.Models.Transformer;

/// <summary>
/// Sees the activations of a forward pass, for calibration tools (importance matrix, pruning). Called on the
/// thread that runs the forward pass; the pointers are valid only during the call. A session without an
/// observer pays one null check per matrix.
/// </summary>
public abstract unsafe class ForwardObserver
{
    /// <summary>The input [tokens, cols] about to be multiplied by <paramref name="weights"/> (layer -1: the output matrix).</summary>
    public virtual void MatMulInput(int layer, in WeightMatrix weights, float* input, int tokens, int cols) { }

    /// <summary>The residual stream x [tokens, dim] entering <paramref name="layer"/>; layer == Layers is the stream after the last layer.</summary>
    public virtual void LayerInput(int layer, float* x, int tokens, int dim) { }
}
