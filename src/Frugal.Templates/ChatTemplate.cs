namespace Frugal.Templates;

/// <summary>A model's chat template (GGUF <c>tokenizer.chat_template</c>) rendered the way Hugging Face
/// transformers and llama.cpp do: variables <c>messages</c>, <c>add_generation_prompt</c>, <c>bos_token</c>,
/// <c>eos_token</c> and, when given, <c>tools</c>; trim_blocks and lstrip_blocks on.</summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string _bosToken;
    private readonly string _eosToken;

    public ChatTemplate(string source, string bosToken, string eosToken, Func<DateTime>? clock = null)
        : this(source, bosToken, eosToken, new JinjaOptions { TrimBlocks = true, LstripBlocks = true, Clock = clock })
    {
    }

    /// <summary>With explicit options (for instance <see cref="ToJsonStyle.Transformers"/> tojson).</summary>
    public ChatTemplate(string source, string bosToken, string eosToken, JinjaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _template = JinjaTemplate.Parse(source, options);
        _bosToken = bosToken ?? throw new ArgumentNullException(nameof(bosToken));
        _eosToken = eosToken ?? throw new ArgumentNullException(nameof(eosToken));
    }

    /// <summary>Renders a conversation. Messages are dictionaries such as {role, content} (plus tool_calls,
    /// tool_call_id, ...); <paramref name="tools"/> stays undefined in the template when null, which is how
    /// templates tell "no tools" apart.</summary>
    public string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt,
        IReadOnlyList<object?>? tools = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = _bosToken,
            ["eos_token"] = _eosToken,
        };
        if (tools is not null) variables["tools"] = tools;
        return _template.Render(variables);
    }
}
