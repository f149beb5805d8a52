using System.Globalization;
using System.Text;

namespace Frugal.Templates;

/// <summary>Global functions every template sees: Jinja2's range, dict, namespace, cycler, joiner, plus the chat
/// template conventions raise_exception and strftime_now.</summary>
internal static class Globals
{
    public static void AddTo(Scope scope)
    {
        scope.Set("range", new BuiltinFunction("range", Range));
        scope.Set("dict", new BuiltinFunction("dict", (_, a) =>
        {
            var dict = new JinjaDict();
            if (a.Positional.Count > 1) throw new JinjaRuntimeException($"dict expected at most 1 argument, got {a.Positional.Count}");
            if (a.Positional.Count == 1)
            {
                if (a.Positional[0] is JinjaDict source) foreach (var e in source) dict.Set(e.Key, e.Value);
                else
                    foreach (object? pair in PyOps.Iterate(a.Positional[0]))
                    {
                        var kv = PyOps.Iterate(pair);
                        if (kv.Count != 2) throw new JinjaRuntimeException("dictionary update sequence element has wrong length; 2 is required");
                        dict.Set(kv[0], kv[1]);
                    }
            }
            foreach (var kw in a.Keywords) dict.Set(kw.Key, kw.Value);
            return dict;
        }));
        scope.Set("list", new BuiltinFunction("list", (_, a) =>
        {
            a.Check("list", "iterable");
            return a.Positional.Count == 0 ? new List<object?>() : PyOps.Iterate(a.Positional[0]);
        }));
        scope.Set("namespace", new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            foreach (object? initial in a.Positional)
            {
                if (initial is not JinjaDict source) throw new JinjaRuntimeException("namespace() takes keyword arguments or a mapping");
                foreach (var e in source) ns.Attributes[PyOps.Str(e.Key)] = e.Value;
            }
            foreach (var kw in a.Keywords) ns.Attributes[kw.Key] = kw.Value;
            return ns;
        }));
        scope.Set("raise_exception", new BuiltinFunction("raise_exception", (_, a) =>
            throw new TemplateException(PyOps.Str(a.Get(0, "message", "")), raisedByTemplate: true)));
        scope.Set("strftime_now", new BuiltinFunction("strftime_now", (it, a) =>
        {
            a.Check("strftime_now", "format");
            return StrFTime(it.Now(), a.Get(0, "format") as string ?? throw new JinjaRuntimeException("strftime_now() argument must be a string"));
        }));
        scope.Set("cycler", new BuiltinFunction("cycler", (_, a) => Cycler(a.Positional)));
        scope.Set("joiner", new BuiltinFunction("joiner", (_, a) =>
        {
            string separator = PyOps.Str(a.Get(0, "sep", ", "));
            bool used = false;
            return new BuiltinFunction("joiner", (_, _) =>
            {
                if (used) return separator;
                used = true;
                return "";
            });
        }));
    }

    private static object? Range(Interpreter it, CallArguments a)
    {
        if (a.Keywords.Count > 0) throw new JinjaRuntimeException("range() takes no keyword arguments");
        long start = 0, stop, step = 1;
        switch (a.Positional.Count)
        {
            case 1: stop = PyOps.ToIndex(a.Positional[0], "range() argument"); break;
            case 2: start = PyOps.ToIndex(a.Positional[0], "range() argument"); stop = PyOps.ToIndex(a.Positional[1], "range() argument"); break;
            case 3:
                start = PyOps.ToIndex(a.Positional[0], "range() argument");
                stop = PyOps.ToIndex(a.Positional[1], "range() argument");
                step = PyOps.ToIndex(a.Positional[2], "range() argument");
                break;
            default: throw new JinjaRuntimeException($"range expected 1 to 3 arguments, got {a.Positional.Count}");
        }
        if (step == 0) throw new JinjaRuntimeException("range() arg 3 must not be zero");
        long count = step > 0 ? Math.Max(0, (stop - start + step - 1) / step) : Math.Max(0, (start - stop - step - 1) / -step);
        // Jinja2's sandbox caps range() too (MAX_RANGE); ours follows the loop-iteration limit.
        if (count > it.Options.MaxLoopIterations)
            throw new JinjaRuntimeException($"range() of {count} items exceeds the limit of {it.Options.MaxLoopIterations}");
        var items = new List<object?>((int)count);
        for (long i = 0; i < count; i++) items.Add(start + i * step);
        return items;
    }

    private static BuiltinFunction Cycler(List<object?> items)
    {
        if (items.Count == 0) throw new JinjaRuntimeException("at least one item has to be provided to cycler()");
        int position = 0;
        return new BuiltinFunction("cycler.next", (_, _) =>
        {
            object? item = items[position];
            position = (position + 1) % items.Count;
            return item;
        });
    }

    /// <summary>C/Python strftime for the directives chat templates use (C locale), plus glibc's %-d style flags.</summary>
    public static string StrFTime(DateTime time, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char d = format[++i];
            bool noPad = false;
            if (d == '-' && i + 1 < format.Length) { noPad = true; d = format[++i]; }
            string Pad(int value, int width) => noPad ? value.ToString(c) : value.ToString(new string('0', width), c);
            sb.Append(d switch
            {
                'a' => time.ToString("ddd", c),
                'A' => time.ToString("dddd", c),
                'b' or 'h' => time.ToString("MMM", c),
                'B' => time.ToString("MMMM", c),
                'd' => Pad(time.Day, 2),
                'e' => noPad ? time.Day.ToString(c) : time.Day.ToString(c).PadLeft(2),
                'm' => Pad(time.Month, 2),
                'y' => Pad(time.Year % 100, 2),
                'Y' => time.Year.ToString(c),
                'H' => Pad(time.Hour, 2),
                'I' => Pad(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Pad(time.Minute, 2),
                'S' => Pad(time.Second, 2),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Pad(time.DayOfYear, 3),
                'w' => ((int)time.DayOfWeek).ToString(c),
                'u' => (time.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)time.DayOfWeek).ToString(c),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", c),
                'F' => time.ToString("yyyy-MM-dd", c),
                'D' => time.ToString("MM/dd/yy", c),
                'T' => time.ToString("HH:mm:ss", c),
                'R' => time.ToString("HH:mm", c),
                'c' => time.ToString("ddd MMM ", c) + time.Day.ToString(c).PadLeft(2) + time.ToString(" HH:mm:ss yyyy", c),
                'x' => time.ToString("MM/dd/yy", c),
                'X' => time.ToString("HH:mm:ss", c),
                'z' => time.Kind == DateTimeKind.Utc ? "+0000" : time.ToString("zzz", c).Replace(":", ""),
                'Z' => time.Kind == DateTimeKind.Utc ? "UTC" : "",
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + d,
            });
        }
        return sb.ToString();
    }
}
