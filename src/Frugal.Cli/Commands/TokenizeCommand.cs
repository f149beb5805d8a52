using System.CommandLine;
using System.Text;
using System.Text.Json;
using Frugal.Gguf;
using Frugal.Models.Tokenization;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal tokenize --model M --text T [--no-bos] [--no-parse-special] [--json]</c>: token ids of a text, from
/// the file's vocabulary alone (weights are not loaded). Text output: one "id&lt;TAB&gt;piece" line per token,
/// with control characters in the piece escaped (\n, \t, \r, \\, \uXXXX).
/// </summary>
public static class TokenizeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var text = new Option<string>("--text") { Description = "Text to tokenize", Required = true };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the BOS/EOS tokens the vocabulary asks for" };
        var noParseSpecial = new Option<bool>("--no-parse-special")
        {
            Description = "Treat the texts of control tokens (e.g. <s>) as plain text",
        };
        var json = CommonOptions.Json();
        var command = new Command("tokenize", "Print the token ids of a text") { model, text, noBos, noParseSpecial, json };
        command.SetAction(parse =>
        {
            using var file = GgufFile.Open(parse.GetValue(model)!);
            var tokenizer = Tokenizer.FromGguf(file);
            int[] ids = tokenizer.Encode(parse.GetValue(text)!, addSpecial: !parse.GetValue(noBos), parseSpecial: !parse.GetValue(noParseSpecial));
            var tokens = ids.Select(id => new TokenJson(id, PieceOf(tokenizer, id))).ToArray();
            if (parse.GetValue(json))
            {
                console.Out.WriteLine(JsonSerializer.Serialize(new TokenizeJson(tokens), CliJsonContext.Readable.TokenizeJson));
            }
            else
            {
                foreach (var token in tokens) console.Out.WriteLine($"{token.Id}\t{Escape(token.Piece)}");
            }
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    /// <summary>What the token stands for: its bytes as text, or its vocabulary text for control/unknown tokens (e.g. "&lt;s&gt;").</summary>
    public static string PieceOf(Tokenizer tokenizer, int id)
    {
        byte[] bytes = tokenizer.TokenBytes(id);
        return bytes.Length > 0 ? Encoding.UTF8.GetString(bytes) : tokenizer.TokenText(id);
    }

    private static string Escape(string piece)
    {
        var sb = new StringBuilder(piece.Length);
        foreach (char c in piece)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '\t': sb.Append(@"\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}
