using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Frugal.Engine;
using Frugal.Engine.Sampling;
using Frugal.Models;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal run --model M --prompt P [sampling options] [--json]</c>: tokenizes the prompt as llama.cpp's main
/// does (BOS added, special tokens parsed), streams the generated text to stdout and the speeds to stderr.
/// </summary>
public static class RunCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue", Required = true };
        var nPredict = new Option<int>("--n-predict", "-n")
        {
            Description = "Most tokens to generate",
            DefaultValueFactory = _ => 128,
            CustomParser = result => CommonOptions.ParseInteger(result, "--n-predict", minimum: 0),
        };
        var temperature = new Option<float>("--temperature", "--temp") { Description = "Sampling temperature (0 = greedy)", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Keep the K most likely tokens (0 = off)", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold (1 = off)", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below P × the best probability (0 = off)", DefaultValueFactory = _ => 0.05f };
        var repeatPenalty = new Option<float>("--repeat-penalty") { Description = "Penalty for repeated tokens (1 = off)", DefaultValueFactory = _ => 1.0f };
        var repeatLastN = new Option<int>("--repeat-last-n") { Description = "Tokens the penalty looks back at (-1 = all, 0 = off)", DefaultValueFactory = _ => 64 };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed (default: a random one)" };
        var threads = CommonOptions.Threads();
        var contextSize = CommonOptions.ContextSize();
        var noDisplayPrompt = new Option<bool>("--no-display-prompt") { Description = "Do not echo the prompt before the generated text" };
        var json = CommonOptions.Json();
        var command = new Command("run", "Generate text from a prompt")
        {
            model, prompt, nPredict, temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed,
            threads, contextSize, noDisplayPrompt, json,
        };
        command.SetAction(parse =>
        {
            var sampling = new SamplingOptions
            {
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repeatPenalty),
                PenaltyLastN = parse.GetValue(repeatLastN),
                Seed = parse.GetValue(seed),
            };
            var options = new GenerationOptions { MaxTokens = parse.GetValue(nPredict), Sampling = sampling };
            try
            {
                options.Validate();
            }
            catch (ArgumentException error)
            {
                throw new CliUsageException(error.ParamName is null ? error.Message : error.Message.Replace($" (Parameter '{error.ParamName}')", ""));
            }

            string promptText = parse.GetValue(prompt)!;
            bool asJson = parse.GetValue(json);
            using var loaded = Model.Load(parse.GetValue(model)!, new ModelLoadOptions { Threads = parse.GetValue(threads) });
            using var session = loaded.CreateSession(parse.GetValue(contextSize));
            int[] promptTokens = loaded.Tokenizer.Encode(promptText, addSpecial: true, parseSpecial: true);
            if (promptTokens.Length == 0)
                throw new CliUsageException("the prompt is empty and the model adds no BOS token: give a non-empty --prompt");

            Action<int, string>? stream = null;
            if (!asJson)
            {
                if (!parse.GetValue(noDisplayPrompt)) console.Out.Write(promptText);
                console.Out.Flush();
                stream = (_, piece) =>
                {
                    console.Out.Write(piece);
                    console.Out.Flush();
                };
            }
            var result = Generator.Generate(session, loaded.Tokenizer, promptTokens, options, stream);

            var timings = result.Timings;
            if (asJson)
            {
                var report = new RunJson(promptTokens, result.Tokens, result.Text,
                    new RunTimingsJson(timings.PromptMilliseconds, timings.PromptTokensPerSecond, timings.GenerationMilliseconds, timings.GenerationTokensPerSecond),
                    result.FinishReason, result.Seed);
                console.Out.WriteLine(JsonSerializer.Serialize(report, CliJsonContext.Readable.RunJson));
            }
            else
            {
                console.Out.WriteLine();
                console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"frugal: prompt {result.PromptTokens} tokens in {timings.PromptMilliseconds:0.0} ms ({timings.PromptTokensPerSecond:0.0} tokens/s); " +
                    $"generated {result.Tokens.Length} tokens in {timings.GenerationMilliseconds:0.0} ms ({timings.GenerationTokensPerSecond:0.0} tokens/s); " +
                    $"finish: {result.FinishReason}; seed {result.Seed}"));
            }
            return CommandLineApp.ExitOk;
        });
        return command;
    }
}
