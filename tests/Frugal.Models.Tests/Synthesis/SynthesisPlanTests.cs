using Frugal.Gguf;
using Frugal.Models.Synthesis;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Synthesis;

/// <summary>The planned metadata and tensors of every shape, checked without writing the big files.</summary>
public sealed class SynthesisPlanTests
{
    public static TheoryData<string, int, long> RealShapes => new()
    {
        // shape, the real model's vocabulary size, its parameter count as its model card / safetensors report it
        { "tinyllama-1.1b", 32000, 1_100_048_384 },
        { "llama-3.2-1b", 128256, 1_235_814_400 },
        { "smollm2-135m", 49152, 134_515_008 },
        { "qwen2.5-0.5b", 151936, 494_032_768 },
    };

    [Theory]
    [MemberData(nameof(RealShapes))]
    public void Real_shapes_have_the_real_models_parameter_count(string name, int vocab, long parameters)
    {
        var plan = SynthesisPlan.Create(ModelShapes.Get(name), WeightFormat.F16, vocab);
        Assert.Equal(parameters, plan.ParameterCount);
    }

    [Theory]
    [InlineData("tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, false, false, 10000f, 1e-5f)]
    [InlineData("llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, true, false, 500000f, 1e-5f)]
    [InlineData("smollm2-135m", "llama", 576, 30, 9, 3, 1536, true, false, 100000f, 1e-5f)]
    [InlineData("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, true, true, 1000000f, 1e-6f)]
    public void Metadata_carries_the_hyper_parameters_under_llama_cpp_keys(string name, string arch, int dim, int layers,
        int heads, int kvHeads, int ffn, bool tied, bool biases, float ropeBase, float epsilon)
    {
        var plan = SynthesisPlan.Create(ModelShapes.Get(name), WeightFormat.Q4_K_M, 1000);
        var metadata = plan.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(arch, metadata["general.architecture"].Value);
        Assert.Equal((uint)dim, metadata[$"{arch}.embedding_length"].Value);
        Assert.Equal((uint)layers, metadata[$"{arch}.block_count"].Value);
        Assert.Equal((uint)heads, metadata[$"{arch}.attention.head_count"].Value);
        Assert.Equal((uint)kvHeads, metadata[$"{arch}.attention.head_count_kv"].Value);
        Assert.Equal((uint)ffn, metadata[$"{arch}.feed_forward_length"].Value);
        Assert.Equal((uint)(dim / heads), metadata[$"{arch}.rope.dimension_count"].Value);
        Assert.Equal(ropeBase, metadata[$"{arch}.rope.freq_base"].Value);
        Assert.Equal(epsilon, metadata[$"{arch}.attention.layer_norm_rms_epsilon"].Value);
        Assert.Equal(1000u, metadata[$"{arch}.vocab_size"].Value);
        Assert.True((uint)metadata[$"{arch}.context_length"].Value >= 2048);
        Assert.Equal(15u, metadata["general.file_type"].Value);
        Assert.Equal(32u, metadata["general.alignment"].Value);
        Assert.Equal(GgufValueType.UInt32, metadata["general.quantization_version"].Type);

        var names = plan.Tensors.Select(t => t.Name).ToHashSet();
        Assert.Equal(!tied, names.Contains("output.weight"));
        Assert.Equal(biases, names.Contains("blk.0.attn_q.bias"));
        int perLayer = 9 + (biases ? 3 : 0);
        Assert.Equal(2 + (tied ? 0 : 1) + layers * perLayer, plan.Tensors.Count);
        var query = plan.Tensors.Single(t => t.Name == $"blk.{layers - 1}.attn_q.weight");
        Assert.Equal(new long[] { dim, dim }, query.Shape);
        var key = plan.Tensors.Single(t => t.Name == "blk.0.attn_k.weight");
        Assert.Equal(new long[] { dim, kvHeads * (dim / heads) }, key.Shape);
        var down = plan.Tensors.Single(t => t.Name == "blk.0.ffn_down.weight");
        Assert.Equal(new long[] { ffn, dim }, down.Shape);
        Assert.Equal(new long[] { dim, 1000 }, plan.Tensors.Single(t => t.Name == "token_embd.weight").Shape);
    }

    [Fact]
    public void TinyLlama_Q4_0_plans_the_sizes_llama_cpp_writes()
    {
        var plan = SynthesisPlan.Create(ModelShapes.TinyLlama, WeightFormat.Q4_0, 32000);
        var output = plan.Tensors.Single(t => t.Name == "output.weight");
        Assert.Equal(GgmlType.Q6_K, output.Type);
        Assert.Equal(32000L * 2048 / 256 * 210, output.ByteSize);
        Assert.All(plan.Tensors.Where(t => t.Shape.Length == 2 && t.Name != "output.weight"), t => Assert.Equal(GgmlType.Q4_0, t.Type));
        Assert.All(plan.Tensors.Where(t => t.Shape.Length == 1), t => Assert.Equal(GgmlType.F32, t.Type));
        // Everything but the output matrix is 18 bytes per 32 weights; vectors are 4 bytes per value.
        long expected = output.ByteSize + plan.Tensors.Where(t => t.Shape.Length == 2 && t.Name != "output.weight").Sum(t => t.ElementCount / 32 * 18)
            + plan.Tensors.Where(t => t.Shape.Length == 1).Sum(t => t.ElementCount * 4);
        Assert.Equal(expected, plan.TensorBytes);
        Assert.InRange(plan.TensorBytes / 1048576.0, 600, 620); // llama.cpp's tinyllama Q4_0: 606.53 MiB
    }

    [Fact]
    public void Use_more_bits_picks_llama_cpps_layers()
    {
        int[] picked = Enumerable.Range(0, 22).Where(i => QuantizationMix.UseMoreBits(i, 22)).ToArray();
        Assert.Equal(new[] { 0, 1, 4, 7, 10, 13, 16, 19, 20, 21 }, picked);
        var plan = SynthesisPlan.Create(ModelShapes.TinyLlama, WeightFormat.Q4_K_M, 32000);
        foreach (var tensor in plan.Tensors.Where(t => t.Name.EndsWith("attn_v.weight") || t.Name.EndsWith("ffn_down.weight")))
            Assert.Equal(picked.Contains(tensor.Layer) ? GgmlType.Q6_K : GgmlType.Q4_K, tensor.Type);
        Assert.Equal(GgmlType.Q6_K, plan.Tensors.Single(t => t.Name == "output.weight").Type);
        Assert.Equal(GgmlType.Q4_K, plan.Tensors.Single(t => t.Name == "token_embd.weight").Type);
    }

    [Fact]
    public void Qwen_rows_of_896_fall_back_like_llama_cpp()
    {
        // 896 is not a multiple of 256: Q4_K → Q5_0, Q6_K → Q8_0, and the tied embedding (the output) → Q8_0.
        var plan = SynthesisPlan.Create(ModelShapes.Qwen25_05B, WeightFormat.Q4_K_M, 151936);
        GgmlType TypeOf(string name) => plan.Tensors.Single(t => t.Name == name).Type;
        Assert.Equal(GgmlType.Q8_0, TypeOf("token_embd.weight"));
        Assert.Equal(GgmlType.Q5_0, TypeOf("blk.5.attn_q.weight"));
        Assert.Equal(GgmlType.Q8_0, TypeOf("blk.0.attn_v.weight"));   // use_more_bits layer: Q6_K → Q8_0
        Assert.Equal(GgmlType.Q5_0, TypeOf("blk.3.attn_v.weight"));
        Assert.Equal(GgmlType.Q6_K, TypeOf("blk.0.ffn_down.weight")); // 4864 columns = 19 super-blocks
        Assert.Equal(GgmlType.Q4_K, TypeOf("blk.3.ffn_down.weight"));
    }

    [Fact]
    public void Tied_Q4_0_model_stores_its_embedding_as_the_output_matrix()
    {
        var plan = SynthesisPlan.Create(ModelShapes.Llama32_1B, WeightFormat.Q4_0, 128256);
        Assert.Equal(GgmlType.Q6_K, plan.Tensors.Single(t => t.Name == "token_embd.weight").Type);
        Assert.DoesNotContain(plan.Tensors, t => t.Name == "output.weight");
    }

    /// <summary>The fixtures llama.cpp quantized itself: our plan must choose the same type for every tensor.</summary>
    [SharedTheory]
    [InlineData("synth-llama-spm-F16.gguf", WeightFormat.F16)]
    [InlineData("synth-llama-spm-Q8_0.gguf", WeightFormat.Q8_0)]
    [InlineData("synth-llama-spm-Q4_0.gguf", WeightFormat.Q4_0)]
    [InlineData("synth-llama-spm-Q6_K.gguf", WeightFormat.Q6_K)]
    [InlineData("synth-llama-spm-Q4_K_M.gguf", WeightFormat.Q4_K_M)]
    [InlineData("synth-qwen2-gpt2-F16.gguf", WeightFormat.F16)]
    [InlineData("synth-qwen2-gpt2-Q8_0.gguf", WeightFormat.Q8_0)]
    [InlineData("synth-qwen2-gpt2-Q4_K_M.gguf", WeightFormat.Q4_K_M)]
    public void Plan_matches_the_tensors_llama_cpp_wrote(string fixture, WeightFormat format)
    {
        using var file = GgufFile.Open(SharedData.Model(fixture));
        string arch = file.GetString("general.architecture");
        var shape = new ModelShape
        {
            Name = fixture, Architecture = arch,
            EmbeddingDim = (int)file.GetUInt32($"{arch}.embedding_length"),
            Layers = (int)file.GetUInt32($"{arch}.block_count"),
            Heads = (int)file.GetUInt32($"{arch}.attention.head_count"),
            KvHeads = (int)file.GetUInt32($"{arch}.attention.head_count_kv"),
            FeedForwardDim = (int)file.GetUInt32($"{arch}.feed_forward_length"),
            ContextLength = (int)file.GetUInt32($"{arch}.context_length"),
            TiedOutput = file.FindTensor("output.weight") is null,
            QkvBias = file.FindTensor("blk.0.attn_q.bias") is not null,
        };
        var plan = SynthesisPlan.Create(shape, format, file.GetArray("tokenizer.ggml.tokens").Count);
        Assert.Equal(file.GetUInt32("general.file_type"), QuantizationMix.FileType(format));
        Assert.Equal(file.Tensors.Select(t => t.Name).Order(), plan.Tensors.Select(t => t.Name).Order());
        foreach (var planned in plan.Tensors)
        {
            var written = file.GetTensor(planned.Name);
            Assert.True(written.Type == planned.Type, $"{planned.Name}: llama.cpp wrote {GgmlTypes.Name(written.Type)}, plan says {GgmlTypes.Name(planned.Type)}");
            Assert.Equal(written.Shape, planned.Shape);
            Assert.Equal(written.ByteSize, planned.ByteSize);
        }
    }

    [Fact]
    public void Unknown_names_are_refused_with_the_known_ones()
    {
        var shape = Assert.Throws<ArgumentException>(() => ModelShapes.Get("gpt-5"));
        Assert.Contains("tinyllama-1.1b", shape.Message);
        var format = Assert.Throws<ArgumentException>(() => QuantizationMix.Parse("Q3_K"));
        Assert.Contains("Q4_K_M", format.Message);
        Assert.Equal(WeightFormat.Q4_K_M, QuantizationMix.Parse("q4_k_m"));
    }

    [Fact]
    public void Rows_that_no_block_tiles_are_refused()
    {
        var odd = ModelShapes.TestTiny with { Name = "odd", EmbeddingDim = 40, Heads = 2, KvHeads = 1 };
        var error = Assert.Throws<ArgumentException>(() => SynthesisPlan.Create(odd, WeightFormat.Q8_0, 100));
        Assert.Contains("not a whole number of Q8_0 blocks", error.Message);
        // F16 has no blocks: any width works.
        Assert.Equal(GgmlType.F16, SynthesisPlan.Create(odd, WeightFormat.F16, 100).Tensors[0].Type);
    }
}
