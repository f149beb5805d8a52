using Frugal.Models;
using Frugal.Templates;

namespace Frugal.Server;

/// <summary>
/// Renders a conversation through the model's own chat template (GGUF key <c>tokenizer.chat_template</c>) with
/// Frugal's Jinja interpreter. <c>tojson</c> behaves as Hugging Face transformers' override (insertion order,
/// UTF-8 kept, no HTML escaping), which is what the models were trained on and what llama.cpp does too.
/// </summary>
public sealed class JinjaChatRenderer : IChatRenderer
{
    public const string TemplateKey = "tokenizer.chat_template";

    private readonly ChatTemplate _template;
    private readonly string _bosText;
    private readonly bool _tokenizerAddsBos;

    public JinjaChatRenderer(string source, string bosToken, string eosToken, bool tokenizerAddsBos, Func<DateTime>? clock = null)
    {
        _template = new ChatTemplate(source, bosToken, eosToken,
            new JinjaOptions { ToJson = ToJsonStyle.Transformers, Clock = clock });
        _bosText = bosToken;
        _tokenizerAddsBos = tokenizerAddsBos;
    }

    /// <summary>The renderer for <paramref name="model"/>'s template, or null when the file has none.</summary>
    public static JinjaChatRenderer? FromModel(Model model)
    {
        string? source = model.File.TryGetString(TemplateKey);
        if (string.IsNullOrWhiteSpace(source)) return null;
        var tokenizer = model.Tokenizer;
        string bos = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "";
        string eos = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "";
        try
        {
            return new JinjaChatRenderer(source, bos, eos, tokenizer.AddBos);
        }
        catch (TemplateException error)
        {
            throw new ModelLoadException(model.File.Path, $"{TemplateKey} does not parse: {error.Message}");
        }
    }

    public string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt)
    {
        string text;
        try
        {
            text = _template.Render(messages, addGenerationPrompt);
        }
        catch (TemplateException error)
        {
            // raise_exception is the template refusing this conversation (the client's problem); anything
            // else is a bug in the template (the server's).
            var failure = error.RaisedByTemplate ? ChatRenderFailure.ConversationRejected : ChatRenderFailure.TemplateError;
            throw new ChatRenderException(error.Message, failure, error);
        }
        // Templates write the BOS text themselves; the tokenizer adds BOS too, so drop the template's copy
        // rather than send the model two.
        if (_tokenizerAddsBos && _bosText.Length > 0 && text.StartsWith(_bosText, StringComparison.Ordinal))
            text = text[_bosText.Length..];
        return text;
    }
}
