namespace Frugal.Cli.Tests;

/// <summary>Every failure: one "frugal: ..." line on stderr and a non-zero exit code.</summary>
public class ErrorTests
{
    [Theory]
    [InlineData]
    [InlineData("--bogus")]
    [InlineData("frobnicate")]
    [InlineData("inspect")]
    [InlineData("inspect", "a.gguf", "--bogus")]
    public void Parse_errors_exit_with_the_usage_code_and_one_line(params string[] args)
    {
        var outcome = CliRunner.Run(args);
        Assert.Equal(2, outcome.ExitCode);
        outcome.SingleErrorLine();
        Assert.Equal("", outcome.Out);
    }

    [Fact]
    public void An_unknown_flag_is_named()
    {
        string line = CliRunner.Run("inspect", "a.gguf", "--bogus").SingleErrorLine();
        Assert.Contains("--bogus", line);
    }

    [Fact]
    public void A_missing_model_file_is_one_line_naming_it()
    {
        string path = Path.Combine(Path.GetTempPath(), $"frugal-missing-{Guid.NewGuid():N}.gguf");
        var outcome = CliRunner.Run("inspect", path);
        Assert.Equal(1, outcome.ExitCode);
        string line = outcome.SingleErrorLine();
        Assert.Contains(path, line);
        Assert.Contains("not found", line);
    }

    [Fact]
    public void A_corrupt_model_file_is_one_line_naming_it()
    {
        string path = Path.Combine(Path.GetTempPath(), $"frugal-corrupt-{Guid.NewGuid():N}.gguf");
        var garbage = new byte[4096];
        new Random(1).NextBytes(garbage);
        File.WriteAllBytes(path, garbage);
        try
        {
            var outcome = CliRunner.Run("inspect", path);
            Assert.Equal(1, outcome.ExitCode);
            Assert.Contains(path, outcome.SingleErrorLine());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_truncated_header_is_one_line_naming_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), $"frugal-truncated-{Guid.NewGuid():N}.gguf");
        // Valid magic and version, then a tensor count far beyond what the file holds.
        byte[] header = [.. "GGUF"u8, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0];
        File.WriteAllBytes(path, header);
        try
        {
            var outcome = CliRunner.Run("inspect", path);
            Assert.Equal(1, outcome.ExitCode);
            Assert.Contains(path, outcome.SingleErrorLine());
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>Bad option values and combinations for the model commands (no model is loaded).</summary>
public class OptionErrorTests
{
    [Theory]
    [InlineData("run", "--prompt", "hi")]                                          // missing --model
    [InlineData("run", "--model", "m.gguf")]                                       // missing --prompt
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--n-predict", "x")] // not a number
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--n-predict", "-5")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--threads", "-1")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--temperature", "-1")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--top-p", "1.5")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--min-p", "-0.5")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--top-k", "-3")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--repeat-penalty", "0")]
    [InlineData("run", "--model", "m.gguf", "--prompt", "hi", "--seed", "-1")]
    [InlineData("logits", "--model", "m.gguf", "--tokens", "1,x")]
    [InlineData("logits", "--model", "m.gguf", "--tokens", ",")]
    [InlineData("logits", "--model", "m.gguf")]                                    // neither --prompt nor --tokens
    [InlineData("logits", "--model", "m.gguf", "--prompt", "a", "--tokens", "1")]  // both
    [InlineData("logits", "--model", "m.gguf", "--tokens", "1", "--top-k", "0")]
    [InlineData("tokenize", "--text", "hi")]
    public void Bad_values_exit_with_the_usage_code_and_one_line(params string[] args)
    {
        var outcome = CliRunner.Run(args);
        Assert.Equal(2, outcome.ExitCode);
        outcome.SingleErrorLine();
        Assert.Equal("", outcome.Out);
    }

    [Fact]
    public void A_bad_sampling_value_is_explained()
    {
        string line = CliRunner.Run("run", "--model", "m.gguf", "--prompt", "hi", "--temperature", "-1").SingleErrorLine();
        Assert.Equal("frugal: temperature must be a finite number >= 0 (0 = greedy), got -1", line);
    }

    [Fact]
    public void A_bad_token_list_names_the_bad_item()
    {
        string line = CliRunner.Run("logits", "--model", "m.gguf", "--tokens", "1,x").SingleErrorLine();
        Assert.Contains("'x' is not a token id", line);
    }

    [Theory]
    [InlineData("run", "--prompt", "hi")]
    [InlineData("logits", "--tokens", "1")]
    public void A_missing_model_is_one_line_naming_it(params string[] args)
    {
        string path = Path.Combine(Path.GetTempPath(), $"frugal-missing-{Guid.NewGuid():N}.gguf");
        var outcome = CliRunner.Run([.. args, "--model", path]);
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains(path, outcome.SingleErrorLine());
    }

    [Fact]
    public void A_corrupt_model_is_one_line_naming_it_for_run()
    {
        string path = Path.Combine(Path.GetTempPath(), $"frugal-corrupt-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, [.. "GGUF"u8, 3, 0, 0, 0, .. new byte[100]]);
        try
        {
            var outcome = CliRunner.Run("run", "--model", path, "--prompt", "hi");
            Assert.Equal(1, outcome.ExitCode);
            Assert.Contains(path, outcome.SingleErrorLine());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
