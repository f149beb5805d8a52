namespace Frugal.Templates;

/// <summary>A parsed Jinja template (the dialect of Python's Jinja2 that chat templates are written in).
/// Parse once, render many times; rendering is thread-safe because every render gets its own state.</summary>
public sealed class JinjaTemplate
{
    private readonly List<Stmt> _body;
    private readonly JinjaOptions _options;

    private JinjaTemplate(List<Stmt> body, JinjaOptions options)
    {
        _body = body;
        _options = options;
    }

    /// <summary>Parses <paramref name="source"/>; a syntax error throws <see cref="TemplateException"/> with its line and column.</summary>
    public static JinjaTemplate Parse(string source, JinjaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= new JinjaOptions();
        var tokens = Lexer.Tokenize(source, options);
        return new JinjaTemplate(Parser.Parse(tokens), options);
    }

    /// <summary>Renders with the given variables: null, bool, long (or other integers), double, string,
    /// lists and string-keyed dictionaries of those (JsonElement is accepted too). Variables are copied,
    /// so a template that mutates a list leaves the caller's data alone.</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new Scope(null);
        Globals.AddTo(globals);
        var top = new Scope(globals);
        foreach (var (name, value) in variables) top.Set(name, JinjaValues.ToInternal(value));

        var interpreter = new Interpreter(_options);
        var output = new Output(_options.MaxOutputLength);
        interpreter.Run(_body, top, output);
        return output.ToString();
    }
}
