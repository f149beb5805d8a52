using Frugal.Compression.Quantization;
using Frugal.Gguf;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Compression.Tests.Quantization;

/// <summary>Per-tensor type choices: llama.cpp's mixes, --pure, which tensors stay as they are, and the fallbacks.</summary>
public class TensorTypePlannerTests
{
    /// <summary>The mixes llama.cpp made in ../shared: our choice for every tensor equals the type in its file.</summary>
    [SharedTheory]
    [InlineData("synth-llama-spm-F16.gguf", "Q4_K_M", "synth-llama-spm-Q4_K_M.gguf")]
    [InlineData("synth-llama-spm-F16.gguf", "Q5_K_M", "synth-llama-spm-Q5_K_M.gguf")]
    [InlineData("synth-llama-spm-F16.gguf", "Q6_K", "synth-llama-spm-Q6_K.gguf")]
    [InlineData("synth-llama-spm-F16.gguf", "Q4_0", "synth-llama-spm-Q4_0.gguf")]
    [InlineData("synth-llama-spm-F16.gguf", "Q8_0", "synth-llama-spm-Q8_0.gguf")]
    [InlineData("synth-qwen2-gpt2-F16.gguf", "Q4_K_M", "synth-qwen2-gpt2-Q4_K_M.gguf")]
    [InlineData("synth-qwen2-gpt2-F16.gguf", "Q8_0", "synth-qwen2-gpt2-Q8_0.gguf")]
    public void Mix_choices_equal_llama_cpp(string source, string preset, string llamaCppFile)
    {
        using var input = GgufFile.Open(SharedData.Model(source));
        using var expected = GgufFile.Open(SharedData.Model(llamaCppFile));
        var plans = ModelQuantizer.Plan(input, new QuantizeOptions { Preset = QuantizationPreset.Parse(preset) });
        Assert.Equal(expected.Tensors.Select(t => t.Name), plans.Select(p => p.Name)); // llama.cpp's order
        foreach (var tensor in expected.Tensors)
            Assert.True(tensor.Type == plans.Single(p => p.Name == tensor.Name).TargetType,
                $"{preset}: {tensor.Name} is {GgmlTypes.Name(tensor.Type)} in llama.cpp's file, we chose {GgmlTypes.Name(plans.Single(p => p.Name == tensor.Name).TargetType)}");
        // The mix really mixes: Q4_K_M keeps the output and some attn_v / ffn_down in Q6_K.
        if (preset == "Q4_K_M") Assert.Contains(plans, p => p.TargetType == GgmlType.Q6_K);
    }

    private static TensorDescription Matrix(string name, long columns, long rows) => new(name, [columns, rows], GgmlType.F32);

    private static List<TensorDescription> Llama(int layers, long dim = 4096, long ffn = 11008, bool tiedOutput = false)
    {
        var tensors = new List<TensorDescription> { Matrix("token_embd.weight", dim, 32000), new("output_norm.weight", [dim], GgmlType.F32) };
        if (!tiedOutput) tensors.Add(Matrix("output.weight", dim, 32000));
        for (int l = 0; l < layers; l++)
        {
            tensors.Add(new($"blk.{l}.attn_norm.weight", [dim], GgmlType.F32));
            tensors.Add(new($"blk.{l}.ffn_norm.weight", [dim], GgmlType.F32));
            foreach (string m in new[] { "attn_q", "attn_k", "attn_v", "attn_output" }) tensors.Add(Matrix($"blk.{l}.{m}.weight", dim, dim));
            tensors.Add(Matrix($"blk.{l}.ffn_gate.weight", dim, ffn));
            tensors.Add(Matrix($"blk.{l}.ffn_up.weight", dim, ffn));
            tensors.Add(Matrix($"blk.{l}.ffn_down.weight", ffn, dim));
        }
        return tensors;
    }

    private static Dictionary<string, GgmlType> Types(IEnumerable<TensorPlan> plans) => plans.ToDictionary(p => p.Name, p => p.TargetType);

