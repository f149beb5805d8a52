using System.Text.Json;
using Frugal.Gguf;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

/// <summary><c>frugal perplexity</c> and <c>frugal prune</c> on stories260K: results, and one clear line with nothing left behind on failure.</summary>
public sealed class PerplexityPruneCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("frugal-cli-prune-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private string Temp(string name) => Path.Combine(_directory, name);

    private static string Stories => SharedData.Model("stories260K.gguf");

    /// <summary>The children's stories of the compression tests (tests/Frugal.Compression.Tests/Data/stories.txt).</summary>
    private static string StoriesText
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "Frugal.Compression.Tests", "Data", "stories.txt");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException("stories.txt not found above " + AppContext.BaseDirectory);
        }
    }

    private static void AssertNothingWritten(string output)
    {
        Assert.False(File.Exists(output), $"{output} was left behind");
        Assert.False(File.Exists(output + ".tmp"), $"{output}.tmp was left behind");
    }

    [SharedFact]
    public void Perplexity_prints_the_score_and_what_was_scored()
    {
        var outcome = CliRunner.Run("perplexity", "-m", Stories, "--text", StoriesText, "--ctx", "128", "--chunks", "3", "-t", "2");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Matches(@"^perplexity: \d+\.\d{4} ± \d+\.\d{4} \(3 chunks of 128 tokens, 189 tokens scored\)\s*$", outcome.Out);
        Assert.Contains("[chunk 3/3]", outcome.Error);
    }

    [SharedFact]
    public void Perplexity_against_itself_as_json_reports_no_divergence()
    {
        var outcome = CliRunner.Run("perplexity", "-m", Stories, "--base", Stories, "--text", StoriesText, "--ctx", "128", "--chunks", "2", "--json", "-t", "2");
        Assert.Equal(0, outcome.ExitCode);
        using var json = JsonDocument.Parse(outcome.Out);
        var root = json.RootElement;
        Assert.Equal(126, root.GetProperty("tokens_scored").GetInt64());
        Assert.InRange(root.GetProperty("perplexity").GetDouble(), 1.5, 20);
        var versus = root.GetProperty("base");
        Assert.Equal(0.0, versus.GetProperty("kl_divergence").GetDouble());
        Assert.Equal(1.0, versus.GetProperty("top1_agreement").GetDouble());
        Assert.Equal(0.0, versus.GetProperty("ln_perplexity_ratio").GetDouble());
        Assert.Equal(root.GetProperty("perplexity").GetDouble(), versus.GetProperty("base_perplexity").GetDouble());
    }

    [SharedFact]
    public void Perplexity_refuses_a_base_with_another_tokenizer()
    {
        var outcome = CliRunner.Run("perplexity", "-m", Stories, "--base", SharedData.Model("synth-qwen2-gpt2-F16.gguf"), "--text", StoriesText, "--ctx", "128", "--chunks", "1");
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("same tokenizer", outcome.SingleErrorLine());
    }

    [SharedTheory]
    [InlineData("missing text", "--text", "/nonexistent/stories.txt")]
    [InlineData("context too small", "--ctx", "2")]
    [InlineData("context not a number", "--ctx", "many")]
    [InlineData("too few tokens", "--ctx", "100000")]
    public void Perplexity_bad_input_is_one_line(string why, string option, string value)
    {
        var outcome = CliRunner.Run(option == "--text" ? ["perplexity", "-m", Stories, option, value] : ["perplexity", "-m", Stories, "--text", StoriesText, option, value]);
        Assert.NotEqual(0, outcome.ExitCode);
        Assert.False(string.IsNullOrEmpty(outcome.SingleErrorLine()), why);
    }

    [SharedFact]
    public void Prune_ffn_writes_a_smaller_model_that_loads()
    {
        string output = Temp("ffn.gguf");
        var outcome = CliRunner.Run("prune", Stories, output, "--ffn", "0.25", "--text", StoriesText, "--ctx", "128", "--chunks", "3", "-t", "2");
        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith($"wrote {output}: FFN 172 -> 129 neurons per layer (importance)", outcome.Out);
        using (var file = GgufFile.Open(output)) Assert.Equal(129u, file.GetUInt32("llama.feed_forward_length"));
        var run = CliRunner.Run("perplexity", "-m", output, "--text", StoriesText, "--ctx", "128", "--chunks", "1");
        Assert.Equal(0, run.ExitCode);
    }

    [SharedFact]
    public void Prune_random_needs_no_text_and_layers_renumber()
    {
        string random = Temp("random.gguf");
        Assert.Equal(0, CliRunner.Run("prune", Stories, random, "--ffn", "0.1", "--method", "random", "--seed", "5").ExitCode);
        string layers = Temp("layers.gguf");
        var outcome = CliRunner.Run("prune", Stories, layers, "--layers", "2", "--text", StoriesText, "--ctx", "128", "--chunks", "2");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Matches(@"^wrote .*: layers 5 -> 3 \(removed \d, \d\)", outcome.Out);
        Assert.Contains("cosine similarity per layer", outcome.Error);
        using var file = GgufFile.Open(layers);
        Assert.Equal(3u, file.GetUInt32("llama.block_count"));
    }

    [SharedTheory]
    [InlineData("ratio zero", 2, "--ffn", "0")]
    [InlineData("ratio one", 2, "--ffn", "1")]
    [InlineData("ratio not a number", 2, "--ffn", "half")]
    [InlineData("no layers", 2, "--layers", "0")]
    [InlineData("all layers", 1, "--layers", "5")]
    [InlineData("both modes", 2, "--ffn", "0.1", "--layers", "1")]
    [InlineData("neither mode", 2)]
    [InlineData("bad method", 2, "--ffn", "0.1", "--method", "magnitude")]
    [InlineData("method with layers", 2, "--layers", "1", "--method", "random")]
    public void Prune_bad_values_are_one_line_and_write_nothing(string why, int exitCode, params string[] options)
    {
        string output = Temp("out.gguf");
        var outcome = CliRunner.Run(["prune", Stories, output, "--text", StoriesText, "--ctx", "128", "--chunks", "1", .. options]);
        Assert.True(exitCode == outcome.ExitCode, $"{why}: exit {outcome.ExitCode}, {outcome.Error}");
        outcome.SingleErrorLine();
        AssertNothingWritten(output);
    }

    [SharedFact]
    public void Prune_missing_files_and_text_are_one_line()
    {
        string output = Temp("out.gguf");
        var missingModel = CliRunner.Run("prune", Temp("none.gguf"), output, "--ffn", "0.1", "--method", "random");
        Assert.Contains("not found", missingModel.SingleErrorLine());
        var noText = CliRunner.Run("prune", Stories, output, "--ffn", "0.1");
        Assert.Contains("--text", noText.SingleErrorLine());
        var missingText = CliRunner.Run("prune", Stories, output, "--layers", "1", "--text", Temp("none.txt"));
        Assert.Contains("not found", missingText.SingleErrorLine());
        var sameFile = CliRunner.Run("prune", Stories, Stories, "--ffn", "0.1", "--method", "random");
        Assert.Contains("input model", sameFile.SingleErrorLine());
        AssertNothingWritten(output);
    }
}
