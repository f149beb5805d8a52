using System.Text;

namespace Frugal.Server.Tests.Support;

/// <summary>
/// A tiny chat format for the tests ("role: content" lines, then "assistant:"), standing in for the model's Jinja
/// template. Role "tool" is refused like a template's raise_exception (the client's fault); role "crash" throws
/// like a broken template (the server's fault).
/// </summary>
public sealed class SimpleChatRenderer : IChatRenderer
{
    public string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt)
    {
        var text = new StringBuilder();
        foreach (var message in messages)
        {
            string role = (string)message["role"]!;
            switch (role)
            {
                case "system" or "user" or "assistant":
                    text.Append(role).Append(": ").Append(message.GetValueOrDefault("content") as string).Append('\n');
                    break;
                case "crash":
                    throw new InvalidOperationException("template bug: 'loop' is undefined");
                default:
                    throw new ChatRenderException($"Conversation roles must be system, user or assistant, got '{role}'",
                        ChatRenderFailure.ConversationRejected);
            }
        }
        if (addGenerationPrompt) text.Append("assistant:");
        return text.ToString();
    }
}
