using System.Text.Json;

namespace Frugal.Templates.Tests;

/// <summary>The language against Jinja2's own output (cases generated with Python Jinja2, see JinjaLanguageCases).</summary>
public sealed class JinjaLanguageTests
{
    private static readonly DateTime FixedClock = new(2026, 1, 15, 9, 5, 3);

    internal static IReadOnlyDictionary<string, object?> Variables()
    {
        using var doc = JsonDocument.Parse(JinjaLanguageCases.VariablesJson);
        return (IReadOnlyDictionary<string, object?>)JinjaValues.FromJson(doc.RootElement)!;
    }

    public static TheoryData<string, bool, string> Cases => JinjaLanguageCases.Cases;

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersLikeJinja2(string source, bool trimAndLstrip, string expected)
    {
        var options = new JinjaOptions { TrimBlocks = trimAndLstrip, LstripBlocks = trimAndLstrip, Clock = () => FixedClock };
        Assert.Equal(expected, JinjaTemplate.Parse(source, options).Render(Variables()));
    }
}
