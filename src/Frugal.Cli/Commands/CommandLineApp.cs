using System.CommandLine;
using System.IO;
using System.Text.Json;
using Frugal.Gguf;

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
        root.Add(InspectCommand.Create(console));
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

    /// <summary>One line for the user: the message of an expected failure, the type too for a bug.</summary>
    private static string Describe(Exception error) => error switch
    {
        // These carry "path: problem" or a precise message of their own.
        GgufException or CliUsageException
            or ArgumentException or IOException or UnauthorizedAccessException or NotSupportedException
            or InvalidDataException or InvalidOperationException or JsonException or FormatException or OverflowException
            => OneLine(error.Message),
        _ => $"internal error ({error.GetType().Name}): {OneLine(error.Message)}",
    };

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}

/// <summary>A bad combination or value on the command line found after parsing; exits with the usage code.</summary>
public sealed class CliUsageException(string message) : Exception(message);
