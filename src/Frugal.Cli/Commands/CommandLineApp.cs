using System.CommandLine;

namespace Frugal.Cli.Commands;

/// <summary>Builds the command tree and turns every failure into one "frugal: ..." line and an exit code.</summary>
public static class CommandLineApp
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static RootCommand Build(CliConsole console)
    {
        var root = new RootCommand("frugal: run GGUF language models on the CPU, in pure C#");
        root.Add(RunCommand.Create(console));
        root.Add(LogitsCommand.Create(console));
        root.Add(TokenizeCommand.Create(console));
        root.Add(InspectCommand.Create(console));
        root.Add(QuantizeCommand.Create(console));
        root.Add(ImatrixCommand.Create(console));
        root.Add(ServeCommand.Create(console));
        root.Add(BenchServeCommand.Create(console));
        root.Add(PerplexityCommand.Create(console));
        root.Add(PruneCommand.Create(console));
        root.Add(SynthCommand.Create(console));
        root.Add(BenchCommand.Create(console));
        return root;
    }

    public static int Invoke(RootCommand root, string[] args, CliConsole console)
    {
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // All parse problems on one line; help is one "frugal --help" away.
            string problems = string.Join("; ", parsed.Errors.Select(error => OneLine(error.Message).TrimEnd('.')).Distinct());
            console.Error.WriteLine($"frugal: {problems} (see 'frugal --help')");
            return ExitUsage;
        }
        try
        {
            var configuration = new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                EnableDefaultExceptionHandler = false,
            };
            int exitCode = parsed.Invoke(configuration);
            console.Out.Flush();
            return exitCode;
        }
        catch (Exception error)
        {
            console.Out.Flush();
            console.Error.WriteLine($"frugal: {Describe(error)}");
            return error is CliUsageException ? ExitUsage : ExitFailure;
        }
    }

    /// <summary>
    /// One line for the user. Failures of the input (GgufException, ModelLoadException, TokenizerException,
    /// ArgumentException, IOException...) carry a precise message of their own; exceptions that can only mean
    /// a bug in frugal are labelled as such.
    /// </summary>
    private static string Describe(Exception error) => error switch
    {
        NullReferenceException or IndexOutOfRangeException or InvalidCastException or NotImplementedException
            or DivideByZeroException or ArrayTypeMismatchException or AccessViolationException
            => $"internal error ({error.GetType().Name}): {OneLine(error.Message)}",
        ArgumentException { ParamName: string name } argument => OneLine(argument.Message.Replace($" (Parameter '{name}')", "")),
        _ => OneLine(error.Message),
    };

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}

/// <summary>A bad combination or value on the command line found after parsing; exits with the usage code.</summary>
public sealed class CliUsageException(string message) : Exception(message);
