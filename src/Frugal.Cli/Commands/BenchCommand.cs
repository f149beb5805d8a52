using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using Frugal.Engine.Benchmarking;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal bench --model M [--prompt-tokens 512] [--gen-tokens 128] [--depth 0] [--threads 1,2] [--batch 1,4,8] [--repetitions 5] [--json]</c>:
/// prefill, single-stream decode and batched decode (B sequences per step, aggregate) tokens/s per thread count
/// (median and min–max over the repetitions, after a warm-up), the weight bytes decoding reads per second, this
/// machine's read bandwidth with the same threads and their ratio. Decoding starts from an empty context (as
/// llama-bench's tg does) unless --depth says otherwise. Progress goes to stderr; the table (or JSON) to stdout.
/// </summary>
public static class BenchCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var promptTokens = new Option<int>("--prompt-tokens", "-p")
        {
            Description = "Tokens in the prefill test (0 = none)",
            DefaultValueFactory = _ => 512,
            CustomParser = result => CommonOptions.ParseInteger(result, "--prompt-tokens", minimum: 0),
        };
        var genTokens = new Option<int>("--gen-tokens", "-n")
        {
            Description = "Tokens decoded one at a time by each sequence (0 = none)",
            DefaultValueFactory = _ => 128,
            CustomParser = result => CommonOptions.ParseInteger(result, "--gen-tokens", minimum: 0),
        };
        var depth = new Option<int>("--depth", "-d")
        {
            Description = "Tokens already in the context when decoding starts (0 = an empty context, as llama-bench's tg)",
            DefaultValueFactory = _ => 0,
            CustomParser = result => CommonOptions.ParseInteger(result, "--depth", minimum: 0),
        };
        var threads = new Option<int[]>("--threads", "-t")
        {
            Description = "Thread counts to measure, comma-separated",
            DefaultValueFactory = _ => [1, 2],
            CustomParser = ParseThreadList,
        };
        var batch = new Option<int[]>("--batch", "-b")
        {
            Description = "Sequences decoded together, comma-separated (1 = single stream; B > 1 = aggregate tokens/s of B sequences sharing each pass over the weights)",
            DefaultValueFactory = _ => [1],
            CustomParser = result => ParseCountList(result, "--batch", "batch size", BenchmarkOptions.MaxBatchSize),
        };
        var repetitions = new Option<int>("--repetitions", "-r")
        {
            Description = "Timed runs per thread count (after one short warm-up run)",
            DefaultValueFactory = _ => 5,
            CustomParser = result => CommonOptions.ParseInteger(result, "--repetitions", minimum: 1),
        };
        var json = CommonOptions.Json();
        var command = new Command("bench", "Measure prefill and decode speed against this machine's memory bandwidth")
        {
            model, promptTokens, genTokens, depth, threads, batch, repetitions, json,
        };
        command.SetAction(parse =>
        {
            var options = new BenchmarkOptions
            {
                PromptTokens = parse.GetValue(promptTokens),
                GenTokens = parse.GetValue(genTokens),
                Depth = parse.GetValue(depth),
                Threads = parse.GetValue(threads)!,
                BatchSizes = parse.GetValue(batch)!,
                Repetitions = parse.GetValue(repetitions),
            };
            if (options.PromptTokens + options.GenTokens == 0)
                throw new CliUsageException("--prompt-tokens and --gen-tokens are both 0: nothing to measure");
            var report = BenchmarkRunner.Run(parse.GetValue(model)!, options,
                progress: line => { console.Error.WriteLine($"frugal: bench: {line}"); console.Error.Flush(); });
            if (parse.GetValue(json)) console.Out.WriteLine(JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchmarkReport));
            else WriteText(report, console.Out);
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    /// <summary>Parses "1,2,4" (spaces allowed) into distinct thread counts of at least 1, in the order given.</summary>
    public static int[] ParseThreadList(ArgumentResult result) => ParseCountList(result, "--threads", "thread count", int.MaxValue);

    /// <summary>Parses a comma-separated list of distinct whole numbers from 1 to <paramref name="maximum"/>, in the order given.</summary>
    public static int[] ParseCountList(ArgumentResult result, string option, string what, int maximum)
    {
        string text = string.Join(",", result.Tokens.Select(token => token.Value));
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            result.AddError($"{option} needs at least one {what}, e.g. {option} 1,2");
            return [];
        }
        var counts = new List<int>();
        foreach (string part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1 || count > maximum)
            {
                string range = maximum == int.MaxValue ? ">= 1" : $"from 1 to {maximum}";
                result.AddError($"{option}: '{part}' is not a {what} (expected whole numbers {range} separated by commas, e.g. 1,2)");
                return [];
            }
            if (!counts.Contains(count)) counts.Add(count);
        }
        return counts.ToArray();
    }

    public static void WriteText(BenchmarkReport report, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        var m = report.Model;
        output.WriteLine(string.Create(inv, $"model: {m.Path}"));
        output.WriteLine(string.Create(inv, $"       {m.Architecture} \"{m.Name}\", {m.Parameters / 1e6:F1} M parameters, {m.FileBytes / 1048576.0:F1} MiB ({m.TensorTypes})"));
        output.WriteLine(string.Create(inv, $"       {m.WeightBytesPerToken / 1048576.0:F1} MiB of weights read per decoded token"));
        output.WriteLine(string.Create(inv, $"{report.Date}, {report.Simd}, {report.ProcessorCount} cores; median and min-max of {report.Repetitions} runs after {report.WarmupRuns} short warm-up"));
        output.WriteLine();

        string[] header = ["threads", "test", "tokens/s", "min-max", "weights GB/s", "bandwidth GB/s", "roofline"];
        var lines = report.Rows.Select(row => new[]
        {
            row.Threads.ToString(inv),
            TestLabel(row),
            row.TokensPerSecond.Median.ToString("F2", inv),
            $"{row.TokensPerSecond.Min.ToString("F2", inv)}-{row.TokensPerSecond.Max.ToString("F2", inv)}",
            row.WeightBytesPerSecond is { } weights ? (weights / 1e9).ToString("F2", inv) : "-",
            row.BandwidthBytesPerSecond is { } bandwidth ? (bandwidth / 1e9).ToString("F2", inv) : "-",
            row.RooflineEfficiency is { } ratio ? (ratio * 100).ToString("F1", inv) + "%" : "-",
        }).ToList();
        int[] widths = Enumerable.Range(0, header.Length).Select(c => lines.Select(l => l[c].Length).Append(header[c].Length).Max()).ToArray();
        string Format(string[] cells) => string.Join("  ", cells.Select((cell, c) => c == 1 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd();
        output.WriteLine(Format(header));
        foreach (var line in lines) output.WriteLine(Format(line));
        output.WriteLine();
        output.WriteLine("read bandwidth: " + string.Join(", ", report.Bandwidth.Select(b =>
            string.Create(inv, $"{b.BytesPerSecond / 1e9:F2} GB/s with {b.Threads} thread{(b.Threads == 1 ? "" : "s")}"))));
    }

    /// <summary>"prefill 512", "decode 128 @512" (decoding with 512 tokens already in the context), "decode 128 x8" (8 sequences, aggregate).</summary>
    private static string TestLabel(BenchmarkRow row)
    {
        string label = $"{row.Test} {row.Tokens}";
        if (row.BatchSize > 1) label += $" x{row.BatchSize}";
        if (row.Test == BenchmarkRunner.DecodeTest && row.ContextStart > 0) label += $" @{row.ContextStart}";
        return label;
    }
}