    [Fact]
    public void Q4_K_M_gives_use_more_bits_layers_Q6_K()
    {
        var model = new ModelShape("llama", 32, 32, 32, 0);
        var types = Types(TensorTypePlanner.Plan(model, Llama(32), QuantizationPreset.Parse("Q4_K_M"), pure: false, hasImportance: false));
        // use_more_bits(i, 32): i < 4, i >= 28, or (i − 4) % 3 == 2.
        int[] more = Enumerable.Range(0, 32).Where(i => i < 4 || i >= 28 || (i - 4) % 3 == 2).ToArray();
        Assert.Equal([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31], more);
        for (int l = 0; l < 32; l++)
        {
            var expected = more.Contains(l) ? GgmlType.Q6_K : GgmlType.Q4_K;
            Assert.Equal(expected, types[$"blk.{l}.attn_v.weight"]);
            Assert.Equal(expected, types[$"blk.{l}.ffn_down.weight"]);
            Assert.Equal(GgmlType.Q4_K, types[$"blk.{l}.attn_q.weight"]);
            Assert.Equal(GgmlType.F32, types[$"blk.{l}.attn_norm.weight"]);
        }
        Assert.Equal(GgmlType.Q6_K, types["output.weight"]);
        Assert.Equal(GgmlType.Q4_K, types["token_embd.weight"]);
    }

