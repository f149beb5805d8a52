using System.Globalization;
using System.Runtime.CompilerServices;

namespace Frugal.Templates;

/// <summary>Recursive-descent parser from tokens to statements and expressions, following Jinja2's grammar
/// and operator precedence (filters and tests bind tighter than arithmetic; <c>**</c> is left-associative).</summary>
internal sealed class Parser
{
    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal) { "extends", "include", "import", "from", "block" };
    private const int MaxNesting = 200;

    private readonly List<Token> _tokens;
    private int _pos;
    private int _loopDepth;
    private int _nesting;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static List<Stmt> Parse(List<Token> tokens)
    {
        var parser = new Parser(tokens);
        try
        {
            var body = parser.ParseStatements(null, out _);
            return body;
        }
        catch (InsufficientExecutionStackException)
        {
            throw parser.Error("template is nested too deeply to parse");
        }
    }

    private Token Current => _tokens[_pos];
    private Token Peek(int ahead = 1) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];
    private Token Next() => _tokens[_pos < _tokens.Count - 1 ? _pos++ : _pos];

    private TemplateException Error(string message, Token? at = null)
    {
        var t = at ?? Current;
        return new TemplateException($"line {t.Line}, column {t.Column}: {message}", t.Line, t.Column);
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        _pos++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        _pos++;
        return true;
    }

    private void ExpectOperator(string op)
    {
        if (!SkipOperator(op)) throw Error($"expected '{op}', got {Current.Describe()}");
    }

    private string ExpectName(string what = "a name")
    {
        if (Current.Kind != TokenKind.Name) throw Error($"expected {what}, got {Current.Describe()}");
        return Next().Value;
    }

    private void ExpectBlockEnd(string tag)
    {
        if (Current.Kind != TokenKind.BlockEnd) throw Error($"expected end of '{tag}' statement block, got {Current.Describe()}");
        _pos++;
    }

    private void Enter()
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (++_nesting > MaxNesting) throw Error($"template is nested more than {MaxNesting} levels deep");
    }

    // ---------------- statements ----------------

    /// <summary>Parses until a block tag named in <paramref name="endTags"/> (consumed, its name returned through
    /// <paramref name="endTag"/>; the rest of that tag is left to the caller) or, when null, the end of the template.</summary>
    private List<Stmt> ParseStatements(string[]? endTags, out string endTag, string? opener = null, Token? openerToken = null)
    {
        Enter();
        var body = new List<Stmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Text:
                    body.Add(new TextStmt(t.Line, t.Value));
                    _pos++;
                    break;
                case TokenKind.VariableBegin:
                    _pos++;
                    var expr = ParseTuple();
                    if (Current.Kind != TokenKind.VariableEnd) throw Error($"expected end of print statement, got {Current.Describe()}");
                    _pos++;
                    body.Add(new PrintStmt(t.Line, expr));
                    break;
                case TokenKind.BlockBegin:
                    _pos++;
                    if (Current.Kind == TokenKind.Name && endTags is not null && Array.IndexOf(endTags, Current.Value) >= 0)
                    {
                        endTag = Next().Value;
                        _nesting--;
                        return body;
                    }
                    body.Add(ParseStatement(t));
                    break;
                case TokenKind.End:
                    if (endTags is null)
                    {
                        endTag = "";
                        _nesting--;
                        return body;
                    }
                    throw Error($"unexpected end of template: looking for {string.Join(" or ", endTags.Select(e => $"'{e}'"))} to close the '{opener}' opened on line {openerToken?.Line}");
                default:
                    throw Error($"unexpected {t.Describe()}");
            }
        }
    }

    private Stmt ParseStatement(Token begin)
    {
        var nameToken = Current;
        if (nameToken.Kind != TokenKind.Name) throw Error($"expected a statement name after '{{%', got {nameToken.Describe()}");
        string tag = nameToken.Value;
        _pos++;
        int line = nameToken.Line;
        switch (tag)
        {
            case "if": return ParseIf(line, nameToken);
            case "for": return ParseFor(line, nameToken);
            case "set": return ParseSet(line, nameToken);
            case "macro": return ParseMacro(line, nameToken);
            case "call": return ParseCallBlock(line, nameToken);
            case "filter":
                {
                    var filters = ParseFilterChain();
                    ExpectBlockEnd("filter");
                    var body = ParseStatements(["endfilter"], out _, "filter", nameToken);
                    ExpectBlockEnd("endfilter");
                    return new FilterBlockStmt(line, filters, body);
                }
            case "with": return ParseWith(line, nameToken);
            case "generation":
                {
                    // transformers' {% generation %} marks assistant text for training masks; it renders its body unchanged.
                    ExpectBlockEnd("generation");
                    var body = ParseStatements(["endgeneration"], out _, "generation", nameToken);
                    ExpectBlockEnd("endgeneration");
                    return new BlockStmt(line, body);
                }
            case "do":
                {
                    var expr = ParseTuple();
                    ExpectBlockEnd("do");
                    return new DoStmt(line, expr);
                }
            case "break" or "continue":
                if (_loopDepth == 0) throw Error($"'{tag}' outside of a for loop", nameToken);
                ExpectBlockEnd(tag);
                return tag == "break" ? new BreakStmt(line) : new ContinueStmt(line);
            default:
                if (Unsupported.Contains(tag))
                    throw Error($"'{tag}' is not supported: chat templates are rendered standalone, without other template files", nameToken);
                throw Error($"encountered unknown tag '{tag}'", nameToken);
        }
    }

    private Stmt ParseIf(int line, Token opener)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt> otherwise = [];
        var test = ParseTuple(withCondExpr: false);
        ExpectBlockEnd("if");
        while (true)
        {
            var body = ParseStatements(["elif", "else", "endif"], out string end, "if", opener);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                ExpectBlockEnd("elif");
                continue;
            }
            if (end == "else")
            {
                ExpectBlockEnd("else");
                otherwise = ParseStatements(["endif"], out _, "if", opener);
            }
            ExpectBlockEnd("endif");
            return new IfStmt(line, branches, otherwise);
        }
    }

    private Stmt ParseFor(int line, Token opener)
    {
        var target = ParseAssignTarget(extraEnd: "in");
        if (!SkipName("in")) throw Error($"expected 'in' in for loop, got {Current.Describe()}");
        var iterable = ParseTuple(withCondExpr: false, extraEnd: "recursive");
        Expr? condition = null;
        if (SkipName("if")) condition = ParseExpression();
        if (Current.IsName("recursive")) throw Error("recursive for loops are not supported");
        ExpectBlockEnd("for");
        _loopDepth++;
        var body = ParseStatements(["endfor", "else"], out string end, "for", opener);
        _loopDepth--;
        List<Stmt> otherwise = [];
        if (end == "else")
        {
            ExpectBlockEnd("else");
            otherwise = ParseStatements(["endfor"], out _, "for", opener);
        }
        ExpectBlockEnd("endfor");
        return new ForStmt(line, target, iterable, condition, body, otherwise);
    }

    private Stmt ParseSet(int line, Token opener)
    {
        AssignTarget target;
        if (Current.Kind == TokenKind.Name && Peek().IsOperator("."))
        {
            string ns = Next().Value;
            _pos++;
            target = new NamespaceAttributeTarget(ns, ExpectName("an attribute name"));
        }
        else target = ParseAssignTarget();

        if (SkipOperator("="))
        {
            var value = ParseTuple();
            ExpectBlockEnd("set");
            return new SetStmt(line, target, value);
        }
        var filters = Current.IsOperator("|") ? ParseFilterChain(leadingPipe: true) : [];
        ExpectBlockEnd("set");
        var body = ParseStatements(["endset"], out _, "set", opener);
        ExpectBlockEnd("endset");
        return new SetBlockStmt(line, target, filters, body);
    }

    private Stmt ParseMacro(int line, Token opener)
    {
        string name = ExpectName("a macro name");
        var parameters = ParseSignature(required: true);
        ExpectBlockEnd("macro");
        int savedLoops = _loopDepth;
        _loopDepth = 0;
        var body = ParseStatements(["endmacro"], out _, "macro", opener);
        _loopDepth = savedLoops;
        SkipName(name);
        ExpectBlockEnd("endmacro");
        return new MacroStmt(line, name, parameters, body);
    }

    private List<MacroParameter> ParseSignature(bool required)
    {
        var parameters = new List<MacroParameter>();
        if (!Current.IsOperator("("))
        {
            if (required) throw Error($"expected '(' after macro name, got {Current.Describe()}");
            return parameters;
        }
        _pos++;
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            if (Current.IsOperator(")")) break;
            string name = ExpectName("a parameter name");
            Expr? defaultValue = SkipOperator("=") ? ParseExpression() : null;
            if (defaultValue is null && parameters.Any(p => p.Default is not null))
                throw Error($"parameter '{name}' without a default follows a parameter with one");
            parameters.Add(new MacroParameter(name, defaultValue));
        }
        _pos++;
        return parameters;
    }

    private Stmt ParseCallBlock(int line, Token opener)
    {
        var callerParameters = ParseSignature(required: false);
        var call = ParseExpression();
        if (call is not CallExpr callExpr) throw Error("expected a macro call in 'call' block", opener);
        ExpectBlockEnd("call");
        int savedLoops = _loopDepth;
        _loopDepth = 0;
        var body = ParseStatements(["endcall"], out _, "call", opener);
        _loopDepth = savedLoops;
        ExpectBlockEnd("endcall");
        return new CallBlockStmt(line, callerParameters, callExpr, body);
    }

    private Stmt ParseWith(int line, Token opener)
    {
        var assignments = new List<(AssignTarget, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0) ExpectOperator(",");
            var target = ParseAssignTarget();
            ExpectOperator("=");
            assignments.Add((target, ParseExpression()));
        }
        ExpectBlockEnd("with");
        var body = ParseStatements(["endwith"], out _, "with", opener);
        ExpectBlockEnd("endwith");
        return new WithStmt(line, assignments, body);
    }

    /// <summary>A name or tuple of names (for loop variables and set targets).</summary>
    private AssignTarget ParseAssignTarget(string? extraEnd = null)
    {
        var targets = new List<AssignTarget>();
        bool isTuple = false;
        while (true)
        {
            if (targets.Count > 0)
            {
                if (!SkipOperator(",")) break;
                isTuple = true;
                if (Current.Kind is TokenKind.BlockEnd || (extraEnd is not null && Current.IsName(extraEnd)) || Current.IsOperator("=")) break;
            }
            if (SkipOperator("("))
            {
                targets.Add(ParseAssignTarget());
                ExpectOperator(")");
                continue;
            }
            var t = Current;
            string name = ExpectName("a variable name to assign to");
            if (name is "true" or "false" or "none" or "True" or "False" or "None")
                throw Error($"cannot assign to '{name}'", t);
            targets.Add(new NameTarget(name));
        }
        return isTuple ? new TupleTarget(targets) : targets[0];
    }

    private List<FilterExpr> ParseFilterChain(bool leadingPipe = false)
    {
        var filters = new List<FilterExpr>();
        if (leadingPipe) ExpectOperator("|");
        do
        {
            var t = Current;
            string name = ParseFilterName();
            var args = Current.IsOperator("(") ? ParseCallArgs() : ArgList.None;
            filters.Add(new FilterExpr(t.Line, null, name, args));
        } while (SkipOperator("|"));
        return filters;
    }

    // ---------------- expressions ----------------

    /// <summary>An expression, or a tuple when commas follow (<c>{{ a, b }}</c>, <c>set x = 1, 2</c>).</summary>
    private Expr ParseTuple(bool withCondExpr = true, string? extraEnd = null, bool explicitParentheses = false)
    {
        int line = Current.Line;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) ExpectOperator(",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(ParseExpression(withCondExpr));
            if (Current.IsOperator(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParentheses) throw Error($"expected an expression, got {Current.Describe()}");
        }
        return new TupleExpr(line, items);
    }

    private bool IsTupleEnd(string? extraEnd) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.End
        || Current.IsOperator(")")
        || (extraEnd is not null && Current.IsName(extraEnd));

    private Expr ParseExpression(bool withCondExpr = true)
    {
        Enter();
        var result = withCondExpr ? ParseCondExpr() : ParseOr();
        _nesting--;
        return result;
    }

    private Expr ParseCondExpr()
    {
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            int line = Next().Line;
            var test = ParseOr();
            Expr? otherwise = SkipName("else") ? ParseCondExpr() : null;
            expr = new CondExpr(line, test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) { int line = Next().Line; left = new OrExpr(line, left, ParseAnd()); }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) { int line = Next().Line; left = new AndExpr(line, left, ParseNot()); }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            int line = Next().Line;
            Enter();
            var operand = ParseNot();
            _nesting--;
            return new NotExpr(line, operand);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        int line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == TokenKind.Operator && t.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                _pos++;
                rest.Add((t.Value, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                _pos++;
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && Peek().IsName("in"))
            {
                _pos += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(line, first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpr(op.Line, op.Value, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        int line = Current.Line;
        var parts = new List<Expr> { ParseMath2() };
        while (SkipOperator("~")) parts.Add(ParseMath2());
        return parts.Count == 1 ? parts[0] : new ConcatExpr(line, parts);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Line, op.Value, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOperator("**"))
        {
            var op = Next();
            left = new BinaryExpr(op.Line, "**", left, ParseUnary());
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        Enter();
        var t = Current;
        Expr node;
        if (SkipOperator("-")) node = new NegExpr(t.Line, ParseUnary(false));
        else if (SkipOperator("+")) node = new PosExpr(t.Line, ParseUnary(false));
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        _nesting--;
        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _pos++;
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Line, true),
                    "false" or "False" => new LiteralExpr(t.Line, false),
                    "none" or "None" => new LiteralExpr(t.Line, null),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case TokenKind.String:
                {
                    _pos++;
                    string text = t.Value;
                    while (Current.Kind == TokenKind.String) text += Next().Value; // adjacent literals concatenate
                    return new LiteralExpr(t.Line, text);
                }
            case TokenKind.Integer:
                _pos++;
                if (!long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
                    throw Error($"integer literal {t.Value} does not fit in 64 bits", t);
                return new LiteralExpr(t.Line, integer);
            case TokenKind.Float:
                _pos++;
                return new LiteralExpr(t.Line, double.Parse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture));
            case TokenKind.Operator when t.Value == "(":
                {
                    _pos++;
                    var inner = ParseTuple(explicitParentheses: true);
                    ExpectOperator(")");
                    return inner;
                }
            case TokenKind.Operator when t.Value == "[":
                {
                    _pos++;
                    var items = new List<Expr>();
                    while (!Current.IsOperator("]"))
                    {
                        if (items.Count > 0) ExpectOperator(",");
                        if (Current.IsOperator("]")) break;
                        items.Add(ParseExpression());
                    }
                    _pos++;
                    return new ListExpr(t.Line, items);
                }
            case TokenKind.Operator when t.Value == "{":
                {
                    _pos++;
                    var pairs = new List<(Expr, Expr)>();
                    while (!Current.IsOperator("}"))
                    {
                        if (pairs.Count > 0) ExpectOperator(",");
                        if (Current.IsOperator("}")) break;
                        var key = ParseExpression();
                        ExpectOperator(":");
                        pairs.Add((key, ParseExpression()));
                    }
                    _pos++;
                    return new DictExpr(t.Line, pairs);
                }
            default:
                throw Error($"unexpected {t.Describe()}");
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _pos++;
                var attr = Current;
                if (attr.Kind == TokenKind.Name) { _pos++; node = new GetAttrExpr(t.Line, node, attr.Value); }
                else if (attr.Kind == TokenKind.Integer)
                {
                    _pos++;
                    node = new GetItemExpr(t.Line, node, new LiteralExpr(t.Line, long.Parse(attr.Value, CultureInfo.InvariantCulture)));
                }
                else throw Error($"expected an attribute name after '.', got {attr.Describe()}");
            }
            else if (t.IsOperator("[")) node = ParseSubscript(node);
            else if (t.IsOperator("(")) node = new CallExpr(t.Line, node, ParseCallArgs());
            else return node;
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("|"))
            {
                _pos++;
                string name = ParseFilterName();
                var args = Current.IsOperator("(") ? ParseCallArgs() : ArgList.None;
                node = new FilterExpr(t.Line, node, name, args);
            }
            else if (t.IsName("is"))
            {
                _pos++;
                bool negated = SkipName("not");
                var nameToken = Current;
                string name = ParseDottedName();
                // Like Jinja2, unknown tests are reported when the template is compiled, not when it runs.
                if (!Tests.Exists(name)) throw Error($"no test named '{name}'", nameToken);
                ArgList args = ArgList.None;
                if (Current.IsOperator("(")) args = ParseCallArgs();
                else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                          || (Current.Kind == TokenKind.Operator && Current.Value is "(" or "[" or "{"))
                         && !(Current.Kind == TokenKind.Name && Current.Value is "else" or "or" or "and"))
                {
                    if (Current.IsName("is")) throw Error("tests cannot be chained with 'is'");
                    var arg = ParsePostfix(ParsePrimary());
                    args = new ArgList([arg], [], null, null);
                }
                node = new TestExpr(t.Line, node, name, args, negated);
            }
            else if (t.IsOperator("(")) node = new CallExpr(t.Line, node, ParseCallArgs());
            else return node;
        }
    }

    private string ParseFilterName()
    {
        var nameToken = Current;
        string name = ParseDottedName();
        if (!Filters.Exists(name)) throw Error($"no filter named '{name}'", nameToken);
        return name;
    }

    private string ParseDottedName()
    {
        string name = ExpectName("a filter or test name");
        while (Current.IsOperator(".") && Peek().Kind == TokenKind.Name)
        {
            _pos++;
            name += "." + Next().Value;
        }
        return name;
    }

    private Expr ParseSubscript(Expr node)
    {
        int line = Next().Line; // '['
        var args = new List<Expr>();
        Expr? slice = null;
        while (!Current.IsOperator("]"))
        {
            if (args.Count > 0 || slice is not null) ExpectOperator(",");
            var item = ParseSubscribed(node, line, out bool isSlice);
            if (isSlice)
            {
                if (args.Count > 0 || slice is not null) throw Error("a slice cannot be combined with other subscripts");
                slice = item;
            }
            else args.Add(item);
        }
        _pos++;
        if (slice is not null) return slice;
        if (args.Count == 0) throw Error("expected a subscript inside '[]'");
        return new GetItemExpr(line, node, args.Count == 1 ? args[0] : new TupleExpr(line, args));
    }

    private Expr ParseSubscribed(Expr target, int line, out bool isSlice)
    {
        Expr? start = null;
        if (!Current.IsOperator(":"))
        {
            var expr = ParseExpression();
            if (!Current.IsOperator(":")) { isSlice = false; return expr; }
            start = expr;
        }
        _pos++; // first ':'
        isSlice = true;
        Expr? stop = null, step = null;
        if (!Current.IsOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(",")) stop = ParseExpression();
        if (SkipOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(",")) step = ParseExpression();
        return new SliceExpr(line, target, start, stop, step);
    }

    private ArgList ParseCallArgs()
    {
        ExpectOperator("(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        Expr? starArgs = null, starKwargs = null;
        bool first = true;
        while (!Current.IsOperator(")"))
        {
            if (!first) ExpectOperator(",");
            first = false;
            if (Current.IsOperator(")")) break;
            if (SkipOperator("*")) starArgs = ParseExpression();
            else if (SkipOperator("**")) starKwargs = ParseExpression();
            else if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                string key = Next().Value;
                _pos++;
                if (keywords.Any(k => k.Item1 == key)) throw Error($"keyword argument '{key}' repeated");
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw Error("positional argument follows keyword argument");
                positional.Add(ParseExpression());
            }
        }
        _pos++;
        return new ArgList(positional, keywords, starArgs, starKwargs);
    }
}
