using System.Text.Json;
using Frugal.Engine.Benchmarking;
using Frugal.Gguf;
using Frugal.Models;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

/// <summary><c>frugal bench</c> on stories260K with tiny counts: well-formed reports; bad flags refused.</summary>
public sealed class BenchCommandTests
{
    private static string Stories => SharedData.Model("stories260K.gguf");

    [SharedFact]
    public void Json_report_has_a_prefill_and_a_decode_row_per_thread_count()
    {
        var outcome = CliRunner.Run("bench", "--model", Stories, "--prompt-tokens", "16", "--gen-tokens", "8", "--threads", "1,2", "--repetitions", "3", "--json");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        Assert.All(outcome.Error.TrimEnd('\n').Split('\n'), line => Assert.StartsWith("frugal: bench: threads ", line));

        using var document = JsonDocument.Parse(outcome.Out);
        var root = document.RootElement;
        Assert.Equal(16, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(8, root.GetProperty("gen_tokens").GetInt32());
        Assert.Equal(3, root.GetProperty("repetitions").GetInt32());
        Assert.Equal(1, root.GetProperty("warmup_runs").GetInt32());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", root.GetProperty("date").GetString());
        Assert.StartsWith("simd=", root.GetProperty("simd").GetString());

        var model = root.GetProperty("model");
        Assert.Equal(Path.GetFullPath(Stories), model.GetProperty("path").GetString());
        Assert.Equal("llama", model.GetProperty("architecture").GetString());
        Assert.Equal(ExpectedWeightBytesPerToken(), model.GetProperty("weight_bytes_per_token").GetInt64());

        var bandwidth = root.GetProperty("bandwidth").EnumerateArray().ToArray();
        Assert.Equal(new[] { 1, 2 }, bandwidth.Select(b => b.GetProperty("threads").GetInt32()));
        Assert.All(bandwidth, b => Assert.True(b.GetProperty("bytes_per_second").GetDouble() > 1e8));

        var rows = root.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(new[] { ("prefill", 1), ("decode", 1), ("prefill", 2), ("decode", 2) },
            rows.Select(r => (r.GetProperty("test").GetString()!, r.GetProperty("threads").GetInt32())));
        foreach (var row in rows)
        {
            bool decode = row.GetProperty("test").GetString() == "decode";
            Assert.Equal(1, row.GetProperty("batch_size").GetInt32());
            Assert.Equal(decode ? 8 : 16, row.GetProperty("tokens").GetInt32());
            Assert.Equal(0, row.GetProperty("context_start").GetInt32());   // decode from an empty context, as llama-bench's tg
            var rate = row.GetProperty("tokens_per_second");
            double median = rate.GetProperty("median").GetDouble(), min = rate.GetProperty("min").GetDouble(), max = rate.GetProperty("max").GetDouble();
            Assert.Equal(3, rate.GetProperty("samples").GetArrayLength());
            Assert.True(min > 0 && min <= median && median <= max, $"min {min} median {median} max {max}");
            if (decode)
            {
                double weights = row.GetProperty("weight_bytes_per_second").GetDouble();
                Assert.Equal(median * ExpectedWeightBytesPerToken(), weights, 1e-6 * weights);
                double roofline = row.GetProperty("roofline_efficiency").GetDouble();
                Assert.Equal(weights / row.GetProperty("bandwidth_bytes_per_second").GetDouble(), roofline, 1e-9);
            }
            else
            {
                Assert.Equal(JsonValueKind.Null, row.GetProperty("weight_bytes_per_second").ValueKind);
                Assert.Equal(JsonValueKind.Null, row.GetProperty("roofline_efficiency").ValueKind);
            }
        }
    }

    [SharedFact]
    public void Batch_sizes_add_aggregate_decode_rows_at_the_asked_depth()
    {
        var outcome = CliRunner.Run("bench", "--model", Stories, "--prompt-tokens", "0", "--gen-tokens", "6", "--depth", "20",
            "--batch", "1,3", "--threads", "1", "--repetitions", "2", "--json");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        using var document = JsonDocument.Parse(outcome.Out);
        Assert.Equal(20, document.RootElement.GetProperty("depth").GetInt32());
        var rows = document.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(new[] { ("decode", 1), ("decode", 3) }, rows.Select(r => (r.GetProperty("test").GetString()!, r.GetProperty("batch_size").GetInt32())));
        foreach (var row in rows)
        {
            Assert.Equal(6, row.GetProperty("tokens").GetInt32());
            Assert.Equal(20, row.GetProperty("context_start").GetInt32());
            // Each step reads the weights once for all sequences: weight traffic = aggregate tokens/s ÷ batch size × bytes per step.
            double aggregate = row.GetProperty("tokens_per_second").GetProperty("median").GetDouble();
            double weights = row.GetProperty("weight_bytes_per_second").GetDouble();
            Assert.Equal(aggregate / row.GetProperty("batch_size").GetInt32() * ExpectedWeightBytesPerToken(), weights, 1e-6 * weights);
        }

        var text = CliRunner.Run("bench", "--model", Stories, "--prompt-tokens", "0", "--gen-tokens", "4", "--batch", "2", "--threads", "1", "--repetitions", "1");
        Assert.True(text.ExitCode == 0, text.Error);
        Assert.Contains("decode 4 x2", text.Out);
        Assert.DoesNotContain("decode 4 ", text.Out.Replace("decode 4 x2", ""));
    }

    private static long ExpectedWeightBytesPerToken() => ExpectedWeightBytesPerToken(Stories);

    /// <summary>Every matrix once (a tied embedding counted as the output matrix) plus one embedding row.</summary>
    private static long ExpectedWeightBytesPerToken(string path)
    {
        using var file = GgufFile.Open(path);
        var embedding = file.GetTensor("token_embd.weight");
        long matrices = file.Tensors.Where(t => t.Rank == 2 && t.Name != "token_embd.weight").Sum(t => t.ByteSize);
        if (file.FindTensor("output.weight") is null) matrices += embedding.ByteSize;
        return matrices + embedding.ByteSize / embedding.Shape[1];
    }

    [SharedFact]
    public void Text_report_is_a_table_with_the_bandwidth_line()
    {
        var outcome = CliRunner.Run("bench", "-m", Stories, "-p", "8", "-n", "4", "-t", "1", "-r", "1");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        string[] lines = outcome.Out.Split('\n');
        Assert.StartsWith("model: ", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("threads  test") && l.Contains("roofline"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s*1  prefill 8\s+[0-9.]+\s+[0-9.]+-[0-9.]+\s+-\s+-\s+-$"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s*1  decode 4\s+[0-9.]+\s+[0-9.]+-[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+%$"));
        Assert.Contains(lines, l => l.StartsWith("read bandwidth: ") && l.Contains("GB/s with 1 thread"));
    }

    [SharedFact]
    public void Prefill_only_has_no_decode_row()
    {
        var outcome = CliRunner.Run("bench", "-m", Stories, "-p", "8", "-n", "0", "-t", "1", "-r", "1", "--json");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        using var document = JsonDocument.Parse(outcome.Out);
        Assert.Equal(new[] { "prefill" }, document.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("test").GetString()));
    }

