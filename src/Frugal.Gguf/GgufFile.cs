namespace Frugal.Gguf;

/// <summary>Placeholder replaced by the GGUF reader work.</summary>
public sealed class GgufFile
{
}
