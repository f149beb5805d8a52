namespace Frugal.Cli.Tests;

/// <summary>Runs the frugal command in-process and captures what it prints.</summary>
internal static class CliRunner
{
    public sealed record Outcome(int ExitCode, string Out, string Error)
    {
        /// <summary>The error output must be exactly one "frugal: ..." line (no stack trace, no help dump).</summary>
        public string SingleErrorLine()
        {
            string[] lines = Error.TrimEnd('\r', '\n').Split('\n');
            Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}:\n{Error}");
            Assert.StartsWith("frugal: ", lines[0]);
            Assert.DoesNotContain("   at ", Error);
            return lines[0];
        }
    }

    public static Outcome Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }
}
