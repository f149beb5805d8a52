namespace Frugal.Server;

/// <summary>
/// Turns an OpenAI "messages" array into the prompt text the model was trained on (its chat template).
/// Each message is a dictionary of plain values: strings, long/double, bool, null, lists and nested dictionaries
/// (the JSON of the message; "content" given as an array of text parts arrives as one joined string).
/// Implementations throw <see cref="ChatRenderException"/> to say whose fault a failure is; any other exception
/// is answered as the template's own bug (500).
/// </summary>
public interface IChatRenderer
{
    string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt);
}

public enum ChatRenderFailure
{
    /// <summary>The template refused this conversation (raise_exception, unsupported role...): the client's problem, 400.</summary>
    ConversationRejected,

    /// <summary>The template itself is broken (syntax error, undefined call...): the server's problem, 500.</summary>
    TemplateError,
}

/// <summary>A chat template could not render a conversation.</summary>
public sealed class ChatRenderException(string message, ChatRenderFailure failure, Exception? inner = null) : Exception(message, inner)
{
    public ChatRenderFailure Failure { get; } = failure;
}
