using System.Runtime.CompilerServices;

namespace Frugal.Templates;

/// <summary>State of one render: options, limits and counters, and the helpers statements share.</summary>
internal sealed class Interpreter(JinjaOptions options)
{
    private int _iterations;
    private int _callDepth;

    public JinjaOptions Options { get; } = options;

    public DateTime Now() => Options.Clock?.Invoke() ?? DateTime.Now;

    /// <summary>Runs statements in order, stopping at break/continue; turns runtime errors into
    /// <see cref="TemplateException"/> carrying the line of the statement that failed.</summary>
    public Flow Run(List<Stmt> body, Scope scope, Output output)
    {
        foreach (var stmt in body)
        {
            Flow flow;
            try
            {
                RuntimeHelpers.EnsureSufficientExecutionStack();
                flow = stmt.Exec(this, scope, output);
            }
            catch (JinjaRuntimeException e)
            {
                throw new TemplateException($"{e.Message} (line {stmt.Line})", stmt.Line);
            }
            catch (InsufficientExecutionStackException)
            {
                throw new TemplateException($"template nesting is too deep to render (line {stmt.Line})", stmt.Line);
            }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    public object? Call(object? function, CallArguments args) => function switch
    {
        JinjaCallable callable => callable.Invoke(this, args),
        Undefined u => throw u.Fail(),
        _ => throw new JinjaRuntimeException($"'{PyOps.TypeName(function)}' object is not callable"),
    };

    public void CountIteration()
    {
        if (++_iterations > Options.MaxLoopIterations)
            throw new JinjaRuntimeException($"the template ran more than {Options.MaxLoopIterations} loop iterations");
    }

    public void EnterCall(string name)
    {
        if (++_callDepth > Options.MaxCallDepth)
        {
            _callDepth--;
            throw new JinjaRuntimeException($"macro '{name}' nested more than {Options.MaxCallDepth} calls deep (runaway recursion?)");
        }
    }

    public void LeaveCall() => _callDepth--;
}
