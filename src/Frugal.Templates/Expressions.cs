namespace Frugal.Templates;

/// <summary>An expression node; <see cref="Eval"/> computes its value in a scope.</summary>
internal abstract class Expr(int line)
{
    public int Line { get; } = line;
    public abstract object? Eval(Interpreter it, Scope scope);
}

internal sealed class LiteralExpr(int line, object? value) : Expr(line)
{
    public object? Value { get; } = value;
    public override object? Eval(Interpreter it, Scope scope) => Value;
}

internal sealed class NameExpr(int line, string name) : Expr(line)
{
    public string Name { get; } = name;
    public override object? Eval(Interpreter it, Scope scope) => scope.Lookup(Name);
}

internal sealed class ListExpr(int line, List<Expr> items) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => items.Select(e => e.Eval(it, scope)).ToList();
}

internal sealed class TupleExpr(int line, List<Expr> items) : Expr(line)
{
    public List<Expr> Items { get; } = items;
    public override object? Eval(Interpreter it, Scope scope) => Items.Select(e => e.Eval(it, scope)).ToArray();
}

internal sealed class DictExpr(int line, List<(Expr Key, Expr Value)> pairs) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope)
    {
        var dict = new JinjaDict();
        foreach (var (key, value) in pairs) dict.Set(key.Eval(it, scope), value.Eval(it, scope));
        return dict;
    }
}

internal sealed class GetAttrExpr(int line, Expr target, string name) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => PyOps.GetAttribute(target.Eval(it, scope), name);
}

internal sealed class GetItemExpr(int line, Expr target, Expr key) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => PyOps.GetItem(target.Eval(it, scope), key.Eval(it, scope));
}

internal sealed class SliceExpr(int line, Expr target, Expr? start, Expr? stop, Expr? step) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) =>
        PyOps.Slice(target.Eval(it, scope), start?.Eval(it, scope), stop?.Eval(it, scope), step?.Eval(it, scope));
}

/// <summary>Arguments as written at a call, filter or test site.</summary>
internal sealed class ArgList(List<Expr> positional, List<(string Name, Expr Value)> keywords, Expr? starArgs, Expr? starKwargs)
{
    public static readonly ArgList None = new([], [], null, null);

    public List<Expr> Positional { get; } = positional;

    public CallArguments Eval(Interpreter it, Scope scope, object? firstPositional = null, bool hasFirst = false)
    {
        var args = new List<object?>(Positional.Count + 1);
        if (hasFirst) args.Add(firstPositional);
        foreach (var e in Positional) args.Add(e.Eval(it, scope));
        if (starArgs is not null) args.AddRange(PyOps.Iterate(starArgs.Eval(it, scope)));
        var kwargs = keywords.Select(k => new KeyValuePair<string, object?>(k.Name, k.Value.Eval(it, scope))).ToList();
        if (starKwargs is not null)
        {
            if (starKwargs.Eval(it, scope) is not JinjaDict extra) throw new JinjaRuntimeException("argument after ** must be a mapping");
            foreach (var e in extra)
                kwargs.Add(new(e.Key as string ?? throw new JinjaRuntimeException("keywords must be strings"), e.Value));
        }
        return new CallArguments(args, kwargs);
    }
}

internal sealed class CallExpr(int line, Expr callee, ArgList args) : Expr(line)
{
    public Expr Callee { get; } = callee;
    public ArgList Args { get; } = args;

    public override object? Eval(Interpreter it, Scope scope)
    {
        object? function = Callee.Eval(it, scope);
        return it.Call(function, Args.Eval(it, scope));
    }
}

internal sealed class FilterExpr(int line, Expr? input, string name, ArgList args) : Expr(line)
{
    public string Name { get; } = name;

    public override object? Eval(Interpreter it, Scope scope) => Apply(it, scope, input!.Eval(it, scope));

    /// <summary>Applies this filter to an already computed value (filter blocks and set blocks use it too).</summary>
    public object? Apply(Interpreter it, Scope scope, object? value) => Filters.Apply(it, Name, value, args.Eval(it, scope));
}

internal sealed class TestExpr(int line, Expr input, string name, ArgList args, bool negated) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope)
    {
        bool result = Tests.Apply(it, name, input.Eval(it, scope), args.Eval(it, scope));
        return result != negated;
    }
}

internal sealed class BinaryExpr(int line, string op, Expr left, Expr right) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) =>
        PyOps.Binary(op, left.Eval(it, scope), right.Eval(it, scope), it.Options.MaxOutputLength);
}

/// <summary><c>a ~ b ~ c</c>: string conversion and concatenation (undefined prints as nothing).</summary>
internal sealed class ConcatExpr(int line, List<Expr> parts) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) =>
        PyOps.Limit(string.Concat(parts.Select(p => PyOps.Str(p.Eval(it, scope)))), it.Options.MaxOutputLength);
}

/// <summary>A chained comparison <c>a &lt; b &lt;= c</c>, evaluated as Python does.</summary>
internal sealed class CompareExpr(int line, Expr first, List<(string Op, Expr Operand)> rest) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope)
    {
        object? left = first.Eval(it, scope);
        foreach (var (op, operand) in rest)
        {
            object? right = operand.Eval(it, scope);
            if (!Compare(op, left, right)) return false;
            left = right;
        }
        return true;
    }

    private static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => PyOps.Equal(a, b),
        "!=" => !PyOps.Equal(a, b),
        "<" => PyOps.Compare(a, b, op) < 0,
        "<=" => PyOps.Compare(a, b, op) <= 0,
        ">" => PyOps.Compare(a, b, op) > 0,
        ">=" => PyOps.Compare(a, b, op) >= 0,
        "in" => PyOps.Contains(b, a),
        "not in" => !PyOps.Contains(b, a),
        _ => throw new JinjaRuntimeException($"unknown comparison '{op}'"),
    };
}

internal sealed class AndExpr(int line, Expr left, Expr right) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope)
    {
        object? l = left.Eval(it, scope);
        return PyOps.Truthy(l) ? right.Eval(it, scope) : l;
    }
}

internal sealed class OrExpr(int line, Expr left, Expr right) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope)
    {
        object? l = left.Eval(it, scope);
        return PyOps.Truthy(l) ? l : right.Eval(it, scope);
    }
}

internal sealed class NotExpr(int line, Expr operand) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => !PyOps.Truthy(operand.Eval(it, scope));
}

internal sealed class NegExpr(int line, Expr operand) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => PyOps.Negate(operand.Eval(it, scope));
}

internal sealed class PosExpr(int line, Expr operand) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) => PyOps.Plus(operand.Eval(it, scope));
}

/// <summary><c>a if cond else b</c>; without <c>else</c> a false condition gives undefined.</summary>
internal sealed class CondExpr(int line, Expr test, Expr then, Expr? otherwise) : Expr(line)
{
    public override object? Eval(Interpreter it, Scope scope) =>
        PyOps.Truthy(test.Eval(it, scope)) ? then.Eval(it, scope)
        : otherwise is null ? new Undefined("the inline if-expression evaluated to false and no else section was defined")
        : otherwise.Eval(it, scope);
}
