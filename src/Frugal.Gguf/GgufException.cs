namespace Frugal.Gguf;

/// <summary>
/// A GGUF file could not be used. <see cref="Exception.Message"/> is always one line, "&lt;path&gt;: &lt;problem&gt;",
/// so a command-line tool can print it as is.
/// </summary>
public sealed class GgufException : Exception
{
    /// <summary>The file as it was named to <see cref="GgufFile.Open"/>.</summary>
    public string FilePath { get; }

    /// <summary>The problem alone, without the path.</summary>
    public string Problem { get; }

    public GgufException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {OneLine(problem)}", inner)
    {
        FilePath = filePath;
        Problem = OneLine(problem);
    }

    private static string OneLine(string text) =>
        text.Contains('\n') || text.Contains('\r') ? text.ReplaceLineEndings(" ").Trim() : text;
}
