using System.Text.Json;

namespace Frugal.Templates.Tests;

/// <summary>Errors, undefined values, limits, options and the public API.</summary>
public sealed class JinjaBehaviourTests
{
    private static string Render(string source, IReadOnlyDictionary<string, object?>? variables = null, JinjaOptions? options = null) =>
        JinjaTemplate.Parse(source, options).Render(variables ?? JinjaLanguageTests.Variables());

    private static TemplateException RenderError(string source, JinjaOptions? options = null) =>
        Assert.Throws<TemplateException>(() => Render(source, options: options));

    // ---------------- syntax errors: what and where ----------------

    [Theory]
    [InlineData("ok\n  {% if %}", 2, "expected an expression")]
    [InlineData("{{ 1 + }}", 1, "unexpected end of print statement")]
    [InlineData("a\nb\n{% for x in l %}", 3, "looking for 'endfor' or 'else' to close the 'for' opened on line 3")]
    [InlineData("{% endif %}", 1, "unknown tag 'endif'")]
    [InlineData("{% foo %}", 1, "unknown tag 'foo'")]
    [InlineData("{{ x | nofilter }}", 1, "no filter named 'nofilter'")]
    [InlineData("{% if x is notest %}{% endif %}", 1, "no test named 'notest'")]
    [InlineData("{{ 'abc }}", 1, "unterminated string literal")]
    [InlineData("x {{ a", 1, "expected '}}' to close the tag")]
    [InlineData("{# never closed", 1, "missing end of comment tag")]
    [InlineData("{% break %}", 1, "'break' outside of a for loop")]
    [InlineData("{% include 'other.jinja' %}", 1, "'include' is not supported")]
    [InlineData("{% extends 'base.jinja' %}", 1, "'extends' is not supported")]
    [InlineData("{{ [1, 2 }}", 1, "unexpected '}'")]
    [InlineData("{% set 1 = 2 %}", 1, "expected a variable name")]
    [InlineData("{% macro m(a=1, b) %}{% endmacro %}", 1, "without a default follows")]
    [InlineData("{{ f(a=1, 2) }}", 1, "positional argument follows keyword argument")]
    [InlineData("{% for x in l recursive %}{% endfor %}", 1, "recursive for loops are not supported")]
    public void SyntaxErrorsSayWhatAndWhere(string source, int line, string what)
    {
        var e = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(source));
        Assert.Contains(what, e.Message);
        Assert.Equal(line, e.Line);
        Assert.NotNull(e.Column);
        Assert.StartsWith($"line {line}, column {e.Column}: ", e.Message);
    }

    [Fact]
    public void ColumnPointsAtTheOffendingToken()
    {
        var e = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse("line one\n  {{ a | nope }}"));
        Assert.Equal(2, e.Line);
        Assert.Equal(10, e.Column);
    }

    // ---------------- runtime errors ----------------

    [Theory]
    [InlineData("{{ x + 1 }}", "'x' is undefined")]
    [InlineData("{{ x.y }}", "'x' is undefined")]
    [InlineData("{{ x() }}", "'x' is undefined")]
    [InlineData("{{ x['k'] }}", "'x' is undefined")]
    [InlineData("{{ d.zz.c }}", "'dict object' has no attribute 'zz'")]
    [InlineData("{{ l[10].c }}", "list object has no element 10")]
    [InlineData("{{ z.x.y }}", "'None' has no attribute 'x'")]
    [InlineData("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str")]
    [InlineData("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{{ 1 // 0 }}", "integer division or modulo by zero")]
    [InlineData("{{ nothing | tojson }}", "Object of type Undefined is not JSON serializable")]
    [InlineData("{{ 3() }}", "'int' object is not callable")]
    [InlineData("{{ 1 < 'a' }}", "'<' not supported between instances of 'int' and 'str'")]
    [InlineData("{% for a, b in [1] %}{% endfor %}", "cannot unpack non-iterable int object")]
    [InlineData("{% for a, b in [[1, 2, 3]] %}{% endfor %}", "too many values to unpack (expected 2)")]
    [InlineData("{% set s = 'x' %}{% set s.attr = 1 %}", "it is not a namespace() object")]
    [InlineData("{% for x in 5 %}{% endfor %}", "'int' object is not iterable")]
    [InlineData("{{ 'abc'.nosuch() }}", "'str object' has no attribute 'nosuch'")]
    [InlineData("{{ 'a'.split('') }}", "empty separator")]
    [InlineData("{{ [].pop() }}", "pop from empty list")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "integer overflow")]
    [InlineData("{{ range(1, 2, 0) }}", "must not be zero")]
    [InlineData("{{ 'abc'.upper(1) }}", "upper() takes at most 0 arguments (1 given)")]
    [InlineData("{{ 'x' | truncate(1) }}", "expected length >= 3")]
    public void RuntimeErrorsMatchJinja2Messages(string source, string message)
    {
        var e = RenderError(source);
        Assert.Contains(message, e.Message);
        Assert.False(e.RaisedByTemplate);
    }

    [Fact]
    public void RuntimeErrorsCarryTheLine()
    {
        var e = RenderError("one\ntwo\n{% if true %}\n  {{ missing + 1 }}\n{% endif %}");
        Assert.Equal(4, e.Line);
        Assert.Equal("'missing' is undefined (line 4)", e.Message);
    }

    [Fact]
    public void RaiseExceptionPassesTheTemplatesMessageThrough()
    {
        var e = RenderError("{% if true %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}");
        Assert.Equal("Conversation roles must alternate", e.Message);
        Assert.True(e.RaisedByTemplate);
    }

    [Fact]
    public void ErrorsInsideMacrosReportTheLineInsideTheMacro()
    {
        var e = RenderError("{% macro m() %}\n\n{{ 1 / 0 }}{% endmacro %}\n{{ m() }}");
        Assert.Equal(3, e.Line);
    }

    // ---------------- undefined values ----------------

    [Fact]
    public void UndefinedPrintsNothingIsFalsyAndIteratesEmpty()
    {
        Assert.Equal("[]|no|0|empty|True|", Render("[{{ u }}]|{{ 'yes' if u else 'no' }}|{{ u | length }}|{% for x in u %}x{% else %}empty{% endfor %}|{{ u is undefined }}|{{ u | default('') }}"));
    }

    [Fact]
    public void MissingDictKeyIsUndefinedUntilUsed()
    {
        Assert.Equal("|False|fallback", Render("{{ d.missing }}|{{ d.missing is defined }}|{{ d['missing'] | default('fallback') }}"));
        Assert.Contains("'dict object' has no attribute 'missing'", RenderError("{{ d.missing + 1 }}").Message);
    }

    [Fact]
    public void ConditionalWithoutElseGivesUndefined()
    {
        Assert.Equal("[]", Render("[{{ 'a' if false }}]"));
    }

    // ---------------- limits: untrusted templates cannot hang or exhaust memory ----------------

    [Fact]
    public void RunawayLoopsStopAtTheIterationLimit()
    {
        var options = new JinjaOptions { MaxLoopIterations = 10_000 };
        var e = RenderError("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}", options);
        Assert.Contains("more than 10000 loop iterations", e.Message);
    }

    [Fact]
    public void HugeRangesAreRefused()
    {
        Assert.Contains("exceeds the limit", RenderError("{{ range(100000000000) | length }}").Message);
    }

    [Fact]
    public void RunawayRecursionStopsAtTheCallDepth()
    {
        var e = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        Assert.Contains("nested more than 200 calls deep", e.Message);
    }

    [Fact]
    public void DeepRecursionWithAHighLimitStillFailsCleanly()
    {
        var options = new JinjaOptions { MaxCallDepth = 1_000_000 };
        var e = RenderError("{% macro f(n) %}{% if true %}{% for i in [1] %}{{ f(n + 1) }}{% endfor %}{% endif %}{% endmacro %}{{ f(0) }}", options);
        Assert.Contains("too deep", e.Message);
    }

    [Theory]
    [InlineData("{{ 'x' * 100000000 }}")]
    [InlineData("{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")]
    [InlineData("{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' * 10 }}{% endfor %}")]
    public void OutputAndValuesAreCapped(string source)
    {
        var e = RenderError(source, new JinjaOptions { MaxOutputLength = 1_000_000 });
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void DeeplyNestedSourceIsASyntaxErrorNotACrash()
    {
        string source = "{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}";
        var e = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(source));
        Assert.Contains("nested", e.Message);
        string brackets = "{{ " + string.Concat(Enumerable.Repeat("[", 50_000)) + " }}";
        Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(brackets));
    }

    // ---------------- options and whitespace ----------------

    [Fact]
    public void TrimAndLstripBlocksCanBeTurnedOff()
    {
        const string source = "  {% if true %}\nx\n  {% endif %}\ny";
        Assert.Equal("x\ny", Render(source));
        Assert.Equal("  \nx\n  \ny", Render(source, options: new JinjaOptions { TrimBlocks = false, LstripBlocks = false }));
        Assert.Equal("  x\n  y", Render(source, options: new JinjaOptions { TrimBlocks = true, LstripBlocks = false }));
    }

    [Fact]
    public void OneTrailingNewlineIsDroppedUnlessKept()
    {
        Assert.Equal("a\n", Render("a\n\n"));
        Assert.Equal("a\n\n", Render("a\n\n", options: new JinjaOptions { KeepTrailingNewline = true }));
        Assert.Equal("a\nb", Render("a\r\nb"));
    }

    [Fact]
    public void GenerationBlocksRenderTheirBody()
    {
        Assert.Equal("<a>7</a>", Render("<a>{% generation %}{{ n }}{% endgeneration %}</a>"));
    }

    [Fact]
    public void StrftimeNowReadsTheInjectedClock()
    {
        var options = new JinjaOptions { Clock = () => new DateTime(2026, 1, 15, 18, 30, 0) };
        Assert.Equal("15 Jan 2026 06:30 PM Thu", Render("{{ strftime_now('%d %b %Y %I:%M %p %a') }}", options: options));
    }

    [Fact]
    public void TransformersToJsonKeepsOrderAndTextAndDoesNotEscape()
    {
        var options = new JinjaOptions { ToJson = ToJsonStyle.Transformers };
        const string value = "{% set x = {'b': 1, 'a': '\u00e9<&>\\n', 'c': [1, 2]} %}";
        Assert.Equal("{\"b\": 1, \"a\": \"\u00e9<&>\\n\", \"c\": [1, 2]}", Render(value + "{{ x | tojson }}", options: options));
        Assert.Equal("{\n  \"b\": 1,\n  \"a\": \"\u00e9<&>\\n\",\n  \"c\": [\n    1,\n    2\n  ]\n}", Render(value + "{{ x | tojson(indent=2) }}", options: options));
        Assert.Equal("{\"a\":\"\\u00e9<&>\\n\",\"b\":1,\"c\":[1,2]}",
            Render(value + "{{ x | tojson(ensure_ascii=true, separators=(',', ':'), sort_keys=true) }}", options: options));
        Assert.Equal("\"<\": 1", Render("{{ '\"<\": ' + 1 | tojson }}", options: options));
        Assert.Equal("&#34;&lt;&#34;: 1", Render("{{ '\"<\": ' + 1 | tojson }}"));
    }

    // ---------------- API ----------------

    [Fact]
    public void FromJsonKeepsPythonNumberKindsAndOrder()
    {
        using var doc = JsonDocument.Parse("""{"i": 1, "f": 1.0, "e": 1e3, "big": 123456789012345678901, "s": "x", "n": null, "b": true, "l": [1, "a"], "o": {"z": 1, "a": 2}}""");
        var value = (IReadOnlyDictionary<string, object?>)JinjaValues.FromJson(doc.RootElement)!;
        Assert.Equal(1L, value["i"]);
        Assert.Equal(1.0, value["f"]);
        Assert.Equal(1000.0, value["e"]);
        Assert.IsType<double>(value["big"]);
        Assert.Equal("x", value["s"]);
        Assert.Null(value["n"]);
        Assert.Equal(true, value["b"]);
        Assert.Equal(new object?[] { 1L, "a" }, (IReadOnlyList<object?>)value["l"]!);
        Assert.Equal(["z", "a"], ((IReadOnlyDictionary<string, object?>)value["o"]!).Keys);
        Assert.Equal("1|1.0|1000.0|{'z': 1, 'a': 2}", Render("{{ i }}|{{ f }}|{{ e }}|{{ o }}", value));
    }

    [Fact]
    public void ClrValuesAreAcceptedAndCallerDataIsNotMutated()
    {
        var list = new List<object?> { 1, 2 };
        var variables = new Dictionary<string, object?>
        {
            ["xs"] = list,
            ["n"] = 5,
            ["f"] = 0.5f,
            ["m"] = new Dictionary<string, object?> { ["k"] = "v" },
        };
        Assert.Equal("[1, 2, 3]|5|0.5|v", Render("{% do xs.append(3) %}{{ xs }}|{{ n }}|{{ f }}|{{ m.k }}", variables));
        Assert.Equal(2, list.Count);
    }

    [Fact]
    public void UnsupportedClrValuesAreRejectedClearly()
    {
        var e = Assert.Throws<ArgumentException>(() => Render("{{ x }}", new Dictionary<string, object?> { ["x"] = new Uri("http://a") }));
        Assert.Contains("Uri", e.Message);
    }

    [Fact]
    public void ATemplateRendersManyTimesIndependently()
    {
        var template = JinjaTemplate.Parse("{% set ns = namespace(c=0) %}{% for x in xs %}{% set ns.c = ns.c + x %}{% endfor %}{{ ns.c }}");
        var results = Enumerable.Range(1, 50).AsParallel()
            .Select(i => (i, template.Render(new Dictionary<string, object?> { ["xs"] = Enumerable.Range(1, i).Cast<object?>().ToList() })))
            .ToList();
        foreach (var (i, text) in results) Assert.Equal((i * (i + 1) / 2).ToString(), text);
    }

    [Fact]
    public void ChatTemplateLeavesToolsUndefinedWhenNotGiven()
    {
        var chat = new ChatTemplate("{{ bos_token }}{% if tools is defined %}T{{ tools | length }}{% endif %}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}", "<s>", "</s>");
        var messages = new List<IReadOnlyDictionary<string, object?>> { new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" } };
        Assert.Equal("<s>[user:hi]></s>", chat.Render(messages, addGenerationPrompt: true));
        Assert.Equal("<s>T1[user:hi]</s>", chat.Render(messages, addGenerationPrompt: false, tools: [new Dictionary<string, object?> { ["name"] = "f" }]));
    }

    [Fact]
    public void ChatTemplateSyntaxErrorsSurfaceAtConstruction()
    {
        Assert.Throws<TemplateException>(() => new ChatTemplate("{% if messages %}", "<s>", "</s>"));
    }
}
