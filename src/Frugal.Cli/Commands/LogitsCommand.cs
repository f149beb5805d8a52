using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Frugal.Engine.Sampling;
using Frugal.Models;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal logits --model M (--prompt P | --tokens 1,2,3) [--top-k 5] [--json]</c>: teacher-forced evaluation;
/// for every position, the best ids after consuming that token and their raw logits (highest first), in the
/// shape of the "positions" array of llama.cpp's reference files.
/// </summary>
public static class LogitsCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to evaluate (BOS added, special tokens parsed)" };
        var tokens = new Option<int[]>("--tokens")
        {
            Description = "Token ids to evaluate, comma-separated (e.g. 1,403,407)",
            CustomParser = CommonOptions.ParseTokenList,
        };
        var topK = new Option<int>("--top-k", "-k")
        {
            Description = "How many of the best tokens to print per position",
            DefaultValueFactory = _ => 5,
            CustomParser = result => CommonOptions.ParseInteger(result, "--top-k", minimum: 1),
        };
        var threads = CommonOptions.Threads();
        var contextSize = CommonOptions.ContextSize();
        var json = CommonOptions.Json();
        var command = new Command("logits", "Print the top logits at every position of a token sequence")
        {
            model, prompt, tokens, topK, threads, contextSize, json,
        };
        command.Validators.Add(result =>
        {
            bool hasPrompt = result.GetResult(prompt) is not null, hasTokens = result.GetResult(tokens) is not null;
            if (hasPrompt == hasTokens) result.AddError("give exactly one of --prompt and --tokens");
        });
        command.SetAction(parse =>
        {
            using var loaded = Model.Load(parse.GetValue(model)!, new ModelLoadOptions { Threads = parse.GetValue(threads) });
            int[] ids = parse.GetResult(tokens) is not null
                ? parse.GetValue(tokens)!
                : loaded.Tokenizer.Encode(parse.GetValue(prompt)!, addSpecial: true, parseSpecial: true);
            var result = Evaluate(loaded, ids, parse.GetValue(topK), parse.GetValue(contextSize));
            if (parse.GetValue(json)) console.Out.WriteLine(JsonSerializer.Serialize(result, CliJsonContext.Readable.LogitsJson));
            else WriteText(result, console.Out);
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    public static LogitsJson Evaluate(Model model, int[] tokens, int topK, int contextSize)
    {
        if (tokens.Length == 0) throw new CliUsageException("nothing to evaluate: the prompt gave no tokens");
        int vocabSize = model.Config.VocabSize;
        foreach (int id in tokens)
            if ((uint)id >= (uint)vocabSize)
                throw new CliUsageException($"token id {id} is outside the model's vocabulary of {vocabSize} tokens");

        using var session = model.CreateSession(contextSize);
        if (tokens.Length > session.ContextSize)
            throw new CliUsageException($"{tokens.Length} tokens do not fit the context of {session.ContextSize} (raise --ctx-size)");

        // [tokens.Length, VocabSize]: row i holds the logits after consuming token i.
        var logits = new float[checked(tokens.Length * session.VocabSize)];
        session.EvaluateAll(tokens, logits);

        int k = Math.Min(topK, session.VocabSize);
        var positions = new PositionJson[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            ReadOnlySpan<float> row = logits.AsSpan(i * session.VocabSize, session.VocabSize);
            var ids = new int[k];
            TokenRanking.SelectTop(row, ids);
            var values = new float[k];
            for (int j = 0; j < k; j++) values[j] = row[ids[j]];
            positions[i] = new PositionJson(ids, values);
        }
        return new LogitsJson(tokens, k, positions);
    }

    private static void WriteText(LogitsJson result, TextWriter output)
    {
        for (int i = 0; i < result.Positions.Length; i++)
        {
            var position = result.Positions[i];
            var best = position.Ids.Select((id, j) => string.Create(CultureInfo.InvariantCulture, $"{id}:{position.Logits[j]:0.0000}"));
            output.WriteLine($"{i}\t{result.Tokens[i]}\t{string.Join(' ', best)}");
        }
    }
}
