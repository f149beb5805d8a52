// The per-level scaffolding shared by every 32-element block dot (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights).
//
// What differs between the formats is only how a weight block turns into 32 integer quants and where its
// scale (and, for Q4_1/Q5_1, its minimum) lives; that is the format's IBlock32Weights struct, kept in the
// format's own file next to its layout. The float work — eight lanes, one fused multiply-add per block, the
// minimum terms summed apart, hsum_float_8 at the end (see Block32Common.cs) — is written once here, so every
// format has the same order at every level by construction.
//
// The kernel is a struct type argument and all its members are static abstract, so the JIT compiles one
// specialized copy of each driver per format with the decoder inlined; HasMinimum and SignedQuants are
// constants there, so the branches on them fold away.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;

namespace Frugal.Quants.Block32;

/// <summary>
/// How one weight block format (<typeparamref name="TWeight"/>) meets its activation block
/// (<typeparamref name="TActivation"/>) in a dot product.
/// </summary>
internal unsafe interface IBlock32Weights<TWeight, TActivation>
    where TWeight : unmanaged
    where TActivation : unmanaged
{
    /// <summary>ggml's name of the weight type, for error messages.</summary>
    static abstract string Name { get; }

    /// <summary>
    /// True when the unpacked quants are signed (weights centred on zero: Q4_0, Q5_0, Q8_0), so the int8 dot
    /// needs the sign fix-up; false when they are 0..31 and the unsigned form applies (Q4_1, Q5_1).
    /// </summary>
    static abstract bool SignedQuants { get; }

    /// <summary>True for the formats with a per-block minimum, whose m·s terms are summed apart and added last.</summary>
    static virtual bool HasMinimum => false;

    /// <summary>d_w·d_x of one block pair, as ggml forms it.</summary>
    static abstract float Scale(TWeight* w, TActivation* x);

    /// <summary>summs advanced by the block's minimum term; formats without a minimum keep this default.</summary>
    static virtual float AddMinimum(float summs, TWeight* w, TActivation* x) => summs;

    /// <summary>The activation block's 32 int8 quants, in element order.</summary>
    static abstract sbyte* ActivationQuants(TActivation* x);

    /// <summary>Scalar reference: the block's 32 integer weights in element order.</summary>
    static abstract void Decode(TWeight* w, int* weights);

    /// <summary>The block's quants for elements 0..15 (Low) and 16..31 (High), as bytes (reinterpreted as int8 when signed).</summary>
    static abstract (Vector128<byte> Low, Vector128<byte> High) Quants128(TWeight* w);

    /// <summary>The block's 32 quants in element order, as bytes (reinterpreted as int8 when signed).</summary>
    static abstract Vector256<byte> Quants256(TWeight* w);

    /// <summary>fp16 bits of the weight block's scale d (every 32-element format stores it first).</summary>
    static virtual ushort ScaleBits(TWeight* w) => *(ushort*)w;

    /// <summary>fp16 bits of the activation block's scale d (Q8_0 and Q8_1 store it first).</summary>
    static virtual ushort ActivationScaleBits(TActivation* x) => *(ushort*)x;
}

