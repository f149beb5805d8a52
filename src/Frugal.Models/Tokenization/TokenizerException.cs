namespace Frugal.Models.Tokenization;

/// <summary>A vocabulary that cannot be turned into a tokenizer, or a request the tokenizer cannot serve.</summary>
public sealed class TokenizerException : Exception
{
    public TokenizerException(string message) : base(message) { }
}
