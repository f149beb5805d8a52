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
