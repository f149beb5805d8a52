using System.Collections;
using System.Text.Json;

namespace Frugal.Templates;

// Runtime values inside the interpreter follow Python's types:
//   None = null, bool, int = long, float = double, str = string, list = List<object?>, tuple = object?[],
//   dict = JinjaDict (insertion-ordered), plus Undefined, Namespace, LoopContext and callables (JinjaCallable).

/// <summary>Jinja2's default Undefined: prints as nothing, is falsy, iterates as empty, and fails with its
/// message when used in an operation, called, or asked for an attribute.</summary>
internal sealed class Undefined(string message)
{
    public string Message { get; } = message;

    public static Undefined Variable(string name) => new($"'{name}' is undefined");

    /// <summary>Jinja2's wording for a missing attribute (string key) or element (other key) of <paramref name="owner"/>.</summary>
    public static Undefined Member(object? owner, object? key) => key is string name
        ? new Undefined($"{PyOps.Repr(ObjectTypeRepr(owner))} has no attribute {PyOps.Repr(name)}")
        : new Undefined($"{ObjectTypeRepr(owner)} has no element {PyOps.Repr(key)}");

    private static string ObjectTypeRepr(object? owner) => owner is null ? "None" : PyOps.TypeName(owner) + " object";

    public JinjaRuntimeException Fail() => new(Message);
}

/// <summary>A dict with Python's key semantics (1, 1.0 and True are one key) that keeps insertion order.</summary>
internal sealed class JinjaDict : IEnumerable<KeyValuePair<object?, object?>>
{
    // Entries in insertion order; _index maps a key to its slot in _entries.
    private readonly List<KeyValuePair<object?, object?>> _entries = [];
    private readonly Dictionary<object, int> _index = new(PyKeyComparer.Instance);

    public int Count => _entries.Count;

    private static object Slot(object? key) => key ?? PyKeyComparer.NoneKey;

    public bool TryGetValue(object? key, out object? value)
    {
        if (IsHashable(key) && _index.TryGetValue(Slot(key), out int at)) { value = _entries[at].Value; return true; }
        value = null;
        return false;
    }

    public bool ContainsKey(object? key) => IsHashable(key) && _index.ContainsKey(Slot(key));

    public void Set(object? key, object? value)
    {
        if (!IsHashable(key)) throw new JinjaRuntimeException($"unhashable type: '{PyOps.TypeName(key)}'");
        if (_index.TryGetValue(Slot(key), out int at)) _entries[at] = new(_entries[at].Key, value);
        else
        {
            _index[Slot(key)] = _entries.Count;
            _entries.Add(new(key, value));
        }
    }

    public bool Remove(object? key, out object? value)
    {
        if (!IsHashable(key) || !_index.TryGetValue(Slot(key), out int at)) { value = null; return false; }
        value = _entries[at].Value;
        _entries.RemoveAt(at);
        _index.Clear();
        for (int i = 0; i < _entries.Count; i++) _index[Slot(_entries[i].Key)] = i;
        return true;
    }

    public void Clear() { _entries.Clear(); _index.Clear(); }

    public IEnumerable<object?> Keys => _entries.Select(e => e.Key);
    public IEnumerable<object?> Values => _entries.Select(e => e.Value);

    public JinjaDict Copy()
    {
        var copy = new JinjaDict();
        foreach (var e in _entries) copy.Set(e.Key, e.Value);
        return copy;
    }

    private static bool IsHashable(object? key) => key is null or string or long or double or bool || key is object?[] t && t.All(IsHashable);

    public IEnumerator<KeyValuePair<object?, object?>> GetEnumerator() => _entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Equality and hashing of dict keys as Python does it: numbers by value across bool/int/float.</summary>
internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();
    public static readonly object NoneKey = new();

    public new bool Equals(object? x, object? y) => ReferenceEquals(x, y) || PyOps.Equal(Unslot(x), Unslot(y));

    public int GetHashCode(object obj) => Unslot(obj) switch
    {
        null => 0,
        string s => s.GetHashCode(StringComparison.Ordinal),
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => ((long)d).GetHashCode(),
        double d => d.GetHashCode(),
        object?[] t => t.Aggregate(17, (h, item) => h * 31 + (item is null ? 0 : GetHashCode(item))),
        var other => other.GetHashCode(),
    };

    private static object? Unslot(object? x) => ReferenceEquals(x, NoneKey) ? null : x;
}

/// <summary>The object made by <c>namespace(...)</c>: attributes can be assigned from any scope.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Anything a template can call: builtins, macros, bound methods of values.</summary>
internal abstract class JinjaCallable
{
    public abstract string Name { get; }
    public abstract object? Invoke(Interpreter interpreter, CallArguments args);
}

