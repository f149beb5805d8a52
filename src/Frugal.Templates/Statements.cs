using System.Text;

namespace Frugal.Templates;

/// <summary>What a statement tells the enclosing loop: go on, or break/continue it.</summary>
internal enum Flow { Normal, Break, Continue }

/// <summary>Rendered text with a size cap, so an untrusted template cannot exhaust memory.</summary>
internal sealed class Output(int maxLength)
{
    private readonly StringBuilder _text = new();

    public void Append(string s)
    {
        if (_text.Length + (long)s.Length > maxLength)
            throw new JinjaRuntimeException($"template output exceeds the limit of {maxLength} characters");
        _text.Append(s);
    }

    public override string ToString() => _text.ToString();
}

/// <summary>One frame of variables. For-loop iterations and macro calls get their own; if blocks do not
/// (as in Jinja2, where <c>set</c> inside a loop body does not leak out of it).</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public object? Lookup(string name)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._variables.TryGetValue(name, out object? value)) return value;
        return Undefined.Variable(name);
    }

    public void Set(string name, object? value) => _variables[name] = value;
}

internal abstract class Stmt(int line)
{
    public int Line { get; } = line;
    public abstract Flow Exec(Interpreter it, Scope scope, Output output);
}

internal sealed class TextStmt(int line, string text) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        output.Append(text);
        return Flow.Normal;
    }
}

internal sealed class PrintStmt(int line, Expr expr) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        output.Append(PyOps.Str(expr.Eval(it, scope)));
        return Flow.Normal;
    }
}

internal sealed class IfStmt(int line, List<(Expr Test, List<Stmt> Body)> branches, List<Stmt> otherwise) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        foreach (var (test, body) in branches)
            if (PyOps.Truthy(test.Eval(it, scope))) return it.Run(body, scope, output);
        return it.Run(otherwise, scope, output);
    }
}

/// <summary>Where an assignment stores: a name, a tuple of targets (unpacking), or a namespace attribute.</summary>
internal abstract class AssignTarget
{
    public abstract void Assign(Scope scope, object? value);
}

internal sealed class NameTarget(string name) : AssignTarget
{
    public string Name { get; } = name;
    public override void Assign(Scope scope, object? value) => scope.Set(Name, value);
}

internal sealed class TupleTarget(List<AssignTarget> items) : AssignTarget
{
    public override void Assign(Scope scope, object? value)
    {
        if (value is Undefined u) throw u.Fail();
        if (!PyOps.IsIterable(value)) throw new JinjaRuntimeException($"cannot unpack non-iterable {PyOps.TypeName(value)} object");
        var values = PyOps.Iterate(value);
        if (values.Count < items.Count) throw new JinjaRuntimeException($"not enough values to unpack (expected {items.Count}, got {values.Count})");
        if (values.Count > items.Count) throw new JinjaRuntimeException($"too many values to unpack (expected {items.Count})");
        for (int i = 0; i < items.Count; i++) items[i].Assign(scope, values[i]);
    }
}

internal sealed class NamespaceAttributeTarget(string name, string attribute) : AssignTarget
{
    public override void Assign(Scope scope, object? value)
    {
        if (scope.Lookup(name) is not Namespace ns)
            throw new JinjaRuntimeException($"cannot assign attribute '{attribute}' on '{name}': it is not a namespace() object");
        ns.Attributes[attribute] = value;
    }
}

internal sealed class SetStmt(int line, AssignTarget target, Expr value) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        target.Assign(scope, value.Eval(it, scope));
        return Flow.Normal;
    }
}

/// <summary><c>{% set x | filter %}...{% endset %}</c>: captures rendered text, optionally filtered.</summary>
internal sealed class SetBlockStmt(int line, AssignTarget target, List<FilterExpr> filters, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        var captured = new Output(it.Options.MaxOutputLength);
        it.Run(body, scope, captured);
        object? value = captured.ToString();
        foreach (var filter in filters) value = filter.Apply(it, scope, value);
        target.Assign(scope, value);
        return Flow.Normal;
    }
}

internal sealed class ForStmt(int line, AssignTarget target, Expr iterable, Expr? condition, List<Stmt> body, List<Stmt> otherwise)
    : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        object? source = iterable.Eval(it, scope);
        List<object?> items = PyOps.Iterate(source);
        if (condition is not null)
        {
            items = items.Where(item =>
            {
                var probe = new Scope(scope);
                target.Assign(probe, item);
                return PyOps.Truthy(condition.Eval(it, probe));
            }).ToList();
        }
        if (items.Count == 0) return it.Run(otherwise, new Scope(scope), output);

        var loop = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            it.CountIteration();
            loop.Index0 = i;
            var iteration = new Scope(scope);
            target.Assign(iteration, items[i]);
            iteration.Set("loop", loop);
            if (it.Run(body, iteration, output) == Flow.Break) break;
        }
        return Flow.Normal;
    }
}