    [Fact]
    public void Other_mixes_follow_llama_cpp_rules()
    {
        var model = new ModelShape("llama", 32, 32, 8, 0);
        var q4s = Types(TensorTypePlanner.Plan(model, Llama(32), QuantizationPreset.Parse("Q4_K_S"), false, false));
        Assert.Equal(GgmlType.Q5_K, q4s["blk.3.attn_v.weight"]);    // first four attn_v
        Assert.Equal(GgmlType.Q4_K, q4s["blk.4.attn_v.weight"]);
        Assert.Equal(GgmlType.Q5_K, q4s["blk.3.ffn_down.weight"]);  // first eighth of ffn_down
        Assert.Equal(GgmlType.Q4_K, q4s["blk.4.ffn_down.weight"]);

        var q2 = Types(TensorTypePlanner.Plan(model, Llama(32), QuantizationPreset.Parse("Q2_K"), false, false));
        Assert.Equal(GgmlType.Q4_K, q2["blk.0.attn_v.weight"]);     // n_gqa = 4
        Assert.Equal(GgmlType.Q3_K, q2["blk.0.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q3_K, q2["blk.0.attn_output.weight"]);
        Assert.Equal(GgmlType.Q2_K, q2["blk.0.attn_q.weight"]);

        var q3m = Types(TensorTypePlanner.Plan(model, Llama(32), QuantizationPreset.Parse("Q3_K_M"), false, false));
        Assert.Equal(GgmlType.Q5_K, q3m["blk.1.attn_v.weight"]);
        Assert.Equal(GgmlType.Q4_K, q3m["blk.2.attn_v.weight"]);
        Assert.Equal(GgmlType.Q5_K, q3m["blk.1.ffn_down.weight"]);  // layer < 32/16
        Assert.Equal(GgmlType.Q4_K, q3m["blk.2.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q4_K, q3m["blk.2.attn_output.weight"]);

        // Q4_0 with an importance matrix guards the first ffn_down layers with Q4_1; the output is Q6_K either way.
        var q40 = Types(TensorTypePlanner.Plan(model, Llama(32), QuantizationPreset.Parse("Q4_0"), false, hasImportance: true));
        Assert.Equal(GgmlType.Q4_1, q40["blk.3.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q4_0, q40["blk.4.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q6_K, q40["output.weight"]);
    }

    [Fact]
    public void A_tied_embedding_is_treated_as_the_output()
    {
        var model = new ModelShape("qwen2", 4, 8, 2, 0);
        var types = Types(TensorTypePlanner.Plan(model, Llama(4, 1024, 2816, tiedOutput: true), QuantizationPreset.Parse("Q4_K_M"), false, false));
        Assert.Equal(GgmlType.Q6_K, types["token_embd.weight"]);
    }

    [Fact]
    public void Pure_gives_every_matrix_the_one_type_and_leaves_vectors_alone()
    {
        var model = new ModelShape("llama", 8, 32, 32, 0);
        var plans = TensorTypePlanner.Plan(model, Llama(8), QuantizationPreset.Parse("Q4_K_M"), pure: true, hasImportance: false);
        Assert.All(plans, p => Assert.Equal(p.Shape.Length == 1 ? GgmlType.F32 : GgmlType.Q4_K, p.TargetType));
        Assert.All(plans.Where(p => p.Shape.Length == 1), p => Assert.False(p.Converts));
    }

    [Fact]
    public void Rows_that_do_not_fit_fall_back_and_say_why()
    {
        var model = new ModelShape("llama", 1, 4, 4, 0);
        var tensors = new[]
        {
            Matrix("blk.0.attn_q.weight", 320, 320),   // 320 = 10 × 32: Q4_K → Q5_0
            Matrix("blk.0.attn_k.weight", 100, 320),   // not even 32: → F16
            Matrix("blk.0.attn_v.weight", 512, 320),   // fits
        };
        var plans = TensorTypePlanner.Plan(model, tensors, QuantizationPreset.Parse("Q4_K_S"), pure: true, hasImportance: false).ToDictionary(p => p.Name);
        Assert.Equal(GgmlType.Q5_0, plans["blk.0.attn_q.weight"].TargetType);
        Assert.Contains("320 columns are not a multiple of 256", plans["blk.0.attn_q.weight"].Fallback);
        Assert.Equal(GgmlType.F16, plans["blk.0.attn_k.weight"].TargetType);
        Assert.Equal(GgmlType.Q4_K, plans["blk.0.attn_v.weight"].TargetType);
        Assert.Null(plans["blk.0.attn_v.weight"].Fallback);

        var q6 = TensorTypePlanner.Plan(model, [Matrix("blk.0.attn_q.weight", 320, 320)], QuantizationPreset.Parse("Q6_K"), true, false);
        Assert.Equal(GgmlType.Q8_0, q6[0].TargetType);
        var q5 = TensorTypePlanner.Plan(model, [Matrix("blk.0.attn_q.weight", 320, 320)], QuantizationPreset.Parse("Q5_K_S"), true, false);
        Assert.Equal(GgmlType.Q5_1, q5[0].TargetType);
    }

    [Theory]
    [InlineData("blk.0.attn_norm.weight", new long[] { 4096 }, false)]
    [InlineData("blk.0.attn_q.bias", new long[] { 4096 }, false)]
    [InlineData("blk.0.attn_q.weight", new long[] { 4096, 4096 }, true)]
    [InlineData("blk.0.ffn_down_exps.weight", new long[] { 1024, 512, 8 }, true)]
    [InlineData("blk.0.ffn_gate_inp.weight", new long[] { 4096, 8 }, false)]
    [InlineData("position_embd.weight", new long[] { 768, 1024 }, false)]
    [InlineData("blk.0.attn_q.weight", new long[] { 4096, 1 }, false)]
    public void Only_matrices_are_quantized(string name, long[] shape, bool quantized) =>
        Assert.Equal(quantized, TensorTypePlanner.IsQuantizable(name, shape));

    [Fact]
    public void Tensors_are_ordered_as_llama_cpp_orders_them()
    {
        string[] names = ["blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_up.weight", "blk.2.attn_k.weight", "output.weight"];
        var sorted = names.Order(Comparer<string>.Create(TensorTypePlanner.CompareNames)).ToArray();
        Assert.Equal(["output.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"], sorted);
    }

    [Fact]
    public void Preset_names_follow_llama_quantize()
    {
        Assert.Equal(LlamaFileType.MostlyQ4_K_M, QuantizationPreset.Parse("q4_k").FileType);
        Assert.Equal(LlamaFileType.MostlyQ3_K_M, QuantizationPreset.Parse("Q3_K").FileType);
        Assert.Equal(GgmlType.BF16, QuantizationPreset.Parse("BF16").DefaultType);
        var error = Assert.Throws<ArgumentException>(() => QuantizationPreset.Parse("Q7_X"));
        Assert.Contains("Q4_K_M", error.Message);
    }
}