/// <summary>Positional and keyword arguments of one call, with Python-style binding helpers.</summary>
internal sealed class CallArguments(List<object?> positional, List<KeyValuePair<string, object?>> keywords)
{
    public static readonly CallArguments Empty = new([], []);

    public List<object?> Positional { get; } = positional;
    public List<KeyValuePair<string, object?>> Keywords { get; } = keywords;

    public int Count => Positional.Count + Keywords.Count;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null)
    {
        if (index >= 0 && index < Positional.Count) return Positional[index];
        foreach (var kw in Keywords) if (kw.Key == name) return kw.Value;
        return fallback;
    }

    public bool Has(int index, string name) =>
        (index >= 0 && index < Positional.Count) || Keywords.Any(kw => kw.Key == name);

    /// <summary>Rejects more positionals than <paramref name="names"/> or unknown keywords, as Python would.</summary>
    public void Check(string function, params string[] names)
    {
        if (Positional.Count > names.Length)
            throw new JinjaRuntimeException($"{function}() takes at most {names.Length} argument{(names.Length == 1 ? "" : "s")} ({Positional.Count} given)");
        foreach (var kw in Keywords)
            if (Array.IndexOf(names, kw.Key) < 0)
                throw new JinjaRuntimeException($"{function}() got an unexpected keyword argument '{kw.Key}'");
    }
}

/// <summary>A builtin global function or filter-like helper backed by a delegate.</summary>
internal sealed class BuiltinFunction(string name, Func<Interpreter, CallArguments, object?> body) : JinjaCallable
{
    public override string Name => name;
    public override object? Invoke(Interpreter interpreter, CallArguments args) => body(interpreter, args);
}

/// <summary>A method looked up on a value (<c>"a b".split</c>, <c>d.items</c>, <c>l.append</c>), called later.</summary>
internal sealed class BoundMethod(object target, string name) : JinjaCallable
{
    public object Target { get; } = target;
    public override string Name => name;
    public override object? Invoke(Interpreter interpreter, CallArguments args) => Methods.Call(interpreter, Target, name, args);
}

/// <summary>Public helpers for passing values into templates.</summary>
public static class JinjaValues
{
    /// <summary>Converts JSON into template values: null, bool, long (integers without fraction or exponent),
    /// double, string, <see cref="IReadOnlyList{T}"/> and insertion-ordered <see cref="IReadOnlyDictionary{TKey,TValue}"/>.</summary>
    public static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => NumberFromJson(element),
        JsonValueKind.Array => element.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => ObjectFromJson(element),
        _ => throw new ArgumentException($"unsupported JSON value kind {element.ValueKind}"),
    };

    private static object NumberFromJson(JsonElement element)
    {
        string raw = element.GetRawText();
        // Python's json module reads 1 as int and 1.0 or 1e3 as float; integers beyond 64 bits become floats here.
        if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && element.TryGetInt64(out long integer)) return integer;
        return element.GetDouble();
    }

    private static Dictionary<string, object?> ObjectFromJson(JsonElement element)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject()) result[property.Name] = FromJson(property.Value);
        return result;
    }

    /// <summary>Deep-converts caller values (CLR numbers, lists, dictionaries, JSON) into interpreter values.
    /// Containers are copied so a template's list.append never changes the caller's data.</summary>
    internal static object? ToInternal(object? value, int depth = 0)
    {
        if (depth > 256) throw new ArgumentException("template variables are nested more than 256 levels deep");
        switch (value)
        {
            case null: return null;
            case string or bool or long or double or Undefined or Namespace or JinjaCallable: return value;
            case int or short or sbyte or byte or ushort or uint: return Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
            case ulong u: return u <= long.MaxValue ? (long)u : (double)u;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case JsonElement json: return ToInternal(FromJson(json), depth + 1);
            case JinjaDict dict:
                {
                    var copy = new JinjaDict();
                    foreach (var e in dict) copy.Set(e.Key, ToInternal(e.Value, depth + 1));
                    return copy;
                }
            case IReadOnlyDictionary<string, object?> map:
                {
                    var dict = new JinjaDict();
                    foreach (var e in map) dict.Set(e.Key, ToInternal(e.Value, depth + 1));
                    return dict;
                }
            case IDictionary map:
                {
                    var dict = new JinjaDict();
                    foreach (DictionaryEntry e in map) dict.Set(ToInternal(e.Key, depth + 1), ToInternal(e.Value, depth + 1));
                    return dict;
                }
            case IEnumerable sequence:
                {
                    var list = new List<object?>();
                    foreach (object? item in sequence) list.Add(ToInternal(item, depth + 1));
                    return list;
                }
            default:
                throw new ArgumentException($"values of type {value.GetType().Name} cannot be passed to a template; use null, bool, long, double, string, lists or dictionaries");
        }
    }
}
