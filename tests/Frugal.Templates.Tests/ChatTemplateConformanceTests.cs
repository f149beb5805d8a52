using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Templates.Tests;

/// <summary>Every case of ../shared/templates/expected.json: real models' chat templates rendered by Python Jinja2.</summary>
public sealed class ChatTemplateConformanceTests
{
    private static readonly DateTime FixedClock = new(2026, 1, 15, 12, 0, 0);

    public static IEnumerable<object[]> Cases()
    {
        if (!SharedData.Available)
        {
            yield return ["(shared data missing)", "-", -1];
            yield break;
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Path("templates", "expected.json")));
        int index = 0;
        foreach (var c in doc.RootElement.EnumerateArray())
            yield return [c.GetProperty("template").GetString()!, c.GetProperty("case").GetString()!, index++];
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void RendersLikeJinja2(string template, string caseName, int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Path("templates", "expected.json")));
        var c = doc.RootElement[index];
        Assert.Equal(template, c.GetProperty("template").GetString());
        Assert.Equal(caseName, c.GetProperty("case").GetString());

        string source = File.ReadAllText(SharedData.Path("templates", template));
        var chat = new ChatTemplate(source, c.GetProperty("bos_token").GetString()!, c.GetProperty("eos_token").GetString()!, () => FixedClock);
        var messages = c.GetProperty("messages").EnumerateArray()
            .Select(m => (IReadOnlyDictionary<string, object?>)JinjaValues.FromJson(m)!)
            .ToList();
        bool addGenerationPrompt = c.GetProperty("add_generation_prompt").GetBoolean();

        if (c.TryGetProperty("expected", out var expected))
        {
            Assert.Equal(expected.GetString(), chat.Render(messages, addGenerationPrompt));
        }
        else
        {
            // Jinja2 reports "ErrorType: message"; ours carries the message (plus the line for runtime errors).
            string expectedError = c.GetProperty("expected_error").GetString()!;
            string message = expectedError[(expectedError.IndexOf(": ", StringComparison.Ordinal) + 2)..];
            var error = Assert.Throws<TemplateException>(() => chat.Render(messages, addGenerationPrompt));
            Assert.Contains(message, error.Message);
        }
    }
}
