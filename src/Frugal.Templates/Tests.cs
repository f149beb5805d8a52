namespace Frugal.Templates;

/// <summary>Jinja2's builtin tests (<c>x is defined</c>, <c>n is divisibleby 3</c>, ...).</summary>
internal static class Tests
{
    private delegate bool Test(Interpreter it, object? value, CallArguments args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (_, v, _) => v is not Undefined,
        ["undefined"] = (_, v, _) => v is Undefined,
        ["none"] = (_, v, _) => v is null,
        ["boolean"] = (_, v, _) => v is bool,
        ["true"] = (_, v, _) => v is true,
        ["false"] = (_, v, _) => v is false,
        ["integer"] = (_, v, _) => v is long,
        ["float"] = (_, v, _) => v is double,
        ["number"] = (_, v, _) => v is long or double or bool,
        ["string"] = (_, v, _) => v is string,
        ["mapping"] = (_, v, _) => v is JinjaDict,
        ["iterable"] = (_, v, _) => PyOps.IsIterable(v),
        ["sequence"] = (_, v, _) => v is string or List<object?> or object?[] or JinjaDict,
        ["callable"] = (_, v, _) => v is JinjaCallable,
        ["lower"] = (_, v, _) => v is string s && Methods.IsLower(s),
        ["upper"] = (_, v, _) => v is string s && Methods.IsUpper(s),
        ["odd"] = (_, v, _) => PyOps.ToLong(Integer(v)) % 2 != 0,
        ["even"] = (_, v, _) => PyOps.ToLong(Integer(v)) % 2 == 0,
        ["divisibleby"] = (_, v, a) =>
        {
            long divisor = PyOps.ToLong(Integer(a.Get(0, "num")));
            if (divisor == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
            return PyOps.ToLong(Integer(v)) % divisor == 0;
        },
        ["eq"] = (_, v, a) => PyOps.Equal(v, a.Get(0, "other")),
        ["equalto"] = (_, v, a) => PyOps.Equal(v, a.Get(0, "other")),
        ["=="] = (_, v, a) => PyOps.Equal(v, a.Get(0, "other")),
        ["ne"] = (_, v, a) => !PyOps.Equal(v, a.Get(0, "other")),
        ["!="] = (_, v, a) => !PyOps.Equal(v, a.Get(0, "other")),
        ["lt"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), "<") < 0,
        ["lessthan"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), "<") < 0,
        ["<"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), "<") < 0,
        ["le"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), "<=") <= 0,
        ["<="] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), "<=") <= 0,
        ["gt"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), ">") > 0,
        ["greaterthan"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), ">") > 0,
        [">"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), ">") > 0,
        ["ge"] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), ">=") >= 0,
        [">="] = (_, v, a) => PyOps.Compare(v, a.Get(0, "other"), ">=") >= 0,
        ["in"] = (_, v, a) => PyOps.Contains(a.Get(0, "seq"), v),
        ["sameas"] = (_, v, a) => SameAs(v, a.Get(0, "other")),
        ["escaped"] = (_, v, _) => Markup.IsMarkup(v),
        ["filter"] = (_, v, _) => v is string name && Filters.Exists(name),
        ["test"] = (_, v, _) => v is string name && Exists(name),
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static bool Apply(Interpreter it, string name, object? value, CallArguments args)
    {
        if (!All.TryGetValue(name, out var test)) throw new JinjaRuntimeException($"no test named '{name}'");
        return test(it, value, args);
    }

    private static object? Integer(object? v) => v switch
    {
        long or bool => v,
        double d when d == Math.Floor(d) => (long)d,
        Undefined u => throw u.Fail(),
        _ => throw new JinjaRuntimeException($"expected a number, got '{PyOps.TypeName(v)}'"),
    };

    // Python's "is": identity; small values (None, booleans) are singletons.
    private static bool SameAs(object? a, object? b) => a switch
    {
        null => b is null,
        bool x => b is bool y && x == y,
        _ => ReferenceEquals(a, b),
    };
}
