namespace Frugal.Templates;

/// <summary>
/// Any failure to parse or render a template: a syntax error (with line and column), a runtime error such as an
/// undefined value used in an operation (with the line), a resource limit, or the template's own
/// <c>raise_exception(message)</c> (whose message is passed through unchanged).
/// </summary>
public sealed class TemplateException : Exception
{
    public TemplateException(string message, int? line = null, int? column = null, bool raisedByTemplate = false)
        : base(message)
    {
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>1-based template line where the problem was found, when known.</summary>
    public int? Line { get; }

    /// <summary>1-based column (syntax errors only).</summary>
    public int? Column { get; }

    /// <summary>True when the template itself called <c>raise_exception</c>.</summary>
    public bool RaisedByTemplate { get; }
}

/// <summary>Thrown while evaluating; the renderer adds the line of the node that failed.</summary>
internal sealed class JinjaRuntimeException(string message) : Exception(message);
