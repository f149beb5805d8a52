using System.Text;
using Frugal.Cli.Commands;

namespace Frugal.Cli;

/// <summary>The <c>frugal</c> command: wiring only; each subcommand lives in Commands/.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        return Run(args, Console.Out, Console.Error);
    }

    /// <summary>Runs the command line in-process, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var console = new CliConsole(stdout, stderr);
        return CommandLineApp.Invoke(CommandLineApp.Build(console), args, console);
    }
}
