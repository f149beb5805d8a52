using System.Globalization;
using System.Text;

namespace Frugal.Templates;

/// <summary>Python semantics for the interpreter's values: truthiness, str/repr, equality, ordering,
/// arithmetic, iteration, length, attribute and item lookup.</summary>
internal static class PyOps
{
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        JinjaDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        JinjaCallable => "builtin_function_or_method",
        _ => v.GetType().Name,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;
    public static bool IsInteger(object? v) => v is long or bool;

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        JinjaDict d => d.Count > 0,
        Undefined => false,
        _ => true,
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> prints.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    /// <summary>Python's repr(): strings quoted, containers with their items' repr.</summary>
    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200) throw new JinjaRuntimeException("value is nested too deeply to print");
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FloatRepr(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case Undefined: break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, list[i], depth + 1); }
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                for (int i = 0; i < tuple.Length; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, tuple[i], depth + 1); }
                if (tuple.Length == 1) sb.Append(',');
                sb.Append(')');
                break;
            case JinjaDict dict:
                sb.Append('{');
                bool first = true;
                foreach (var e in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, e.Key, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, e.Value, depth + 1);
                }
                sb.Append('}');
                break;
            case Namespace ns:
                sb.Append("<Namespace {");
                sb.AppendJoin(", ", ns.Attributes.Select(a => Repr(a.Key) + ": " + Repr(a.Value)));
                sb.Append("}>");
                break;
            case LoopContext: sb.Append("<LoopContext>"); break;
            case JinjaCallable c: sb.Append("<function ").Append(c.Name).Append('>'); break;
            default: sb.Append(v); break;
        }
    }

    /// <summary>Python's string repr: single quotes unless the text has a ' and no ", escapes for control characters.</summary>
    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (Rune r in s.EnumerateRunes())
        {
            int c = r.Value;
            if (c == quote || c == '\\') sb.Append('\\').Append((char)c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c < 0x20 || c == 0x7F) sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c < 0x7F || IsPrintable(r)) sb.Append(r.ToString());
            else if (c <= 0xFF) sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c <= 0xFFFF) sb.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
        }
        sb.Append(quote);
    }

    // Python treats as non-printable: control, format, surrogate, private-use, unassigned and separators other than space.
    private static bool IsPrintable(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
        UnicodeCategory.SpaceSeparator => r.Value == ' ',
        _ => true,
    };

    /// <summary>Python's repr of a float: shortest round-trip digits, fixed notation for exponents -4..15.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        var (negative, digits, exponent) = ShortestDigits(d);
        // value = 0.d1d2d3... x 10^exponent; Python's repr switches to scientific when exponent-1 < -4 or >= 16.
        int sciExponent = exponent - 1;
        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        if (sciExponent < -4 || sciExponent >= 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(sciExponent < 0 ? '-' : '+').Append(Math.Abs(sciExponent).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (exponent <= 0)
        {
            sb.Append("0.").Append('0', -exponent).Append(digits);
        }
        else if (exponent >= digits.Length)
        {
            sb.Append(digits).Append('0', exponent - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, exponent).Append('.').Append(digits, exponent, digits.Length - exponent);
        }
        return sb.ToString();
    }

    /// <summary>The shortest round-trip decimal digits of <paramref name="d"/> (no leading/trailing zeros) and the
    /// exponent such that value = 0.DIGITS x 10^exponent.</summary>
    private static (bool Negative, string Digits, int Exponent) ShortestDigits(double d)
    {
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r.StartsWith('-');
        if (negative) r = r[1..];
        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.');
        string intPart = dot < 0 ? r : r[..dot];
        string fracPart = dot < 0 ? "" : r[(dot + 1)..];
        string all = intPart + fracPart;
        int pointPos = intPart.Length + exp;
        int lead = 0;
        while (lead < all.Length - 1 && all[lead] == '0') { lead++; pointPos--; }
        string digits = all[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        return (negative, digits, pointPos);
    }

    // ---- equality and ordering ----

    public static bool Equal(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
        {
            if (IsInteger(a) && IsInteger(b)) return ToLong(a) == ToLong(b);
            return ToDouble(a) == ToDouble(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case List<object?> la: return b is List<object?> lb && SequenceEqual(la, lb);
            case object?[] ta: return b is object?[] tb && SequenceEqual(ta, tb);
            case JinjaDict da:
                if (b is not JinjaDict db || da.Count != db.Count) return false;
                foreach (var entry in da)
                    if (!db.TryGetValue(entry.Key, out object? other) || !Equal(entry.Value, other)) return false;
                return true;
            case Undefined: return b is Undefined;
            default: return ReferenceEquals(a, b) || a.Equals(b);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++) if (!Equal(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Python ordering (&lt;, &gt; ...): numbers, strings by code point, lists and tuples item by item.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (IsInteger(a) && IsInteger(b)) return ToLong(a).CompareTo(ToLong(b));
            double x = ToDouble(a), y = ToDouble(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        if (a is string sa && b is string sb) return CompareCodePoints(sa, sb);
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var la = (IReadOnlyList<object?>)a;
            var lb = (IReadOnlyList<object?>)b!;
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (Equal(la[i], lb[i])) continue;
                return Compare(la[i], lb[i], op);
            }
            return la.Count.CompareTo(lb.Count);
        }
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        throw new JinjaRuntimeException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static int CompareCodePoints(string a, string b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length)
        {
            if (a[i] != b[i])
            {
                // UTF-16 order differs from code point order only between surrogates and U+E000..U+FFFF.
                int ca = char.IsSurrogate(a[i]) ? char.ConvertToUtf32(a, i) : a[i];
                int cb = char.IsSurrogate(b[i]) ? char.ConvertToUtf32(b, i) : b[i];
                return ca.CompareTo(cb);
            }
            i++;
        }
        return a.Length.CompareTo(b.Length);
    }

    // ---- numbers ----

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaRuntimeException($"expected an integer, got {TypeName(v)}"),
    };

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => d,
        _ => throw new JinjaRuntimeException($"expected a number, got {TypeName(v)}"),
    };

    /// <summary>An integer argument (index, count, width): int or bool only, as Python requires.</summary>
    public static int ToIndex(object? v, string what)
    {
        if (v is Undefined u) throw u.Fail();
        if (!IsInteger(v)) throw new JinjaRuntimeException($"{what} must be an integer, not '{TypeName(v)}'");
        long l = ToLong(v);
        return (int)Math.Clamp(l, int.MinValue, int.MaxValue);
    }

    private static JinjaRuntimeException Unsupported(string op, object? a, object? b)
    {
        if (a is Undefined ua) return ua.Fail();
        if (b is Undefined ub) return ub.Fail();
        if (op == "+" && a is string && b is not string)
            return new JinjaRuntimeException($"can only concatenate str (not \"{TypeName(b)}\") to str");
        if (op == "+" && a is List<object?> && b is not List<object?>)
            return new JinjaRuntimeException($"can only concatenate list (not \"{TypeName(b)}\") to list");
        return new JinjaRuntimeException($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Binary(string op, object? a, object? b, int maxLength)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        bool numbers = IsNumber(a) && IsNumber(b);
        bool integers = IsInteger(a) && IsInteger(b);
        try
        {
            switch (op)
            {
                case "+":
                    if (integers) return checked(ToLong(a) + ToLong(b));
                    if (numbers) return ToDouble(a) + ToDouble(b);
                    if (a is string sa && b is string sb)
                        return Limit(Markup.IsMarkup(sa) || Markup.IsMarkup(sb) ? Markup.Concat(sa, sb) : string.Concat(sa, sb), maxLength);
                    if (a is List<object?> la && b is List<object?> lb) return Limit<List<object?>>([.. la, .. lb], maxLength);
                    if (a is object?[] ta && b is object?[] tb) return Limit<object?[]>([.. ta, .. tb], maxLength);
                    break;
                case "-":
                    if (integers) return checked(ToLong(a) - ToLong(b));
                    if (numbers) return ToDouble(a) - ToDouble(b);
                    break;
                case "*":
                    if (integers) return checked(ToLong(a) * ToLong(b));
                    if (numbers) return ToDouble(a) * ToDouble(b);
                    if (a is string or List<object?> or object?[] && IsInteger(b)) return Repeat(a!, ToLong(b), maxLength);
                    if (b is string or List<object?> or object?[] && IsInteger(a)) return Repeat(b!, ToLong(a), maxLength);
                    break;
                case "/":
                    if (numbers)
                    {
                        double divisor = ToDouble(b);
                        if (divisor == 0) throw new JinjaRuntimeException("division by zero");
                        return ToDouble(a) / divisor;
                    }
                    break;
                case "//":
                    if (integers)
                    {
                        long x = ToLong(a), y = ToLong(b);
                        if (y == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
                        long q = x / y;
                        if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                        return q;
                    }
                    if (numbers)
                    {
                        double y = ToDouble(b);
                        if (y == 0) throw new JinjaRuntimeException("float floor division by zero");
                        return Math.Floor(ToDouble(a) / y);
                    }
                    break;
                case "%":
                    if (integers)
                    {
                        long x = ToLong(a), y = ToLong(b);
                        if (y == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
                        long m = x % y;
                        if (m != 0 && ((m < 0) != (y < 0))) m += y;
                        return m;
                    }
                    if (numbers)
                    {
                        double x = ToDouble(a), y = ToDouble(b);
                        if (y == 0) throw new JinjaRuntimeException("float modulo");
                        double m = x % y;
                        if (m != 0 && ((m < 0) != (y < 0))) m += y;
                        return m;
                    }
                    if (a is string format) return Limit(PercentFormat.Format(format, b), maxLength);
                    break;
                case "**":
                    if (integers && ToLong(b) >= 0) return IntPow(ToLong(a), ToLong(b));
                    if (numbers) return Math.Pow(ToDouble(a), ToDouble(b));
                    break;
            }
        }
        catch (OverflowException)
        {
            throw new JinjaRuntimeException($"integer overflow in '{op}' (results beyond 64 bits are not supported)");
        }
        throw Unsupported(op, a, b);
    }

    private static long IntPow(long x, long n)
    {
        long result = 1;
        while (n > 0)
        {
            if ((n & 1) != 0) result = checked(result * x);
            n >>= 1;
            if (n > 0) x = checked(x * x);
        }
        return result;
    }

    private static object Repeat(object sequence, long times, int maxLength)
    {
        if (times <= 0) return sequence switch { string => "", object?[] => Array.Empty<object?>(), _ => new List<object?>() };
        long length = sequence switch { string s => s.Length, object?[] t => t.Length, _ => ((List<object?>)sequence).Count } * times;
        if (length > maxLength) throw new JinjaRuntimeException($"result of repetition exceeds the limit of {maxLength} items");
        switch (sequence)
        {
            case string s: return new StringBuilder(s.Length * (int)times).Insert(0, s, (int)times).ToString();
            case object?[] t: return Enumerable.Repeat(t, (int)times).SelectMany(x => x).ToArray();
            default: return Enumerable.Repeat((List<object?>)sequence, (int)times).SelectMany(x => x).ToList();
        }
    }

    public static T Limit<T>(T value, int maxLength)
    {
        int length = value switch { string s => s.Length, List<object?> l => l.Count, object?[] t => t.Length, _ => 0 };
        if (length > maxLength) throw new JinjaRuntimeException($"a string or list grew beyond the limit of {maxLength} items");
        return value;
    }

    public static object? Negate(object? v) => v switch
    {
        long l => l == long.MinValue ? throw new JinjaRuntimeException("integer overflow in unary '-'") : (object)(-l),
        bool b => b ? -1L : 0L,
        double d => (object)(-d),
        Undefined u => throw u.Fail(),
        _ => throw new JinjaRuntimeException($"bad operand type for unary -: '{TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        long or double => v,
        bool b => b ? 1L : 0L,
        Undefined u => throw u.Fail(),
        _ => throw new JinjaRuntimeException($"bad operand type for unary +: '{TypeName(v)}'"),
    };

    // ---- containers ----

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is string sub) return s.Contains(sub, StringComparison.Ordinal);
                if (item is Undefined u) throw u.Fail();
                throw new JinjaRuntimeException($"'in <string>' requires string as left operand, not {TypeName(item)}");
            case List<object?> list: return list.Any(x => Equal(x, item));
            case object?[] tuple: return tuple.Any(x => Equal(x, item));
            case JinjaDict dict: return dict.ContainsKey(item);
            case Undefined: return false;
            default: throw new JinjaRuntimeException($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary>The items a for loop (or list(), join, ...) sees: list/tuple items, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> list => [.. list],
        object?[] tuple => [.. tuple],
        JinjaDict dict => [.. dict.Keys],
        string s => [.. s.EnumerateRunes().Select(r => (object?)r.ToString())],
        Undefined => [],
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    public static bool IsIterable(object? v) => v is List<object?> or object?[] or JinjaDict or string or Undefined;

    public static int Length(object? v) => v switch
    {
        string s => CodePointLength(s),
        List<object?> l => l.Count,
        object?[] t => t.Length,
        JinjaDict d => d.Count,
        Undefined => 0,
        _ => throw new JinjaRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    public static int CodePointLength(string s)
    {
        int surrogatePairs = 0;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { surrogatePairs++; i++; }
        return s.Length - surrogatePairs;
    }

    /// <summary>A string as code points, so indexing and slicing count characters as Python does.</summary>
    public static string[] CodePoints(string s) => [.. s.EnumerateRunes().Select(r => r.ToString())];

    // ---- attribute and item access ----

    /// <summary><c>obj.name</c>: Jinja2 tries the Python attribute (methods included) first, then the item.</summary>
    public static object? GetAttribute(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u: throw u.Fail();
            case Namespace ns: return ns.Attributes.TryGetValue(name, out object? v) ? v : Undefined.Member(obj, name);
            case LoopContext loop: return loop.GetAttribute(name);
            case JinjaDict dict:
                if (Methods.Has(obj, name)) return new BoundMethod(obj, name);
                return dict.TryGetValue(name, out object? value) ? value : Undefined.Member(obj, name);
            case null: return Undefined.Member(null, name);
            case object?[] group when Filters.IsGroup(group) && name is "grouper" or "list":
                return name == "grouper" ? group[0] : group[1];
            default:
                return Methods.Has(obj, name) ? new BoundMethod(obj, name) : Undefined.Member(obj, name);
        }
    }

    /// <summary><c>obj[key]</c>: the item first, then (for a string key) the attribute.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        if (key is Undefined) return new Undefined($"{TypeName(obj)} object has no element Undefined");
        switch (obj)
        {
            case JinjaDict dict:
                if (dict.TryGetValue(key, out object? value)) return value;
                break;
            case List<object?> or object?[] or string when IsInteger(key):
                {
                    long index = ToLong(key);
                    if (obj is string s)
                    {
                        string[] chars = CodePoints(s);
                        if (index < 0) index += chars.Length;
                        if (index >= 0 && index < chars.Length) return chars[index];
                    }
                    else
                    {
                        var list = (IReadOnlyList<object?>)obj;
                        if (index < 0) index += list.Count;
                        if (index >= 0 && index < list.Count) return list[(int)index];
                    }
                    return Undefined.Member(obj, key);
                }
        }
        if (key is string name) return GetAttribute(obj, name);
        return Undefined.Member(obj, key);
    }

    /// <summary>Python slicing <c>seq[start:stop:step]</c> of strings, lists and tuples.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u) throw u.Fail();
        long stepValue = step is null ? 1 : ToLongIndex(step);
        if (stepValue == 0) throw new JinjaRuntimeException("slice step cannot be zero");
        IReadOnlyList<object?> items = obj switch
        {
            string s => CodePoints(s),
            List<object?> l => l,
            object?[] t => t,
            _ => throw new JinjaRuntimeException($"'{TypeName(obj)}' object is not subscriptable"),
        };
        int n = items.Count;
        long Clamp(object? bound, bool isStart)
        {
            if (bound is null) return stepValue > 0 ? (isStart ? 0 : n) : (isStart ? n - 1 : -1);
            long b = ToLongIndex(bound);
            if (b < 0) b += n;
            if (stepValue > 0) return Math.Clamp(b, 0, n);
            return Math.Clamp(b, -1, n - 1);
        }
        long from = Clamp(start, true), to = Clamp(stop, false);
        var picked = new List<object?>();
        if (stepValue > 0) for (long i = from; i < to; i += stepValue) picked.Add(items[(int)i]);
        else for (long i = from; i > to; i += stepValue) picked.Add(items[(int)i]);
        return obj switch
        {
            string => string.Concat(picked.Cast<string>()),
            object?[] => picked.ToArray(),
            _ => picked,
        };
    }

    private static long ToLongIndex(object? v)
    {
        if (v is Undefined u) throw u.Fail();
        if (!IsInteger(v)) throw new JinjaRuntimeException("slice indices must be integers or None");
        return ToLong(v);
    }
}
