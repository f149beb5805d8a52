namespace Frugal.Models.Tokenization;

/// <summary>
/// What a vocabulary entry is, as llama.cpp's llama_token_attr: derived from the GGUF token type
/// (tokenizer.ggml.token_type: 0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)
/// and adjusted by llama.cpp's per-model rules (e.g. end-of-turn texts forced to control).
/// </summary>
[Flags]
internal enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    LeftStrip = 1 << 7,   // whitespace before this special token is dropped when it is parsed out of text
    RightStrip = 1 << 8,  // whitespace after this special token is dropped when it is parsed out of text
    SingleWord = 1 << 9,
}

internal static class TokenTypes
{
    public static TokenAttributes ToAttributes(int ggufTokenType) => ggufTokenType switch
    {
        1 => TokenAttributes.Normal,
        2 => TokenAttributes.Unknown,
        3 => TokenAttributes.Control,
        4 => TokenAttributes.UserDefined,
        5 => TokenAttributes.Unused,
        6 => TokenAttributes.Byte,
        _ => TokenAttributes.Undefined,
    };
}
