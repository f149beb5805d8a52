namespace Frugal.Server.Tests;

public sealed class JinjaChatRendererTests
{
    private const string Template =
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('tools are not supported') }}{% endif %}" +
        "[{{ m['role'] }}] {{ m['content'] | trim }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

    private static IReadOnlyDictionary<string, object?> Message(string role, string content) =>
        new Dictionary<string, object?> { ["role"] = role, ["content"] = content };

    [Fact]
    public void RendersTheConversationAndLeavesBosToTheTokenizer()
    {
        var renderer = new JinjaChatRenderer(Template, "<s>", "</s>", tokenizerAddsBos: true);
        string text = renderer.Render([Message("system", "Be brief. "), Message("user", "Hi")], addGenerationPrompt: true);
        Assert.Equal("[system] Be brief.\n[user] Hi\n[assistant]", text);
    }

    [Fact]
    public void KeepsBosWhenTheTokenizerDoesNotAddOne()
    {
        var renderer = new JinjaChatRenderer(Template, "<s>", "</s>", tokenizerAddsBos: false);
        Assert.StartsWith("<s>[user] Hi", renderer.Render([Message("user", "Hi")], addGenerationPrompt: false));
    }

    [Fact]
    public void ARefusalByTheTemplateIsTheClientsProblem()
    {
        var renderer = new JinjaChatRenderer(Template, "<s>", "</s>", tokenizerAddsBos: true);
        var error = Assert.Throws<ChatRenderException>(() => renderer.Render([Message("tool", "42")], addGenerationPrompt: true));
        Assert.Equal(ChatRenderFailure.ConversationRejected, error.Failure);
        Assert.Equal("tools are not supported", error.Message);
    }

    [Fact]
    public void ABrokenTemplateIsTheServersProblem()
    {
        var renderer = new JinjaChatRenderer("{{ messages[0]['content'].no_such_method() }}", "<s>", "</s>", tokenizerAddsBos: true);
        var error = Assert.Throws<ChatRenderException>(() => renderer.Render([Message("user", "Hi")], addGenerationPrompt: true));
        Assert.Equal(ChatRenderFailure.TemplateError, error.Failure);
    }
}
