using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Frugal.Cli.Commands;

/// <summary>Options shared by several commands, and value parsers that report bad input as parse errors.</summary>
public static class CommonOptions
{
    public static Option<string> Model() => new("--model", "-m")
    {
        Description = "Path of the GGUF model",
        Required = true,
    };

    public static Option<bool> Json() => new("--json") { Description = "Print one JSON object instead of text" };

    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "Worker threads (0 = every core)",
        CustomParser = result => ParseInteger(result, "--threads", minimum: 0),
    };

    public static Option<int> ContextSize() => new("--ctx-size", "-c")
    {
        Description = "Context size in tokens (0 = the model's, capped at 4096)",
        CustomParser = result => ParseInteger(result, "--ctx-size", minimum: 0),
    };

    /// <summary>Parses a whole number of at least <paramref name="minimum"/>, reporting a bad value as a parse error.</summary>
    public static int ParseInteger(ArgumentResult result, string name, int minimum)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(" ", result.Tokens.Select(t => t.Value));
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value))
        {
            result.AddError($"{name}: '{text}' is not a whole number");
            return 0;
        }
        if (value < minimum) result.AddError($"{name} must be >= {minimum}, got {value}");
        return value;
    }

    /// <summary>Parses "1,2,3" (spaces allowed) into token ids.</summary>
    public static int[]? ParseTokenList(ArgumentResult result)
    {
        string text = string.Join(",", result.Tokens.Select(token => token.Value));
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            result.AddError("--tokens needs at least one token id, e.g. --tokens 1,403,407");
            return null;
        }
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
            {
                result.AddError($"--tokens: '{parts[i]}' is not a token id (expected non-negative integers separated by commas, e.g. 1,403,407)");
                return null;
            }
        }
        return ids;
    }
}
