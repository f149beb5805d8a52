using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Frugal.Models.Synthesis;
using Frugal.Quants;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal synth --shape NAME --vocab VOCAB.gguf --type T -o OUT.gguf [--seed S]</c>: writes a random-weight
/// model of a real model's shape (for benchmarks without downloads). Prints one summary line.
/// </summary>
public static class SynthCommand
{
    public static Command Create(CliConsole console)
    {
        var shape = new Option<ModelShape>("--shape")
        {
            Description = $"Model shape: {string.Join(", ", ModelShapes.All.Select(s => s.Name))}",
            Required = true,
            CustomParser = ParseShape,
        };
        var vocab = new Option<string>("--vocab")
        {
            Description = "GGUF file whose tokenizer (tokenizer.* keys) the model gets, e.g. ../shared/vocab/ggml-vocab-llama-spm.gguf",
            Required = true,
        };
        var type = new Option<WeightFormat>("--type")
        {
            Description = $"Weight type: {string.Join(", ", QuantizationMix.All.Select(QuantizationMix.Name))}",
            Required = true,
            CustomParser = ParseFormat,
        };
        var output = new Option<string>("--output", "-o") { Description = "Path of the GGUF file to write", Required = true };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Seed of the random weights (same seed, same file)",
            CustomParser = ParseSeed,
        };
        var command = new Command("synth", "Write a random-weight model with a real model's shape") { shape, vocab, type, output, seed };
        command.SetAction(parse =>
        {
            var result = ModelSynthesizer.Write(parse.GetValue(shape)!, parse.GetValue(type), parse.GetValue(vocab)!,
                parse.GetValue(output)!, parse.GetValue(seed));
            console.Out.WriteLine(Summary(result));
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    /// <summary>"wrote PATH: shape, format, N tensors (types × counts), size, time".</summary>
    public static string Summary(SynthesisResult result)
    {
        var plan = result.Plan;
        string types = string.Join(", ", plan.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count())
            .Select(g => $"{GgmlTypes.Name(g.Key)} ×{g.Count()}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"wrote {result.Path}: {plan.Shape.Name} {QuantizationMix.Name(plan.Format)}, {plan.ParameterCount / 1e6:F1} M parameters, vocab {plan.VocabSize}, {plan.Tensors.Count} tensors ({types}), {result.FileBytes / 1048576.0:F1} MiB in {result.Elapsed.TotalSeconds:F1} s");
    }

    private static ModelShape? ParseShape(ArgumentResult result)
    {
        string name = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        var shape = ModelShapes.Find(name);
        if (shape is null) result.AddError($"--shape: unknown shape '{name}' (known: {string.Join(", ", ModelShapes.All.Select(s => s.Name))})");
        return shape;
    }

    private static WeightFormat ParseFormat(ArgumentResult result)
    {
        string name = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (QuantizationMix.TryParse(name, out var format)) return format;
        result.AddError($"--type: unknown weight type '{name}' (known: {string.Join(", ", QuantizationMix.All.Select(QuantizationMix.Name))})");
        return default;
    }

    private static ulong ParseSeed(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)) return seed;
        result.AddError($"--seed: '{text}' is not a non-negative whole number");
        return 0;
    }
}