    [Theory]
    [InlineData("--threads", "0", "--threads: '0'")]
    [InlineData("--threads", "1,x", "--threads: 'x'")]
    [InlineData("--threads", ",", "--threads needs at least one")]
    [InlineData("--repetitions", "0", "--repetitions must be >= 1")]
    [InlineData("--prompt-tokens", "-3", "--prompt-tokens must be >= 0")]
    [InlineData("--gen-tokens", "many", "--gen-tokens: 'many' is not a whole number")]
    [InlineData("--batch", "0", "--batch: '0' is not a batch size")]
    [InlineData("--batch", "1,300", "--batch: '300' is not a batch size (expected whole numbers from 1 to 256")]
    [InlineData("--depth", "-1", "--depth must be >= 0")]
    public void Bad_flags_are_usage_errors(string flag, string value, string message)
    {
        var outcome = CliRunner.Run("bench", "--model", "any.gguf", flag, value);
        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains(message, outcome.SingleErrorLine());
        Assert.Equal("", outcome.Out);
    }

    [Fact]
    public void Nothing_to_measure_is_a_usage_error()
    {
        var outcome = CliRunner.Run("bench", "--model", "any.gguf", "-p", "0", "-n", "0");
        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("nothing to measure", outcome.SingleErrorLine());
    }

    [Fact]
    public void A_missing_model_is_one_line()
    {
        var outcome = CliRunner.Run("bench", "--model", "/nonexistent/model.gguf", "-p", "4", "-n", "4", "-t", "1", "-r", "1");
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("/nonexistent/model.gguf", outcome.SingleErrorLine());
    }

    [SharedTheory]
    [InlineData("synth-llama-spm-Q4_0.gguf")]   // separate output matrix
    [InlineData("synth-qwen2-gpt2-Q8_0.gguf")]  // output tied to the embedding
    public void Weight_bytes_per_token_counts_every_matrix_once_and_one_embedding_row(string fixture)
    {
        string path = SharedData.Model(fixture);
        using var model = Model.Load(path, new ModelLoadOptions { Threads = 1 });
        Assert.Equal(ExpectedWeightBytesPerToken(path), BenchmarkRunner.WeightBytesPerToken(model.Binding.Weights));
    }

    [Fact]
    public void Spread_takes_the_median_and_keeps_the_samples_in_order()
    {
        var odd = Spread.Of([5.0, 1.0, 3.0]);
        Assert.Equal((3.0, 1.0, 5.0), (odd.Median, odd.Min, odd.Max));
        Assert.Equal(new[] { 5.0, 1.0, 3.0 }, odd.Samples);
        Assert.Equal(2.5, Spread.Of([4.0, 1.0, 2.0, 3.0]).Median);
        Assert.Throws<ArgumentException>(() => Spread.Of(Array.Empty<double>()));
    }
}
