using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

public class InspectTests
{
    private static string Stories => SharedData.Model("stories260K.gguf");

    [SharedFact]
    public void Text_report_lists_metadata_tensors_and_totals()
    {
        var outcome = CliRunner.Run("inspect", Stories);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("", outcome.Error);
        Assert.Contains("metadata (19 keys):", outcome.Out);
        Assert.Matches(@"tokenizer\.ggml\.tokens\s+array\s+\[string × 512: ""<unk>"", ""<s>"", ""</s>""", outcome.Out);
        Assert.Matches(@"general\.architecture\s+string\s+""llama""", outcome.Out);
        Assert.Contains("tensors (48):", outcome.Out);
        Assert.Matches(@"token_embd\.weight\s+F32\s+\[64, 512\]\s+131,072", outcome.Out);
        // stories260K: 292,800 F32 weights.
        Assert.Contains("totals: 48 tensors, 292,800 parameters, 1,171,200 bytes, 4 bytes per weight", outcome.Out);
    }

    [SharedFact]
    public void Json_report_summarizes_arrays_and_counts_every_tensor()
    {
        var outcome = CliRunner.Run("inspect", Stories, "--json");
        Assert.Equal(0, outcome.ExitCode);
        using var json = JsonDocument.Parse(outcome.Out);
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("version").GetInt32());

        var metadata = root.GetProperty("metadata").EnumerateArray().ToDictionary(m => m.GetProperty("key").GetString()!);
        var tokens = metadata["tokenizer.ggml.tokens"];
        Assert.Equal("array", tokens.GetProperty("type").GetString());
        Assert.Equal("string", tokens.GetProperty("element_type").GetString());
        Assert.Equal(512, tokens.GetProperty("count").GetInt32());
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>", "<0x01>"], tokens.GetProperty("first").EnumerateArray().Select(t => t.GetString()!));
        Assert.Equal(5, metadata["llama.block_count"].GetProperty("value").GetInt32());
        Assert.Equal(1e-5f, metadata["llama.attention.layer_norm_rms_epsilon"].GetProperty("value").GetSingle());

        var tensors = root.GetProperty("tensors").EnumerateArray().ToArray();
        Assert.Equal(48, tensors.Length);
        var embedding = tensors.Single(t => t.GetProperty("name").GetString() == "token_embd.weight");
        Assert.Equal([64L, 512L], embedding.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal("F32", embedding.GetProperty("type").GetString());

        var totals = root.GetProperty("totals");
        long parameters = tensors.Sum(t => t.GetProperty("shape").EnumerateArray().Aggregate(1L, (product, d) => product * d.GetInt64()));
        Assert.Equal(parameters, totals.GetProperty("parameters").GetInt64());
        Assert.Equal(tensors.Sum(t => t.GetProperty("bytes").GetInt64()), totals.GetProperty("bytes").GetInt64());
        Assert.Equal(4.0, totals.GetProperty("bytes_per_weight").GetDouble());
    }

    [SharedFact]
    public void Quantized_models_report_their_mixed_types_and_bits_per_weight()
    {
        var outcome = CliRunner.Run("inspect", SharedData.Model("synth-llama-spm-Q4_K_M.gguf"), "--json");
        Assert.Equal(0, outcome.ExitCode);
        using var json = JsonDocument.Parse(outcome.Out);
        var types = json.RootElement.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("type").GetString()).ToHashSet();
        Assert.Contains("Q4_K", types);
        Assert.Contains("Q6_K", types);
        double bytesPerWeight = json.RootElement.GetProperty("totals").GetProperty("bytes_per_weight").GetDouble();
        Assert.InRange(bytesPerWeight, 0.5, 1.0);
    }
}
