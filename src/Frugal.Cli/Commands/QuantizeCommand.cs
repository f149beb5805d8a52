using System.CommandLine;
using System.Globalization;
using Frugal.Compression.Importance;
using Frugal.Compression.Quantization;
using Frugal.Quants;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal quantize IN.gguf OUT.gguf --type T [--imatrix FILE] [--pure] [--allow-requantize] [--threads N]</c>:
/// llama-quantize's conversion. Progress and warnings go to stderr, the summary to stdout; Ctrl-C stops it
/// without leaving anything at OUT.
/// </summary>
public static class QuantizeCommand
{
    public static Command Create(CliConsole console)
    {
        var input = new Argument<string>("input") { Description = "The GGUF model to quantize (F32, F16 or BF16)" };
        var output = new Argument<string>("output") { Description = "Path of the quantized GGUF to write" };
        var type = new Option<QuantizationPreset>("--type")
        {
            Description = $"Quantization type or mix: {QuantizationPreset.Names} (Q3_K, Q4_K, Q5_K are the _M mixes, as in llama-quantize)",
            Required = true,
            CustomParser = result =>
            {
                string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (QuantizationPreset.TryParse(text, out var preset)) return preset;
                result.AddError($"--type: unknown quantization type '{text}' (expected one of {QuantizationPreset.Names})");
                return null;
            },
        };
        var imatrix = new Option<string?>("--imatrix") { Description = "Importance matrix (llama.cpp imatrix format) weighting the rounding error" };
        var pure = new Option<bool>("--pure") { Description = "Quantize every matrix to the one type (no mix rules), like llama-quantize --pure" };
        var allowRequantize = new Option<bool>("--allow-requantize") { Description = "Allow converting tensors that are already quantized (quality suffers)" };
        var threads = CommonOptions.Threads();

        var command = new Command("quantize", "Quantize a GGUF model as llama-quantize does")
        {
            input, output, type, imatrix, pure, allowRequantize, threads,
        };
        command.SetAction(parse =>
        {
            string inputPath = parse.GetValue(input)!;
            string outputPath = parse.GetValue(output)!;
            string? imatrixPath = parse.GetValue(imatrix);
            var options = new QuantizeOptions
            {
                Preset = parse.GetValue(type)!,
                Pure = parse.GetValue(pure),
                AllowRequantize = parse.GetValue(allowRequantize),
                Importance = imatrixPath is null ? null : ImportanceMatrixFile.Read(imatrixPath),
                ImportancePath = imatrixPath,
                Threads = parse.GetValue(threads),
            };
            var result = RunCancellable(outputPath, cancellation => ModelQuantizer.Quantize(inputPath, outputPath, options,
                p => console.Error.WriteLine(Describe(p)),
                warning => console.Error.WriteLine($"frugal: warning: {warning}"),
                cancellation));

            long parameters = result.Tensors.Sum(t => t.Elements);
            int converted = result.Tensors.Count(t => t.Converts);
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outputPath}: {options.Preset.Name}{(options.Pure ? " (pure)" : "")}, {result.Tensors.Count} tensors ({converted} converted), {Mebibytes(result.InputBytes)} -> {Mebibytes(result.OutputBytes)} ({8.0 * result.OutputBytes / Math.Max(1, parameters):F2} bits per weight)"));
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    /// <summary>Runs <paramref name="work"/> with Ctrl-C turned into a cancellation (the temporary file is removed).</summary>
    internal static T RunCancellable<T>(string outputPath, Func<CancellationToken, T> work)
    {
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return work(cancellation.Token);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw new OperationCanceledException($"interrupted: {outputPath} was not written");
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>e.g. "[  5/ 12] blk.0.attn_q.weight [256, 256] F32 -> Q4_0, 256.00 KiB -> 36.00 KiB"</summary>
    private static string Describe(QuantizeProgress p)
    {
        int width = p.Count.ToString(CultureInfo.InvariantCulture).Length;
        string index = p.Index.ToString(CultureInfo.InvariantCulture).PadLeft(width);
        string shape = string.Join(", ", p.Tensor.Shape);
        string change = p.Tensor.Converts
            ? $"{GgmlTypes.Name(p.Tensor.SourceType)} -> {GgmlTypes.Name(p.Tensor.TargetType)}, {Kibibytes(p.InputBytes)} -> {Kibibytes(p.OutputBytes)}"
            : $"{GgmlTypes.Name(p.Tensor.SourceType)} copied, {Kibibytes(p.InputBytes)}";
        return $"[{index}/{p.Count}] {p.Tensor.Name} [{shape}] {change}";
    }

    private static string Kibibytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F2} KiB");

    private static string Mebibytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F2} MiB");
}
