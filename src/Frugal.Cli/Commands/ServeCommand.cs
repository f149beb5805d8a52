using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Frugal.Engine.Serving;
using Frugal.Models;
using Frugal.Server;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal serve --model M [--host H] [--port P] [--parallel N] [--ctx-size C] [--kv-memory SIZE] [--api-key K]
/// [--price-per-hour USD]</c>: the OpenAI-compatible server (docs/SERVER.md) over the continuous-batching
/// scheduler. Runs until Ctrl-C.
/// </summary>
public static class ServeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var host = new Option<string>("--host") { Description = "Address to listen on (an IP, localhost or *)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port)", DefaultValueFactory = _ => 8080,
            CustomParser = result => CommonOptions.ParseInteger(result, "--port", minimum: 0) };
        var parallel = new Option<int>("--parallel", "-np") { Description = "Most sequences generated together", DefaultValueFactory = _ => 8,
            CustomParser = result => CommonOptions.ParseInteger(result, "--parallel", minimum: 1) };
        var contextSize = CommonOptions.ContextSize();
        var kvMemory = new Option<long>("--kv-memory") { Description = "KV cache budget for all sequences, e.g. 512M or 2G (default: one full context per parallel sequence)",
            CustomParser = ParseSize };
        var batchTokens = new Option<int>("--batch-tokens") { Description = "Most tokens computed in one step (prefill chunks + decodes)", DefaultValueFactory = _ => 64,
            CustomParser = result => CommonOptions.ParseInteger(result, "--batch-tokens", minimum: 1) };
        var queue = new Option<int>("--queue") { Description = "Most requests waiting for a slot before 429", DefaultValueFactory = _ => 64,
            CustomParser = result => CommonOptions.ParseInteger(result, "--queue", minimum: 1) };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on every /v1 request" };
        var price = new Option<double>("--price-per-hour") { Description = "Machine price in USD per hour, for the cost of each request", DefaultValueFactory = _ => 0 };
        var timeout = new Option<int>("--timeout") { Description = "Per-request timeout in seconds", DefaultValueFactory = _ => 600,
            CustomParser = result => CommonOptions.ParseInteger(result, "--timeout", minimum: 1) };
        var alias = new Option<string?>("--alias") { Description = "Model id clients use (default: the file name)" };
        var threads = CommonOptions.Threads();
        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API")
        {
            model, host, port, parallel, contextSize, kvMemory, batchTokens, queue, apiKey, price, timeout, alias, threads,
        };
        command.SetAction(parse =>
        {
            var settings = new ServerSettings
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey),
                PricePerHour = parse.GetValue(price),
                RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                ModelId = parse.GetValue(alias),
            };
            var schedulerOptions = new SchedulerOptions
            {
                MaxRunning = parse.GetValue(parallel),
                ContextSize = parse.GetValue(contextSize),
                KvMemoryBytes = parse.GetValue(kvMemory),
                MaxBatchTokens = Math.Max(parse.GetValue(batchTokens), parse.GetValue(parallel)),
                QueueCapacity = parse.GetValue(queue),
            };
            try
            {
                settings.Validate();
                schedulerOptions.Validate();
            }
            catch (ArgumentException error)
            {
                throw new CliUsageException(error.ParamName is null ? error.Message : error.Message.Replace($" (Parameter '{error.ParamName}')", ""));
            }

            using var loaded = Model.Load(parse.GetValue(model)!, new ModelLoadOptions { Threads = parse.GetValue(threads) });
            var chat = JinjaChatRenderer.FromModel(loaded);
            if (chat is null) console.Error.WriteLine("frugal: the model has no chat template: /v1/chat/completions will answer 400");
            var scheduler = new ContinuousBatchingScheduler(loaded, schedulerOptions);
            using var stop = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                FrugalServer.RunAsync(loaded, scheduler, chat, settings,
                    address => console.Error.WriteLine($"frugal: serving {Path.GetFileName(loaded.File.Path)} at {address} " +
                        $"({schedulerOptions.MaxRunning} parallel, {loaded.Threads} threads); Ctrl-C stops"),
                    stop.Token).GetAwaiter().GetResult();
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
                scheduler.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    /// <summary>Parses a byte size: a whole number with an optional K, M or G suffix (powers of 1024).</summary>
    private static long ParseSize(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        long multiplier = 1;
        if (text.Length > 0 && char.ToUpperInvariant(text[^1]) is 'K' or 'M' or 'G')
        {
            multiplier = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            text = text[..^1];
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > long.MaxValue / multiplier)
        {
            result.AddError($"--kv-memory: '{string.Join(" ", result.Tokens.Select(t => t.Value))}' is not a size (e.g. 512M, 2G or a number of bytes)");
            return 0;
        }
        return value * multiplier;
    }
}
