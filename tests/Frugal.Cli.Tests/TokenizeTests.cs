using System.Text;
using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

public class TokenizeTests
{
    private static string LlamaSpm => SharedData.Path("vocab", "ggml-vocab-llama-spm.gguf");

    /// <summary>llama.cpp's own test strings and ids for the vocabulary (no BOS, special tokens not parsed).</summary>
    public static TheoryData<int> ConformanceCases()
    {
        var cases = new TheoryData<int>();
        if (!SharedData.Available) return cases;
        for (int i = 0; i < ReadCases().Count; i++) cases.Add(i);
        return cases;
    }

    private static List<(string Text, int[] Ids)> ReadCases()
    {
        string[] texts = File.ReadAllText(LlamaSpm + ".inp", Encoding.UTF8).Split("\n__ggml_vocab_test__\n");
        string[] lines = File.ReadAllLines(LlamaSpm + ".out");
        return texts.Take(lines.Length)
            .Select((text, i) => (text, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()))
            .ToList();
    }

    private static int[] IdsOf(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()).ToArray();
    }

    [SharedTheory]
    [MemberData(nameof(ConformanceCases))]
    public void Matches_llama_cpp_ids_for_its_test_strings(int index)
    {
        var (text, expected) = ReadCases()[index];
        var outcome = CliRunner.Run("tokenize", "--model", LlamaSpm, "--text", text, "--no-bos", "--no-parse-special", "--json");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        Assert.Equal(expected, IdsOf(outcome.Out));
    }

    [SharedFact]
    public void Adds_bos_and_parses_special_tokens_by_default()
    {
        var outcome = CliRunner.Run("tokenize", "-m", LlamaSpm, "--text", "Hello world</s>", "--json");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal([1, 15043, 3186, 2], IdsOf(outcome.Out));

        var literal = CliRunner.Run("tokenize", "-m", LlamaSpm, "--text", "Hello world</s>", "--json", "--no-parse-special", "--no-bos");
        int[] ids = IdsOf(literal.Out);
        Assert.Equal([15043, 3186], ids[..2]);
        Assert.DoesNotContain(2, ids);
    }

    [SharedFact]
    public void Json_pieces_are_the_token_texts()
    {
        var outcome = CliRunner.Run("tokenize", "-m", LlamaSpm, "--text", "Hello é", "--json");
        using var document = JsonDocument.Parse(outcome.Out);
        var pieces = document.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("piece").GetString()).ToArray();
        Assert.Equal("<s>", pieces[0]);
        Assert.Equal(" Hello", pieces[1]);
        Assert.Equal("Hello é", string.Concat(pieces[1..]).TrimStart());
        Assert.Contains("\"piece\":\" Hello\"", outcome.Out); // readable JSON, no \u escapes
    }

    [SharedFact]
    public void Text_output_is_one_id_and_escaped_piece_per_line()
    {
        var outcome = CliRunner.Run("tokenize", "-m", LlamaSpm, "--text", "Hello\nworld");
        Assert.Equal(0, outcome.ExitCode);
        string[] lines = outcome.Out.TrimEnd('\n').Split('\n');
        Assert.Equal("1\t<s>", lines[0]);
        Assert.Equal("15043\t Hello", lines[1]);
        Assert.Contains("13\t\\n", lines); // the newline byte token, escaped
        Assert.All(lines, line => Assert.Matches(@"^\d+\t", line));
    }

    [Fact]
    public void Missing_text_is_a_usage_error()
    {
        var outcome = CliRunner.Run("tokenize", "--model", "whatever.gguf");
        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("--text", outcome.SingleErrorLine());
    }

    [Fact]
    public void A_missing_vocabulary_file_is_one_line()
    {
        var outcome = CliRunner.Run("tokenize", "--model", "/no/such/dir/vocab.gguf", "--text", "hi");
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("/no/such/dir/vocab.gguf", outcome.SingleErrorLine());
    }
}
