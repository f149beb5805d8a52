using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Gguf.Tests;

/// <summary>Reads every GGUF fixture in ../shared and checks facts known about it.</summary>
public sealed class SharedFileTests
{
    public static TheoryData<string, string> AllFiles()
    {
        var data = new TheoryData<string, string>();
        if (!SharedData.Available) { data.Add("models", "(none)"); return data; }
        foreach (string folder in new[] { "models", "vocab" })
            foreach (string file in Directory.GetFiles(SharedData.Path(folder), "*.gguf").Order(StringComparer.Ordinal))
                data.Add(folder, System.IO.Path.GetFileName(file));
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(AllFiles))]
    public void EveryFixtureOpensAndIsConsistent(string folder, string fileName)
    {
        string path = SharedData.Path(folder, fileName);
        using var file = GgufFile.Open(path);

        Assert.Equal(3u, file.Version);
        Assert.Equal(32ul, file.Alignment);
        Assert.Equal(new FileInfo(path).Length, file.FileSize);
        Assert.Equal(file.MetadataInOrder.Count, file.Metadata.Count);
        Assert.False(string.IsNullOrEmpty(file.GetString("general.architecture")));

        string[] tokens = file.GetArray("tokenizer.ggml.tokens").AsStrings();
        Assert.True(tokens.Length > 500, $"only {tokens.Length} tokens");
        Assert.Equal(tokens.Length, file.GetArray("tokenizer.ggml.token_type").AsInt32s().Length);
        Assert.False(string.IsNullOrEmpty(file.GetString("tokenizer.ggml.model")));

        if (folder == "vocab") Assert.Empty(file.Tensors);
        else Assert.NotEmpty(file.Tensors);

        // Tensors lie inside the data section, aligned, without overlapping each other.
        long end = 0;
        foreach (var t in file.Tensors.OrderBy(t => t.Offset))
        {
            Assert.Equal(0ul, t.Offset % file.Alignment);
            Assert.True((long)t.Offset >= end, $"{t.Name} overlaps the tensor before it");
            end = (long)t.Offset + t.ByteSize;
            Assert.True(file.DataOffset + end <= file.FileSize);
            Assert.Equal(t.ByteSize, t.RowBytes * t.Rows);
            Assert.Same(t, file.GetTensor(t.Name));
            Assert.Equal(t.ByteSize, file.TensorBytes(t).Length);
        }
    }

    [SharedFact]
    public void Stories260KHasItsKnownMetadataAndTensors()
    {
        using var file = GgufFile.Open(SharedData.Model("stories260K.gguf"));
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(64u, file.GetUInt32("llama.embedding_length"));
        Assert.Equal(5, file.GetInt32("llama.block_count"));
        Assert.Equal(8u, file.GetUInt32("llama.attention.head_count"));
        Assert.Equal(4u, file.GetUInt32("llama.attention.head_count_kv"));
        Assert.Equal(172u, file.GetUInt32("llama.feed_forward_length"));
        Assert.Equal(1e-5f, file.GetFloat32("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal(1u, file.GetUInt32("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2u, file.GetUInt32("tokenizer.ggml.eos_token_id"));

        var tokens = file.GetArray("tokenizer.ggml.tokens");
        Assert.Equal(GgufValueType.String, tokens.ElementType);
        Assert.Equal(512, tokens.Count);
        string[] strings = tokens.AsStrings();
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], strings[..4]);
        Assert.Equal(512, file.GetArray("tokenizer.ggml.scores").AsFloat32s().Length);

        var embedding = file.GetTensor("token_embd.weight");
        Assert.Equal([64L, 512L], embedding.Shape);
        Assert.Equal(GgmlType.F32, embedding.Type);
        Assert.Equal(512, embedding.Rows);
        Assert.Equal(256, embedding.RowBytes);
        Assert.Equal(64L * 512 * 4, embedding.ByteSize);
        Assert.Equal(5 * 9 + 3, file.Tensors.Count);

        // Trained weights: finite, not all zero.
        var weights = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.TensorBytes(embedding));
        Assert.All(weights.ToArray(), w => Assert.True(float.IsFinite(w)));
        Assert.Contains(weights.ToArray(), w => w != 0);
        Assert.Equal("missing required tensor 'nope'", Assert.Throws<GgufException>(() => file.GetTensor("nope")).Problem);
    }

    [SharedTheory]
    [InlineData("F32", GgmlType.F32)]
    [InlineData("Q8_0", GgmlType.Q8_0)]
    [InlineData("Q4_0", GgmlType.Q4_0)]
    [InlineData("Q4_1", GgmlType.Q4_1)]
    [InlineData("Q5_0", GgmlType.Q5_0)]
    [InlineData("Q5_1", GgmlType.Q5_1)]
    [InlineData("Q2_K", GgmlType.Q2_K)]
    [InlineData("Q3_K", GgmlType.Q3_K)]
    [InlineData("Q4_K", GgmlType.Q4_K)]
    [InlineData("Q5_K", GgmlType.Q5_K)]
    [InlineData("Q6_K", GgmlType.Q6_K)]
    public void PureQuantizedFixturesUseOneMatrixType(string suffix, GgmlType expected)
    {
        using var file = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{suffix}.gguf"));
        Assert.Equal(512, file.GetArray("tokenizer.ggml.tokens").Count);
        Assert.Equal(256u, file.GetUInt32("llama.embedding_length"));
        foreach (var t in file.Tensors.Where(t => t.Rank == 2))
            Assert.True(t.Type == expected, $"{t} should be {expected}");
        var embedding = file.GetTensor("token_embd.weight");
        Assert.Equal([256L, 512L], embedding.Shape);
    }

    [SharedFact]
    public void MixedPresetsAndOtherArchitecturesReadCorrectly()
    {
        using (var file = GgufFile.Open(SharedData.Model("synth-llama-spm-Q4_K_M.gguf")))
        {
            Assert.Equal(32000, file.GetArray("tokenizer.ggml.tokens").Count);
            var types = file.Tensors.Select(t => t.Type).ToHashSet();
            Assert.Contains(GgmlType.Q4_K, types);
            Assert.Contains(GgmlType.Q6_K, types);
            Assert.True(file.GetBool("tokenizer.ggml.add_bos_token"));
        }
        using (var file = GgufFile.Open(SharedData.Model("synth-qwen2-gpt2-F16.gguf")))
        {
            Assert.Equal("qwen2", file.GetString("general.architecture"));
            Assert.Equal(1e6f, file.GetFloat32("qwen2.rope.freq_base"));
            Assert.Equal(50257, file.GetArray("tokenizer.ggml.tokens").Count);
            Assert.Equal("Ġ t", file.GetArray("tokenizer.ggml.merges").AsStrings()[0]);
            Assert.Null(file.FindTensor("output.weight")); // tied to the embedding
            Assert.NotNull(file.FindTensor("blk.0.attn_q.bias"));
        }
    }

    [SharedFact]
    public void VocabularyOnlyFilesMayEndBeforeTheDataSection()
    {
        using var file = GgufFile.Open(SharedData.Path("vocab", "ggml-vocab-bert-bge.gguf"));
        Assert.Equal("bert", file.GetString("tokenizer.ggml.model"));
        Assert.Equal(30522, file.GetArray("tokenizer.ggml.tokens").Count);
        Assert.Equal(100u, file.GetUInt32("tokenizer.ggml.unknown_token_id"));
        Assert.True(file.DataOffset > file.FileSize);
    }
}
