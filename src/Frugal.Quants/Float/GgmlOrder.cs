// The float-operation orders of ggml-cpu's AVX2 dot kernels (llama.cpp build 4748, gcc 12, -march=native
// with AVX2+FMA+F16C), written out so that every SIMD level here reproduces them bit for bit.
//
// Why: a model's activations are re-quantized to Q8 between layers, so a one-ulp difference in a dot product
// can flip a rounding and move the logits of a random-weight model by far more than our tolerance. Float
// addition is not associative, so "the same sum" only gives the same bits in the same order; that is why the
// kernels never use Vector*.Sum (unspecified order) or MultiplyAddEstimate (fused or not, as the JIT likes).
//
// Every kernel keeps ggml's eight float lanes (one __m256) per accumulator; a lane only ever meets its own
// elements until the final horizontal sum, which is done here, once per row, in scalar code.
using System.Runtime.CompilerServices;

namespace Frugal.Quants.Float;

internal static unsafe class GgmlOrder
{
    /// <summary>
    /// hsum_float_8 (ggml-cpu-quants.c; also the end of ggml_vec_dot_bf16):
    /// r = hi128 + lo128; r += movehl(r) → [r0+r2, r1+r3]; result = (r0+r2) + (r1+r3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum8(float* lanes)
    {
        float r0 = lanes[4] + lanes[0], r1 = lanes[5] + lanes[1], r2 = lanes[6] + lanes[2], r3 = lanes[7] + lanes[3];
        return (r0 + r2) + (r1 + r3);
    }

    /// <summary>
    /// The end of GGML_F32x8_REDUCE (simd mappings in ggml-cpu.c, used by ggml_vec_dot_f32 and _f16):
    /// t = lo128 + hi128; two _mm_hadd_ps → (t0+t1) + (t2+t3). A different pairing from hsum_float_8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalAddSum8(float* lanes)
    {
        float t0 = lanes[0] + lanes[4], t1 = lanes[1] + lanes[5], t2 = lanes[2] + lanes[6], t3 = lanes[3] + lanes[7];
        return (t0 + t1) + (t2 + t3);
    }

    /// <summary>
    /// The first steps of GGML_F32x8_REDUCE with GGML_F32_ARR = 4 (and the same pairing in ggml_vec_dot_bf16):
    /// four 8-lane accumulators, stored one after another in <paramref name="accumulators"/> (32 floats),
    /// become one: lane l = (acc0[l] + acc2[l]) + (acc1[l] + acc3[l]), written to <paramref name="lanes"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CombineFour(float* accumulators, float* lanes)
    {
        for (int l = 0; l < 8; l++)
            lanes[l] = (accumulators[l] + accumulators[16 + l]) + (accumulators[8 + l] + accumulators[24 + l]);
    }
}
