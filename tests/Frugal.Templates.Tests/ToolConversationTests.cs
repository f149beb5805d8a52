using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Templates.Tests;

/// <summary>Tool definitions, tool calls and tool results through real templates (as the server passes them),
/// against Jinja2's output recorded in ToolConversationCases.json.</summary>
public sealed class ToolConversationTests
{
    private static JsonDocument Load() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "ToolConversationCases.json")));

    public static TheoryData<string> Templates()
    {
        using var doc = Load();
        var data = new TheoryData<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray()) data.Add(c.GetProperty("template").GetString()!);
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(Templates))]
    public void RendersToolConversationLikeJinja2(string template)
    {
        using var doc = Load();
        var root = doc.RootElement;
        var c = root.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("template").GetString() == template);
        var tools = (IReadOnlyList<object?>)JinjaValues.FromJson(root.GetProperty("tools"))!;
        var messages = root.GetProperty("messages").EnumerateArray()
            .Select(m => (IReadOnlyDictionary<string, object?>)JinjaValues.FromJson(m)!).ToList();
        var chat = new ChatTemplate(File.ReadAllText(SharedData.Path("templates", template)), "<s>", "</s>", () => new DateTime(2026, 1, 15));

        if (c.TryGetProperty("expected", out var expected))
            Assert.Equal(expected.GetString(), chat.Render(messages, addGenerationPrompt: true, tools));
        else
        {
            string error = c.GetProperty("expected_error").GetString()!;
            var e = Assert.Throws<TemplateException>(() => chat.Render(messages, addGenerationPrompt: true, tools));
            Assert.Contains(error[(error.IndexOf(": ", StringComparison.Ordinal) + 2)..], e.Message);
        }
    }
}
