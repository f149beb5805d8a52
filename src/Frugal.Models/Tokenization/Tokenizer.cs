namespace Frugal.Models.Tokenization;

/// <summary>Placeholder replaced by the tokenizer work.</summary>
public abstract class Tokenizer
{
}
