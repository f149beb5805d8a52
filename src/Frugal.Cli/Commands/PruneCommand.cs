using System.CommandLine;
using System.Globalization;
using Frugal.Compression.Pruning;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal prune IN.gguf OUT.gguf (--ffn RATIO | --layers N) [--text CALIB] [--method importance|random] [--seed S]
/// [--ctx 512] [--chunks N] [--threads N]</c>: structured pruning. --ffn removes that fraction of every layer's FFN
/// neurons (activation-aware importance on the calibration text, or random); --layers removes the N blocks whose
/// output is most similar to their input on the calibration text.
/// </summary>
public static class PruneCommand
{
    public static Command Create(CliConsole console)
    {
        var input = new Argument<string>("input") { Description = "The GGUF model to prune" };
        var output = new Argument<string>("output") { Description = "Path of the pruned GGUF to write" };
        var ffn = new Option<double?>("--ffn")
        {
            Description = "Fraction of FFN neurons to remove from every layer, between 0 and 1 (e.g. 0.25)",
            CustomParser = result =>
            {
                string value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double ratio) && ratio > 0 && ratio < 1) return ratio;
                result.AddError($"--ffn must be a fraction between 0 and 1 (exclusive), got '{value}'");
                return null;
            },
        };
        var layers = new Option<int?>("--layers")
        {
            Description = "Number of transformer blocks to remove (1 … block count − 1)",
            CustomParser = result => CommonOptions.ParseInteger(result, "--layers", minimum: 1),
        };
        var text = new Option<string?>("--text", "-f") { Description = "Calibration text (needed by --layers and --method importance)" };
        var method = new Option<string>("--method")
        {
            Description = "How --ffn picks neurons: importance (activation × weight) or random",
            DefaultValueFactory = _ => "importance",
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed of --method random",
            CustomParser = result => CommonOptions.ParseInteger(result, "--seed", minimum: 0),
        };
        var context = new Option<int>("--ctx", "-c")
        {
            Description = "Calibration tokens per chunk",
            DefaultValueFactory = _ => 512,
            CustomParser = result => CommonOptions.ParseInteger(result, "--ctx", minimum: 4),
        };
        var chunks = new Option<int?>("--chunks")
        {
            Description = "Most calibration chunks (default: all of the text)",
            CustomParser = result => CommonOptions.ParseInteger(result, "--chunks", minimum: 1),
        };
        var threads = CommonOptions.Threads();

        var command = new Command("prune", "Remove FFN neurons or whole layers from a GGUF model")
        {
            input, output, ffn, layers, text, method, seed, context, chunks, threads,
        };
        command.SetAction(parse =>
        {
            string inputPath = parse.GetValue(input)!;
            string outputPath = parse.GetValue(output)!;
            double? ratio = parse.GetValue(ffn);
            int? layerCount = parse.GetValue(layers);
            if (ratio is null == layerCount is null) throw new CliUsageException("give exactly one of --ffn RATIO or --layers N");
            PruneMethod pruneMethod = parse.GetValue(method) switch
            {
                "importance" => PruneMethod.Importance,
                "random" => PruneMethod.Random,
                var other => throw new CliUsageException($"--method must be importance or random, got '{other}'"),
            };
            bool methodGiven = parse.GetResult(method) is { Implicit: false };
            if (layerCount is not null && methodGiven) throw new CliUsageException("--method applies to --ffn only; --layers always uses the calibration text");
            string? textPath = parse.GetValue(text);
            if (textPath is null && (layerCount is not null || pruneMethod == PruneMethod.Importance))
                throw new CliUsageException(layerCount is not null ? "--layers needs calibration text: add --text FILE" : "--method importance needs calibration text: add --text FILE (or use --method random)");
            if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: model file not found", inputPath);
            if (textPath is not null && !File.Exists(textPath)) throw new FileNotFoundException($"{textPath}: calibration text not found", textPath);
            string? calibration = textPath is null ? null : File.ReadAllText(textPath);
            Action<string> progress = line => console.Error.WriteLine(line);

            if (ratio is double fraction)
            {
                var options = new FfnPruneOptions
                {
                    Ratio = fraction, Method = pruneMethod, Seed = parse.GetValue(seed),
                    ContextSize = parse.GetValue(context), MaxChunks = parse.GetValue(chunks), Threads = parse.GetValue(threads),
                };
                var result = QuantizeCommand.RunCancellable(outputPath, cancellation => ModelPruner.PruneFeedForward(inputPath, outputPath, calibration, options, progress, cancellation));
                foreach (string note in result.Notes) console.Error.WriteLine($"frugal: note: {note}");
                console.Out.WriteLine(Invariant($"wrote {outputPath}: FFN {result.OriginalFeedForward} -> {result.NewFeedForward} neurons per layer ({pruneMethod.ToString().ToLowerInvariant()}), {Mebibytes(result.InputBytes)} -> {Mebibytes(result.OutputBytes)}"));
            }
            else
            {
                var options = new LayerPruneOptions
                {
                    Count = layerCount!.Value, ContextSize = parse.GetValue(context), MaxChunks = parse.GetValue(chunks), Threads = parse.GetValue(threads),
                };
                var result = QuantizeCommand.RunCancellable(outputPath, cancellation => ModelPruner.RemoveLayers(inputPath, outputPath, calibration!, options, progress, cancellation));
                string similarities = string.Join(", ", result.Similarity.Select((s, l) => Invariant($"{l}: {s:F4}")));
                console.Error.WriteLine($"input/output cosine similarity per layer: {similarities}");
                console.Out.WriteLine(Invariant($"wrote {outputPath}: layers {result.OriginalLayers} -> {result.NewLayers} (removed {string.Join(", ", result.RemovedLayers)}), {Mebibytes(result.InputBytes)} -> {Mebibytes(result.OutputBytes)}"));
            }
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Mebibytes(long bytes) => Invariant($"{bytes / 1048576.0:F2} MiB");
}
