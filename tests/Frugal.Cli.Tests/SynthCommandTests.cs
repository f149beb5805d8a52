using Frugal.Gguf;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

/// <summary><c>frugal synth</c>: writes a loadable model; every bad input is one line, a non-zero exit and no file.</summary>
public sealed class SynthCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("frugal-synth-cli-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string SmallVocabulary => SharedData.Model("stories260K.gguf");

    private string Output => Path.Combine(_directory, "out.gguf");

    [SharedFact]
    public void Writes_a_model_that_runs()
    {
        var outcome = CliRunner.Run("synth", "--shape", "test-tiny-qwen2", "--vocab", SmallVocabulary, "--type", "Q4_0", "-o", Output, "--seed", "42");
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        Assert.Matches(@"^wrote .*out\.gguf: test-tiny-qwen2 Q4_0, [0-9.]+ M parameters, vocab 512, 26 tensors \(.*\), [0-9.]+ MiB in [0-9.]+ s\n$", outcome.Out);
        using (var file = GgufFile.Open(Output))
        {
            Assert.Equal("qwen2", file.GetString("general.architecture"));
            Assert.Equal(2u, file.GetUInt32("general.file_type"));
        }
        var run = CliRunner.Run("run", "-m", Output, "-p", "Once upon a time", "-n", "4", "--temperature", "0", "-t", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.StartsWith("Once upon a time", run.Out);
    }

    [SharedTheory]
    [InlineData("--shape", "gpt-5", "unknown shape 'gpt-5'")]
    [InlineData("--type", "Q3_K", "unknown weight type 'Q3_K'")]
    [InlineData("--seed", "-1", "--seed: '-1'")]
    public void Bad_values_are_usage_errors(string flag, string value, string message)
    {
        var args = new Dictionary<string, string> { ["--shape"] = "test-tiny", ["--type"] = "Q8_0", ["--seed"] = "1" };
        args[flag] = value;
        var outcome = CliRunner.Run("synth", "--shape", args["--shape"], "--vocab", SmallVocabulary, "--type", args["--type"], "-o", Output, "--seed", args["--seed"]);
        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains(message, outcome.SingleErrorLine());
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void Missing_required_flags_are_named()
    {
        var outcome = CliRunner.Run("synth", "--shape", "test-tiny");
        Assert.Equal(2, outcome.ExitCode);
        string line = outcome.SingleErrorLine();
        Assert.Contains("--vocab", line);
        Assert.Contains("--type", line);
    }

    [Fact]
    public void A_missing_vocabulary_file_is_one_line_and_no_output()
    {
        string vocabulary = Path.Combine(_directory, "missing-vocab.gguf");
        var outcome = CliRunner.Run("synth", "--shape", "test-tiny", "--vocab", vocabulary, "--type", "Q8_0", "-o", Output);
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("missing-vocab.gguf: file not found", outcome.SingleErrorLine());
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void A_vocabulary_file_that_is_not_gguf_is_one_line_and_no_output()
    {
        string vocabulary = Path.Combine(_directory, "vocab.txt");
        File.WriteAllText(vocabulary, "hello world, not a GGUF file");
        var outcome = CliRunner.Run("synth", "--shape", "test-tiny", "--vocab", vocabulary, "--type", "Q8_0", "-o", Output);
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("not a GGUF file", outcome.SingleErrorLine());
        Assert.Equal(new[] { vocabulary }, Directory.GetFileSystemEntries(_directory));
    }

    [SharedFact]
    public void An_output_in_a_missing_directory_is_one_line()
    {
        string output = Path.Combine(_directory, "nowhere", "out.gguf");
        var outcome = CliRunner.Run("synth", "--shape", "test-tiny", "--vocab", SmallVocabulary, "--type", "Q8_0", "-o", output);
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("does not exist", outcome.SingleErrorLine());
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
    }
}
