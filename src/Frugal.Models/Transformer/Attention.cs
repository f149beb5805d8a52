using Frugal.Numerics;
using Frugal.Numerics.Threading;

namespace Frugal.Models.Transformer;

/// <summary>
/// Causal grouped-query attention of a block of tokens over the KV cache, one (token, head) pair per work
/// item. Like llama.cpp (without flash attention) the query is rounded to half before meeting the half keys,
/// and the softmax weights are rounded to half before meeting the half values.
/// </summary>
internal sealed unsafe class Attention : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private readonly KvCache _cache;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly float _scale;
    private readonly NativeBuffer<float> _scores;   // [threads, contextSize]
    private readonly NativeBuffer<float> _rows;     // [threads, 2 · headDim]: query and one converted cache row
    private float* _queries;
    private float* _output;
    private int _layer;
    private int _startPosition;
    private int _tokens;

    public Attention(WorkerPool pool, KvCache cache, ModelConfig config)
    {
        _pool = pool;
        _cache = cache;
        _heads = config.Heads;
        _kvHeads = config.KvHeads;
        _headDim = config.HeadDim;
        _scale = 1.0f / MathF.Sqrt(config.HeadDim);
        _scores = new NativeBuffer<float>((long)pool.ThreadCount * cache.ContextSize);
        _rows = new NativeBuffer<float>((long)pool.ThreadCount * 2 * config.HeadDim);
    }

    /// <summary>
    /// queries [tokens, heads·headDim] (RoPE applied) at positions startPosition…; the cache already holds
    /// keys and values up to startPosition + tokens. Writes output [tokens, heads·headDim].
    /// </summary>
    public void Run(int layer, float* queries, int startPosition, int tokens, float* output)
    {
        _layer = layer;
        _queries = queries;
        _startPosition = startPosition;
        _tokens = tokens;
        _output = output;
        _pool.Run(this);
    }

    public void Execute(int threadIndex, int threadCount)
    {
        float* scores = _scores.Pointer + (long)threadIndex * _cache.ContextSize;
        float* query = _rows.Pointer + (long)threadIndex * 2 * _headDim;
        float* row = query + _headDim;
        int group = _heads / _kvHeads;
        int queryDim = _heads * _headDim;
        for (int item = threadIndex; item < _tokens * _heads; item += threadCount)
        {
            int t = item / _heads, h = item % _heads;
            int kvOffset = h / group * _headDim;
            int visible = _startPosition + t + 1;

            new ReadOnlySpan<float>(_queries + (long)t * queryDim + h * _headDim, _headDim).CopyTo(new Span<float>(query, _headDim));
            VectorOps.RoundThroughHalf(query, _headDim);
            float* output = _output + (long)t * queryDim + h * _headDim;
            if (FlashStyle)
            {
                // Online softmax with the value accumulator kept in half precision.
                float maxScore = float.NegativeInfinity, sum = 0;
                new Span<float>(output, _headDim).Clear();
                for (int j = 0; j < visible; j++)
                {
                    VectorOps.ToSingle(_cache.Key(_layer, j) + kvOffset, row, _headDim);
                    float s = VectorOps.Dot(query, row, _headDim) * _scale;
                    float ms = 1f, vs = 1f;
                    if (s > maxScore)
                    {
                        float old = maxScore;
                        maxScore = s;
                        ms = MathF.Exp(old - maxScore);
                        for (int d = 0; d < _headDim; d++) output[d] = (float)(Half)(output[d] * ms);
                    }
                    else vs = MathF.Exp(s - maxScore);
                    VectorOps.ToSingle(_cache.Value(_layer, j) + kvOffset, row, _headDim);
                    for (int d = 0; d < _headDim; d++) output[d] = (float)(Half)(output[d] + row[d] * vs);
                    sum = sum * ms + vs;
                }
                VectorOps.Scale(output, 1.0f / sum, _headDim);
                continue;
            }
            for (int j = 0; j < visible; j++)
            {
                VectorOps.ToSingle(_cache.Key(_layer, j) + kvOffset, row, _headDim);
                scores[j] = VectorOps.Dot(query, row, _headDim) * _scale;
            }
            if (DumpAttention && _tokens == 1 && _startPosition == 1) Console.Error.WriteLine($"L{_layer} h{h} kq {scores[0] / _scale:G9} {scores[1] / _scale:G9}");
            VectorOps.Softmax(scores, visible);
            if (DumpAttention && _tokens == 1 && _startPosition == 1) Console.Error.WriteLine($"L{_layer} h{h} p {scores[0]:G9} {scores[1]:G9}");
            if (RoundProbabilities) VectorOps.RoundThroughHalf(scores, visible);

            new Span<float>(output, _headDim).Clear();
            for (int j = 0; j < visible; j++)
            {
                VectorOps.ToSingle(_cache.Value(_layer, j) + kvOffset, row, _headDim);
                VectorOps.MultiplyAdd(output, scores[j], row, _headDim);
            }
        }
    }

    private static readonly bool RoundProbabilities = Environment.GetEnvironmentVariable("FRUGAL_RP") != "0";
    private static readonly bool DumpAttention = Environment.GetEnvironmentVariable("FRUGAL_DUMP") == "1";
    private static readonly bool FlashStyle = Environment.GetEnvironmentVariable("FRUGAL_FA") == "1";

    public void Dispose()
    {
        _scores.Dispose();
        _rows.Dispose();
    }
}
