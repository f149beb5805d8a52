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
        Validators = { NotNegative("--threads") },
    };

    public static Option<int> ContextSize() => new("--ctx-size", "-c")
    {
        Description = "Context size in tokens (0 = the model's, capped at 4096)",
        Validators = { NotNegative("--ctx-size") },
    };

    public static Action<OptionResult> NotNegative(string name) => result =>
    {
        if (result.GetValueOrDefault<int>() < 0) result.AddError($"{name} must be >= 0, got {result.GetValueOrDefault<int>()}");
    };

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
