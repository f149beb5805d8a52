namespace Frugal.Engine.Sampling;

/// <summary>
/// Allocation-free ranking of token ids by logit: highest logit first, the lower id first on ties, NaN last.
/// Used by the sampler (top-k, sorted candidates) and by tools that print the best tokens of a position.
/// </summary>
public static class TokenRanking
{
    /// <summary>True when token <paramref name="a"/> ranks before token <paramref name="b"/>.</summary>
    public static bool RanksBefore(float valueA, int a, float valueB, int b)
    {
        if (float.IsNaN(valueA)) return float.IsNaN(valueB) && a < b;
        if (float.IsNaN(valueB)) return true;
        return valueA > valueB || (valueA == valueB && a < b);
    }

    /// <summary>
    /// Writes into <paramref name="best"/> the ids of the <c>best.Length</c> highest values (fewer when there are
    /// fewer values), best first, and returns how many it wrote. O(n log k), no allocation.
    /// </summary>
    public static int SelectTop(ReadOnlySpan<float> values, Span<int> best)
    {
        int k = Math.Min(best.Length, values.Length);
        if (k == 0) return 0;
        Span<int> heap = best[..k];
        // Heap with the WORST kept id at the root, so a better newcomer replaces the root.
        for (int i = 0; i < k; i++) heap[i] = i;
        for (int i = k / 2 - 1; i >= 0; i--) SiftDownWorstFirst(heap, values, i, k);
        for (int id = k; id < values.Length; id++)
        {
            if (RanksBefore(values[id], id, values[heap[0]], heap[0]))
            {
                heap[0] = id;
                SiftDownWorstFirst(heap, values, 0, k);
            }
        }
        SortHeap(heap, values);
        return k;
    }

    /// <summary>Sorts <paramref name="ids"/> in place, best first (heapsort: deterministic, no allocation).</summary>
    public static void SortBestFirst(Span<int> ids, ReadOnlySpan<float> values)
    {
        for (int i = ids.Length / 2 - 1; i >= 0; i--) SiftDownWorstFirst(ids, values, i, ids.Length);
        SortHeap(ids, values);
    }

    /// <summary>
    /// The <c>ids.Length</c> most likely tokens and their log-probabilities (log-softmax over all of
    /// <paramref name="logits"/>), best first. Returns how many were written.
    /// </summary>
    public static int LogSoftmaxTopK(ReadOnlySpan<float> logits, Span<int> ids, Span<float> logProbabilities)
    {
        if (logProbabilities.Length < ids.Length)
            throw new ArgumentException($"logProbabilities holds {logProbabilities.Length} values but {ids.Length} ids were asked for", nameof(logProbabilities));
        int count = SelectTop(logits, ids);
        if (count == 0) return 0;
        float max = logits[ids[0]];
        double sum = 0;
        foreach (float logit in logits) sum += Math.Exp((double)logit - max);
        double logNormalizer = max + Math.Log(sum);
        for (int i = 0; i < count; i++) logProbabilities[i] = (float)(logits[ids[i]] - logNormalizer);
        return count;
    }

    // Repeatedly moves the worst (root) to the end of the shrinking heap, which leaves the span best first.
    private static void SortHeap(Span<int> heap, ReadOnlySpan<float> values)
    {
        for (int end = heap.Length - 1; end > 0; end--)
        {
            (heap[0], heap[end]) = (heap[end], heap[0]);
            SiftDownWorstFirst(heap, values, 0, end);
        }
    }

    private static void SiftDownWorstFirst(Span<int> heap, ReadOnlySpan<float> values, int index, int length)
    {
        while (true)
        {
            int left = 2 * index + 1;
            if (left >= length) return;
            int worst = left;
            int right = left + 1;
            if (right < length && RanksBefore(values[heap[left]], heap[left], values[heap[right]], heap[right])) worst = right;
            if (!RanksBefore(values[heap[index]], heap[index], values[heap[worst]], heap[worst])) return;
            (heap[index], heap[worst]) = (heap[worst], heap[index]);
            index = worst;
        }
    }
}
