using Frugal.Gguf;

namespace Frugal.Models.Tokenization;

/// <summary>Reads the tokenizer.* metadata of a GGUF file into <see cref="TokenizerData"/>.</summary>
internal static class GgufTokenizerReader
{
    public static TokenizerData Read(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string model = file.GetString("tokenizer.ggml.model");
        if (model is "no_vocab" or "none")
            throw new TokenizerException($"{file.Path}: the model has no vocabulary (tokenizer.ggml.model = '{model}')");
        return new TokenizerData
        {
            Model = model,
            Pre = file.TryGetString("tokenizer.ggml.pre"),
            Tokens = file.GetArray("tokenizer.ggml.tokens").AsStrings(),
            Scores = file.TryGetArray("tokenizer.ggml.scores")?.AsFloat32s(),
            TokenTypes = file.TryGetArray("tokenizer.ggml.token_type")?.AsInt32s(),
            Merges = file.TryGetArray("tokenizer.ggml.merges")?.AsStrings(),
            ModelName = file.TryGetString("general.name"),
            BosId = Id(file, "tokenizer.ggml.bos_token_id"),
            EosId = Id(file, "tokenizer.ggml.eos_token_id"),
            EotId = Id(file, "tokenizer.ggml.eot_token_id"),
            EomId = Id(file, "tokenizer.ggml.eom_token_id"),
            UnknownId = Id(file, "tokenizer.ggml.unknown_token_id"),
            SeparatorId = Id(file, "tokenizer.ggml.seperator_token_id"), // sic: GGUF's spelling
            PaddingId = Id(file, "tokenizer.ggml.padding_token_id"),
            MaskId = Id(file, "tokenizer.ggml.mask_token_id"),
            FimPrefixId = Id(file, "tokenizer.ggml.prefix_token_id") ?? Id(file, "tokenizer.ggml.fim_pre_token_id"),
            FimSuffixId = Id(file, "tokenizer.ggml.suffix_token_id") ?? Id(file, "tokenizer.ggml.fim_suf_token_id"),
            FimMiddleId = Id(file, "tokenizer.ggml.middle_token_id") ?? Id(file, "tokenizer.ggml.fim_mid_token_id"),
            FimPadId = Id(file, "tokenizer.ggml.fim_pad_token_id"),
            FimRepoId = Id(file, "tokenizer.ggml.fim_rep_token_id"),
            FimSeparatorId = Id(file, "tokenizer.ggml.fim_sep_token_id"),
            AddBos = file.TryGetBool("tokenizer.ggml.add_bos_token"),
            AddEos = file.TryGetBool("tokenizer.ggml.add_eos_token"),
            AddSpacePrefix = file.TryGetBool("tokenizer.ggml.add_space_prefix"),
        };
    }

    // llama.cpp reads the deprecated prefix/suffix/middle keys after the fim_* ones, so they win when both exist.
    private static long? Id(GgufFile file, string key) => file.TryGetUInt32(key);
}
