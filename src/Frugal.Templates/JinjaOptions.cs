namespace Frugal.Templates;

/// <summary>Parsing and rendering options. The defaults match how chat templates are rendered by Hugging Face
/// transformers and llama.cpp: trim_blocks and lstrip_blocks on.</summary>
public sealed class JinjaOptions
{
    /// <summary>Remove the first newline after a block tag (<c>{% ... %}</c>) or comment.</summary>
    public bool TrimBlocks { get; init; } = true;

    /// <summary>Strip spaces and tabs from the start of a line up to a block tag or comment.</summary>
    public bool LstripBlocks { get; init; } = true;

    /// <summary>Clock read by <c>strftime_now</c>; local time when null.</summary>
    public Func<DateTime>? Clock { get; init; }

    /// <summary>Keep the template's final newline (Jinja2 drops one by default).</summary>
    public bool KeepTrailingNewline { get; init; }

    /// <summary>How the tojson filter writes JSON: Python Jinja2's own (the default) or Hugging Face transformers'
    /// override that chat models were trained with.</summary>
    public ToJsonStyle ToJson { get; init; } = ToJsonStyle.Jinja2;

    /// <summary>Most loop iterations (all loops together) one render may run; guards against runaway templates.</summary>
    public int MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>Deepest nesting of macro calls.</summary>
    public int MaxCallDepth { get; init; } = 200;

    /// <summary>Largest output (and largest string or list built along the way), in characters or items.</summary>
    public int MaxOutputLength { get; init; } = 16 * 1024 * 1024;
}

/// <summary>The two tojson flavours chat templates meet in practice.</summary>
public enum ToJsonStyle
{
    /// <summary>Jinja2: keys sorted, non-ASCII as \uXXXX, &lt; &gt; &amp; ' escaped for HTML, result is Markup.</summary>
    Jinja2,

    /// <summary>transformers' chat-template tojson: insertion order, UTF-8 text kept, no HTML escaping, plain string.</summary>
    Transformers,
}
