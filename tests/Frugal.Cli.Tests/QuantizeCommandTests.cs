using Frugal.Gguf;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

/// <summary><c>frugal quantize</c> and <c>frugal imatrix</c>: results, and one clear line with nothing left behind on failure.</summary>
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("frugal-cli-quantize-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private string Temp(string name) => Path.Combine(_directory, name);

    private static string Source => SharedData.Model("synth-llama-tok512-F32.gguf");

    /// <summary>The failure left nothing: neither the output nor its temporary file.</summary>
    private static void AssertNothingWritten(string output)
    {
        Assert.False(File.Exists(output), $"{output} was left behind");
        Assert.False(File.Exists(output + ".tmp"), $"{output}.tmp was left behind");
    }

    [SharedFact]
    public void Quantize_writes_llama_cpps_file_and_reports_progress()
    {
        string output = Temp("q4_0.gguf");
        var outcome = CliRunner.Run("quantize", Source, output, "--type", "Q4_0", "--pure", "--threads", "2");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("wrote " + output, outcome.Out);
        Assert.Contains("[12/12] blk.0.ffn_up.weight [256, 512] F32 -> Q4_0", outcome.Error);
        Assert.Equal(File.ReadAllBytes(SharedData.Model("synth-llama-tok512-Q4_0.gguf")), File.ReadAllBytes(output));
    }

    [SharedFact]
    public void Requantizing_needs_the_flag_and_then_warns()
    {
        string quantized = SharedData.Model("synth-llama-tok512-Q8_0.gguf");
        string output = Temp("requantized.gguf");
        var refused = CliRunner.Run("quantize", quantized, output, "--type", "Q4_0");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("--allow-requantize", refused.SingleErrorLine());
        AssertNothingWritten(output);

        var allowed = CliRunner.Run("quantize", quantized, output, "--type", "Q4_0", "--allow-requantize");
        Assert.Equal(0, allowed.ExitCode);
        Assert.Contains("frugal: warning: requantizing 9 tensors that are already quantized (Q8_0)", allowed.Error);
        using var file = GgufFile.Open(output);
        Assert.Equal(GgmlType.Q4_0, file.GetTensor("blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.Q6_K, file.GetTensor("output.weight").Type); // the Q4_0 mix keeps the output in Q6_K
    }

    [SharedFact]
    public void Fallbacks_are_reported()
    {
        // stories260K's rows hold 64 values: too short for the 256-element K-quant blocks.
        string output = Temp("stories-q4km.gguf");
        var outcome = CliRunner.Run("quantize", SharedData.Model("stories260K.gguf"), output, "--type", "Q4_K_M");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("frugal: warning: blk.0.attn_q.weight: 64 columns are not a multiple of 256, required for Q4_K: using Q5_0", outcome.Error);
        using var file = GgufFile.Open(output);
        Assert.Equal(GgmlType.Q5_0, file.GetTensor("blk.0.attn_q.weight").Type);
    }

    [Fact]
    public void A_missing_input_is_one_line()
    {
        string input = Temp("missing.gguf"), output = Temp("out.gguf");
        var outcome = CliRunner.Run("quantize", input, output, "--type", "Q4_0");
        Assert.Equal(1, outcome.ExitCode);
        string line = outcome.SingleErrorLine();
        Assert.Contains(input, line);
        Assert.Contains("not found", line);
        AssertNothingWritten(output);
    }

    [Fact]
    public void A_bad_type_is_a_usage_error_listing_the_types()
    {
        string output = Temp("out.gguf");
        var outcome = CliRunner.Run("quantize", Temp("in.gguf"), output, "--type", "Q7_X");
        Assert.Equal(2, outcome.ExitCode);
        string line = outcome.SingleErrorLine();
        Assert.Contains("Q7_X", line);
        Assert.Contains("Q4_K_M", line);
        AssertNothingWritten(output);
    }

    [Fact]
    public void The_type_is_required()
    {
        var outcome = CliRunner.Run("quantize", Temp("in.gguf"), Temp("out.gguf"));
        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("--type", outcome.SingleErrorLine());
    }

    [SharedFact]
    public void An_unwritable_output_is_one_line_and_leaves_nothing()
    {
        string output = Path.Combine(_directory, "no-such-folder", "out.gguf");
        var outcome = CliRunner.Run("quantize", Source, output, "--type", "Q8_0");
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("does not exist", outcome.SingleErrorLine());
        AssertNothingWritten(output);

        var directory = CliRunner.Run("quantize", Source, _directory, "--type", "Q8_0");
        Assert.Equal(1, directory.ExitCode);
        Assert.Contains("is a directory", directory.SingleErrorLine());

        var overwrite = CliRunner.Run("quantize", Source, Source, "--type", "Q8_0");
        Assert.Equal(1, overwrite.ExitCode);
        Assert.Contains("overwrite the input", overwrite.SingleErrorLine());
    }

    [SharedFact]
    public void A_broken_importance_matrix_is_one_line()
    {
        string imatrix = Temp("broken.imatrix");
        File.WriteAllBytes(imatrix, [1, 0, 0, 0, 5, 0]);
        string output = Temp("out.gguf");
        var outcome = CliRunner.Run("quantize", Source, output, "--type", "Q4_K", "--imatrix", imatrix);
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains(imatrix, outcome.SingleErrorLine());
        AssertNothingWritten(output);
    }

    [SharedFact]
    public void Imatrix_then_quantize_with_it()
    {
        string text = Temp("calibration.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ", 12)));
        string imatrix = Temp("tok512.imatrix");
        var collected = CliRunner.Run("imatrix", "--model", Source, "--text", text, "-o", imatrix, "--ctx", "64", "--chunks", "2");
        Assert.Equal(0, collected.ExitCode);
        Assert.Contains("wrote " + imatrix + ": 7 matrices from 2 batches", collected.Out);
        Assert.Contains("[chunk 2/2]", collected.Error);

        string output = Temp("q4_k.gguf");
        var quantized = CliRunner.Run("quantize", Source, output, "--type", "Q4_K_M", "--imatrix", imatrix);
        Assert.Equal(0, quantized.ExitCode);
        // llama.cpp's imatrix never measures the embedding, nor (by default) the output matrix.
        Assert.Contains("no importance data for 2 tensors (quantized without it): output.weight, token_embd.weight", quantized.Error);
        using var file = GgufFile.Open(output);
        Assert.Equal(imatrix, file.GetString("quantize.imatrix.file"));
        Assert.Equal(text, file.GetString("quantize.imatrix.dataset"));
        Assert.Equal(7, file.GetInt32("quantize.imatrix.entries_count"));
        Assert.Equal(2, file.GetInt32("quantize.imatrix.chunks_count"));
        Assert.Equal(15u, file.GetUInt32("general.file_type"));
    }

    [SharedFact]
    public void Imatrix_errors_are_one_line()
    {
        string output = Temp("out.imatrix");
        var noText = CliRunner.Run("imatrix", "--model", Source, "--text", Temp("missing.txt"), "-o", output);
        Assert.Equal(1, noText.ExitCode);
        Assert.Contains("calibration text not found", noText.SingleErrorLine());

        string text = Temp("short.txt");
        File.WriteAllText(text, "Once upon a time.");
        var tooShort = CliRunner.Run("imatrix", "--model", Source, "--text", text, "-o", output);
        Assert.Equal(1, tooShort.ExitCode);
        Assert.Contains("fewer than one chunk of 512", tooShort.SingleErrorLine());

        var noModel = CliRunner.Run("imatrix", "--model", Temp("missing.gguf"), "--text", text, "-o", output);
        Assert.Equal(1, noModel.ExitCode);
        Assert.Contains("not found", noModel.SingleErrorLine());

        var badContext = CliRunner.Run("imatrix", "--model", Source, "--text", text, "-o", output, "--ctx", "0");
        Assert.Equal(2, badContext.ExitCode);
        Assert.Contains("--ctx must be >= 1", badContext.SingleErrorLine());
        AssertNothingWritten(output);
    }
}