/// <summary>
/// The dot of a weight row with an activation row at each vector level, bit-identical with ggml-cpu's AVX2
/// ggml_vec_dot_*_q8_* at all of them (the scalar one is the reference the vector ones are tested against).
/// </summary>
internal static unsafe class Block32Dot<TKernel, TWeight, TActivation>
    where TKernel : struct, IBlock32Weights<TWeight, TActivation>
    where TWeight : unmanaged
    where TActivation : unmanaged
{
    /// <summary>Picks the widest level <see cref="Simd"/> allows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n)
    {
        if (Simd.Use512) return Dot512(w, x, n);
        if (Simd.Use256) return Dot256(w, x, n);
        if (Simd.Use128) return Dot128(w, x, n);
        return DotScalar(w, x, n);
    }

    /// <summary>
    /// Reference, in ggml's order: eight float lanes, block by block
    /// acc[l] = fma(d_w·d_x, Σ_(k=4l..4l+3) q_w[k]·q_x[k], acc[l]); then hsum_float_8 (plus the minimum terms).
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, TKernel.Name);
        TWeight* wb = (TWeight*)w;
        TActivation* xb = (TActivation*)x;
        float* acc = stackalloc float[8];
        for (int l = 0; l < 8; l++) acc[l] = 0;
        int* weights = stackalloc int[32];
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            TKernel.Decode(wb + b, weights);
            BlockLanes.Accumulate(acc, TKernel.Scale(wb + b, xb + b), weights, TKernel.ActivationQuants(xb + b));
            summs = TKernel.AddMinimum(summs, wb + b, xb + b);
        }
        return Finish(BlockLanes.Finish(acc), summs);
    }

    /// <summary>One block per step as two 16-byte halves: lanes 0–3 (elements 0..15) and lanes 4–7 (elements 16..31).</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, TKernel.Name);
        TWeight* wb = (TWeight*)w;
        TActivation* xb = (TActivation*)x;
        Vector128<float> accLow = default, accHigh = default;
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = TKernel.Quants128(wb + b);
            sbyte* xq = TKernel.ActivationQuants(xb + b);
            var sumsLow = MultiplyAddQuads(low, Vector128.Load(xq));
            var sumsHigh = MultiplyAddQuads(high, Vector128.Load(xq + 16));
            float d = TKernel.Scale(wb + b, xb + b);
            accLow = BlockLanes.Accumulate(accLow, d, sumsLow);
            accHigh = BlockLanes.Accumulate(accHigh, d, sumsHigh);
            summs = TKernel.AddMinimum(summs, wb + b, xb + b);
        }
        return Finish(BlockLanes.Finish(accLow, accHigh), summs);
    }

    /// <summary>One block per step, ggml's own shape.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, TKernel.Name);
        TWeight* wb = (TWeight*)w;
        TActivation* xb = (TActivation*)x;
        var acc = Vector256<float>.Zero;
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, TKernel.Scale(wb + b, xb + b), LaneSums256(wb + b, xb + b));
            summs = TKernel.AddMinimum(summs, wb + b, xb + b);
        }
        return Finish(BlockLanes.Finish(acc), summs);
    }

    /// <summary>
    /// Integer work for two blocks per step (one per 256-bit half); the float accumulation stays one block at a
    /// time in eight lanes, as ggml's order requires. An odd last block takes the 256-bit step.
    /// </summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, TKernel.Name);
        TWeight* wb = (TWeight*)w;
        TActivation* xb = (TActivation*)x;
        var acc = Vector256<float>.Zero;
        float summs = 0;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var sums = LaneSums512(wb + b, xb + b);
            acc = BlockLanes.AccumulatePair(acc, TKernel.Scale(wb + b, xb + b), TKernel.Scale(wb + b + 1, xb + b + 1), sums);
            summs = TKernel.AddMinimum(summs, wb + b, xb + b);
            summs = TKernel.AddMinimum(summs, wb + b + 1, xb + b + 1);
        }
        for (; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, TKernel.Scale(wb + b, xb + b), LaneSums256(wb + b, xb + b));
            summs = TKernel.AddMinimum(summs, wb + b, xb + b);
        }
        return Finish(BlockLanes.Finish(acc), summs);
    }

    /// <summary>
    /// The order of llama.cpp's interleaved-row kernels (ggml_gemv_q4_0_8x8_q8_0 on AVX2): each block's integer
    /// sum in full, then acc = fma(sum, d_w·d_x, acc) block by block, from zero. The integer sums are exact at
    /// every width, so every level returns the same bits.
    /// </summary>
    public static float DotBlockOrder(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, TKernel.Name);
        TWeight* wb = (TWeight*)w;
        TActivation* xb = (TActivation*)x;
        float acc = 0;
        float summs = 0;
        if (Simd.Use256)
        {
            for (int b = 0; b < blocks; b++)
            {
                int sum = Vector256.Sum(LaneSums256(wb + b, xb + b));
                acc = MathF.FusedMultiplyAdd(sum, TKernel.Scale(wb + b, xb + b), acc);
                summs = TKernel.AddMinimum(summs, wb + b, xb + b);
            }
        }
        else
        {
            int* weights = stackalloc int[32];
            for (int b = 0; b < blocks; b++)
            {
                TKernel.Decode(wb + b, weights);
                sbyte* xq = TKernel.ActivationQuants(xb + b);
                int sum = 0;
                for (int k = 0; k < 32; k++) sum += weights[k] * xq[k];
                acc = MathF.FusedMultiplyAdd(sum, TKernel.Scale(wb + b, xb + b), acc);
                summs = TKernel.AddMinimum(summs, wb + b, xb + b);
            }
        }
        return Finish(acc, summs);
    }

    /// <summary>
    /// hsum_float_8 plus the minimum terms. Formats without a minimum return the sum untouched: adding a zero
    /// summs would turn a −0 result into +0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Finish(float laneSum, float summs) => TKernel.HasMinimum ? laneSum + summs : laneSum;

    /// <summary>The block's eight int32 lane sums (lane l: elements 4l..4l+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums256(TWeight* w, TActivation* x) =>
        MultiplyAddQuads(TKernel.Quants256(w), Vector256.Load(TKernel.ActivationQuants(x)));

    /// <summary>Lane sums of blocks w[0] (low half) and w[1] (high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> LaneSums512(TWeight* w, TActivation* x)
    {
        var wq = Vector512.Create(TKernel.Quants256(w), TKernel.Quants256(w + 1));
        var xq = Vector512.Create(Vector256.Load(TKernel.ActivationQuants(x)), Vector256.Load(TKernel.ActivationQuants(x + 1)));
        return TKernel.SignedQuants
            ? Int8Dot.MultiplyAddQuads(Vector512<int>.Zero, wq.AsSByte(), xq)
            : Int8Dot.MultiplyAddQuadsUnsigned(Vector512<int>.Zero, wq, xq);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MultiplyAddQuads(Vector128<byte> quants, Vector128<sbyte> x) =>
        TKernel.SignedQuants
            ? Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, quants.AsSByte(), x)
            : Int8Dot.MultiplyAddQuadsUnsigned(Vector128<int>.Zero, quants, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> MultiplyAddQuads(Vector256<byte> quants, Vector256<sbyte> x) =>
        TKernel.SignedQuants
            ? Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, quants.AsSByte(), x)
            : Int8Dot.MultiplyAddQuadsUnsigned(Vector256<int>.Zero, quants, x);
}
