namespace Frugal.Models;

/// <summary>A model file that Frugal cannot run: the message names the file and the problem in one line.</summary>
public sealed class ModelLoadException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string FilePath { get; } = path;
}
