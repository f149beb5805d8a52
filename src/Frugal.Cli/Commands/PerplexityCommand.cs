using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Frugal.Compression.Evaluation;
using Frugal.Models;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal perplexity --model M --text FILE [--ctx 512] [--chunks N] [--base BASE.gguf] [--json] [--threads N]</c>:
/// llama-perplexity's measurement (the second half of every chunk is scored), and with --base the KL divergence
/// of the model's next-token distributions from the base model's on the same tokens.
/// </summary>
public static class PerplexityCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var text = new Option<string>("--text", "-f") { Description = "Text file to score", Required = true };
        var context = new Option<int>("--ctx", "-c")
        {
            Description = "Tokens per chunk; each chunk starts from an empty context and its second half is scored",
            DefaultValueFactory = _ => 512,
            CustomParser = result => CommonOptions.ParseInteger(result, "--ctx", minimum: 4),
        };
        var chunks = new Option<int?>("--chunks")
        {
            Description = "Most chunks to evaluate (default: every whole chunk of the text)",
            CustomParser = result => CommonOptions.ParseInteger(result, "--chunks", minimum: 1),
        };
        var baseModel = new Option<string?>("--base")
        {
            Description = "Reference model (same tokenizer): also report KL divergence, top-1 agreement and ln(PPL ratio) against it",
        };
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();

        var command = new Command("perplexity", "Measure perplexity on a text, and KL divergence from a base model")
        {
            model, text, context, chunks, baseModel, json, threads,
        };
        command.SetAction(parse =>
        {
            string textPath = parse.GetValue(text)!;
            if (!File.Exists(textPath)) throw new FileNotFoundException($"{textPath}: text file not found", textPath);
            string content = File.ReadAllText(textPath);
            var options = new PerplexityOptions { ContextSize = parse.GetValue(context), MaxChunks = parse.GetValue(chunks) };
            var loadOptions = new ModelLoadOptions { Threads = parse.GetValue(threads) };
            string modelPath = parse.GetValue(model)!;
            string? basePath = parse.GetValue(baseModel);

            using var loaded = Model.Load(modelPath, loadOptions);
            Action<int, int> progress = (done, all) =>
            {
                // Warned here, once the text is known to hold a chunk, so that a refused run prints only its error.
                if (done == 1) WarnBeyondTrainedContext(console, loaded, options.ContextSize);
                console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[chunk {done}/{all}]"));
            };
            if (basePath is null)
            {
                var result = QuantizeCommand.RunCancellable("the perplexity report", cancellation => PerplexityEvaluator.Evaluate(loaded, content, options, progress, cancellation));
                if (parse.GetValue(json)) console.Out.WriteLine(JsonSerializer.Serialize(ToJson(modelPath, textPath, result, null), PerplexityJsonContext.Default.PerplexityReportJson));
                else console.Out.WriteLine(Line("perplexity", result));
                return CommandLineApp.ExitOk;
            }

            using var reference = Model.Load(basePath, loadOptions);
            var comparison = QuantizeCommand.RunCancellable("the perplexity report", cancellation => PerplexityEvaluator.Compare(reference, loaded, content, options, progress, cancellation));
            if (parse.GetValue(json))
            {
                console.Out.WriteLine(JsonSerializer.Serialize(ToJson(modelPath, textPath, comparison.Model, (basePath, comparison)), PerplexityJsonContext.Default.PerplexityReportJson));
                return CommandLineApp.ExitOk;
            }
            console.Out.WriteLine(Line("base perplexity", comparison.Base));
            console.Out.WriteLine(Line("perplexity", comparison.Model));
            console.Out.WriteLine(Invariant($"ln(PPL ratio): {comparison.LogPerplexityRatio.Mean:F6} ± {comparison.LogPerplexityRatio.StandardError:F6}"));
            console.Out.WriteLine(Invariant($"mean KL divergence: {comparison.KlDivergence.Mean:F6} ± {comparison.KlDivergence.StandardError:F6}"));
            console.Out.WriteLine(Invariant($"99th percentile KL: {comparison.KlDivergence99:F6}"));
            console.Out.WriteLine(Invariant($"max KL: {comparison.KlDivergenceMax:F6}"));
            console.Out.WriteLine(Invariant($"top-1 agreement: {100 * comparison.TopTokenAgreement:F2} %"));
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    private static void WarnBeyondTrainedContext(CliConsole console, Model model, int contextSize)
    {
        if (model.Config.ContextLength > 0 && contextSize > model.Config.ContextLength)
            console.Error.WriteLine($"frugal: warning: --ctx {contextSize} exceeds the model's training context of {model.Config.ContextLength} tokens");
    }

    /// <summary>e.g. "perplexity: 4.7365 ± 0.1455 (57 chunks of 128 tokens, 3591 tokens scored)".</summary>
    private static string Line(string label, PerplexityResult result) =>
        Invariant($"{label}: {result.Perplexity:F4} ± {result.PerplexityError:F4} ({result.Chunks} chunks of {result.ContextSize} tokens, {result.TokensScored} tokens scored)");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static PerplexityReportJson ToJson(string modelPath, string textPath, PerplexityResult result,
        (string Path, ComparisonResult Comparison)? versus) => new(
            modelPath, textPath, result.ContextSize, result.Chunks, result.TokensScored,
            result.Perplexity, result.PerplexityError, result.NegativeLogLikelihood.Mean, result.NegativeLogLikelihood.StandardError,
            versus is not { } v ? null : new KlDivergenceJson(
                v.Path, v.Comparison.Base.Perplexity, v.Comparison.Base.PerplexityError,
                v.Comparison.KlDivergence.Mean, v.Comparison.KlDivergence.StandardError, v.Comparison.KlDivergence99, v.Comparison.KlDivergenceMax,
                v.Comparison.TopTokenAgreement, v.Comparison.LogPerplexityRatio.Mean, v.Comparison.LogPerplexityRatio.StandardError));
}

/// <summary>Comparison with --base: KL(base ‖ model) per scored position in nats; top-1 agreement as a fraction 0…1.</summary>
public sealed record KlDivergenceJson(string BaseModel, double BasePerplexity, double BasePerplexityError,
    double KlDivergence, double KlDivergenceError, double KlDivergenceP99, double KlDivergenceMax,
    double Top1Agreement, double LnPerplexityRatio, double LnPerplexityRatioError);

/// <summary>The perplexity report; nll is the mean negative log-likelihood per scored token in nats.</summary>
public sealed record PerplexityReportJson(string Model, string Text, int Ctx, int Chunks, long TokensScored,
    double Perplexity, double PerplexityError, double Nll, double NllError, KlDivergenceJson? Base);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PerplexityReportJson))]
public sealed partial class PerplexityJsonContext : JsonSerializerContext;