internal sealed class BreakStmt(int line) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output) => Flow.Break;
}

internal sealed class ContinueStmt(int line) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output) => Flow.Continue;
}

/// <summary>A macro parameter with its optional default.</summary>
internal sealed record MacroParameter(string Name, Expr? Default);

internal sealed class MacroStmt(int line, string name, List<MacroParameter> parameters, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        scope.Set(name, new Macro(name, parameters, body, scope));
        return Flow.Normal;
    }
}

/// <summary><c>{% call(args) macro(...) %}body{% endcall %}</c>: the body becomes <c>caller</c> in the macro.</summary>
internal sealed class CallBlockStmt(int line, List<MacroParameter> callerParameters, CallExpr call, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        var caller = new Macro("caller", callerParameters, body, scope);
        object? function = call.Callee.Eval(it, scope);
        var args = call.Args.Eval(it, scope);
        args.Keywords.Add(new("caller", caller));
        output.Append(PyOps.Str(it.Call(function, args)));
        return Flow.Normal;
    }
}

internal sealed class FilterBlockStmt(int line, List<FilterExpr> filters, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        var captured = new Output(it.Options.MaxOutputLength);
        it.Run(body, scope, captured);
        object? value = captured.ToString();
        foreach (var filter in filters) value = filter.Apply(it, scope, value);
        output.Append(PyOps.Str(value));
        return Flow.Normal;
    }
}

/// <summary><c>{% with a = 1 %}...{% endwith %}</c>: a block with its own scope.</summary>
internal sealed class WithStmt(int line, List<(AssignTarget Target, Expr Value)> assignments, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        var inner = new Scope(scope);
        foreach (var (target, value) in assignments) target.Assign(inner, value.Eval(it, scope));
        return it.Run(body, inner, output);
    }
}

/// <summary>A run of statements that does not open a scope (<c>generation</c> blocks, <c>do</c>).</summary>
internal sealed class BlockStmt(int line, List<Stmt> body) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output) => it.Run(body, scope, output);
}

internal sealed class DoStmt(int line, Expr expr) : Stmt(line)
{
    public override Flow Exec(Interpreter it, Scope scope, Output output)
    {
        expr.Eval(it, scope);
        return Flow.Normal;
    }
}

/// <summary>A macro (or a call block's <c>caller</c>): renders its body in a new scope over the scope it was defined in.</summary>
internal sealed class Macro(string name, List<MacroParameter> parameters, List<Stmt> body, Scope closure) : JinjaCallable
{
    public override string Name => name;

    public override object? Invoke(Interpreter it, CallArguments args)
    {
        var scope = new Scope(closure);
        var extraPositional = new List<object?>();
        for (int i = 0; i < args.Positional.Count; i++)
        {
            if (i < parameters.Count) scope.Set(parameters[i].Name, args.Positional[i]);
            else extraPositional.Add(args.Positional[i]);
        }
        var extraKeywords = new JinjaDict();
        var bound = new HashSet<string>(parameters.Take(args.Positional.Count).Select(p => p.Name), StringComparer.Ordinal);
        foreach (var (key, value) in args.Keywords)
        {
            if (key == "caller" && !parameters.Any(p => p.Name == "caller")) { scope.Set("caller", value); continue; }
            if (parameters.Any(p => p.Name == key))
            {
                if (!bound.Add(key)) throw new JinjaRuntimeException($"macro '{name}' got multiple values for argument '{key}'");
                scope.Set(key, value);
            }
            else extraKeywords.Set(key, value);
        }
        foreach (var p in parameters)
        {
            if (bound.Contains(p.Name)) continue;
            scope.Set(p.Name, p.Default is null ? Undefined.Variable(p.Name) : p.Default.Eval(it, scope));
        }
        scope.Set("varargs", extraPositional.ToArray());
        scope.Set("kwargs", extraKeywords);

        var output = new Output(it.Options.MaxOutputLength);
        it.EnterCall(name);
        try
        {
            it.Run(body, scope, output);
        }
        finally
        {
            it.LeaveCall();
        }
        return output.ToString();
    }
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopContext(List<object?> items)
{
    public int Index0 { get; set; }
    private object? _lastChanged = new Undefined("");

    public object? GetAttribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new Undefined("there is no next item"),
        // Only recursive loops (not supported) go deeper than one level.
        "depth" => 1L,
        "depth0" => 0L,
        "cycle" => new BuiltinFunction("loop.cycle", (_, args) =>
        {
            if (args.Positional.Count == 0) throw new JinjaRuntimeException("no items for cycling given");
            return args.Positional[Index0 % args.Positional.Count];
        }),
        "changed" => new BuiltinFunction("loop.changed", (_, args) =>
        {
            object?[] current = [.. args.Positional];
            if (_lastChanged is object?[] previous && PyOps.Equal(previous, current)) return false;
            _lastChanged = current;
            return true;
        }),
        _ => Undefined.Member(this, name),
    };
}
