using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Frugal.Server.Benchmark;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal bench-serve --url U [--concurrency 1,4,8,16] [--requests N] [--prompt-tokens P] [--max-tokens M] ...</c>:
/// load-tests an OpenAI-compatible server (Frugal's or llama-server) with streaming requests and prints, per
/// concurrency level, throughput, TTFT and inter-token latency percentiles, errors and cost per million tokens.
/// </summary>
public static class BenchServeCommand
{
    public static Command Create(CliConsole console)
    {
        var url = new Option<Uri>("--url")
        {
            Description = "Server root, e.g. http://127.0.0.1:8080",
            Required = true,
            CustomParser = ParseUrl,
        };
        var concurrency = new Option<int[]>("--concurrency")
        {
            Description = "Comma-separated concurrency levels",
            DefaultValueFactory = _ => [1, 4, 8, 16],
            CustomParser = ParseLevels,
        };
        var requests = new Option<int>("--requests", "-n")
        {
            Description = "Requests per concurrency level",
            DefaultValueFactory = _ => 32,
            CustomParser = result => CommonOptions.ParseInteger(result, "--requests", minimum: 1),
        };
        var promptTokens = new Option<int>("--prompt-tokens")
        {
            Description = "Approximate prompt length in tokens",
            DefaultValueFactory = _ => 128,
            CustomParser = result => CommonOptions.ParseInteger(result, "--prompt-tokens", minimum: 1),
        };
        var maxTokens = new Option<int>("--max-tokens")
        {
            Description = "Tokens to generate per request",
            DefaultValueFactory = _ => 64,
            CustomParser = result => CommonOptions.ParseInteger(result, "--max-tokens", minimum: 1),
        };
        var sharedPrefix = new Option<int>("--shared-prefix-tokens")
        {
            Description = "Tokens (about) every prompt starts with, to exercise prefix caching (0 = none)",
            CustomParser = result => CommonOptions.ParseInteger(result, "--shared-prefix-tokens", minimum: 0),
        };
        var endpoint = new Option<string>("--endpoint")
        {
            Description = "API to load: completions or chat",
            DefaultValueFactory = _ => "completions",
        };
        endpoint.AcceptOnlyFromAmong("completions", "chat");
        var model = new Option<string?>("--model") { Description = "Model name to send (default: the first one the server lists)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer key for the server" };
        var price = new Option<double?>("--price-per-hour") { Description = "Machine price (USD/hour) for the cost column when the server reports none" };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds one request may take",
            DefaultValueFactory = _ => 300,
            CustomParser = result => CommonOptions.ParseInteger(result, "--timeout", minimum: 1),
        };
        var keepEos = new Option<bool>("--respect-eos") { Description = "Let requests end at end-of-generation instead of always producing --max-tokens" };
        var json = CommonOptions.Json();

        var command = new Command("bench-serve", "Load-test an OpenAI-compatible server: throughput, TTFT and inter-token latency percentiles, cost")
        {
            url, concurrency, requests, promptTokens, maxTokens, sharedPrefix, endpoint, model, apiKey, price, timeout, keepEos, json,
        };
        command.SetAction(parse =>
        {
            var options = new BenchmarkOptions
            {
                Url = parse.GetValue(url)!,
                Concurrency = parse.GetValue(concurrency)!,
                Requests = parse.GetValue(requests),
                PromptTokens = parse.GetValue(promptTokens),
                MaxTokens = parse.GetValue(maxTokens),
                SharedPrefixTokens = parse.GetValue(sharedPrefix),
                Endpoint = parse.GetValue(endpoint) == "chat" ? BenchmarkEndpoint.Chat : BenchmarkEndpoint.Completions,
                Model = parse.GetValue(model),
                ApiKey = parse.GetValue(apiKey),
                PricePerHour = parse.GetValue(price),
                RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                IgnoreEos = !parse.GetValue(keepEos),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException error)
            {
                throw new CliUsageException(error.ParamName is null ? error.Message : error.Message.Replace($" (Parameter '{error.ParamName}')", ""));
            }

            bool asJson = parse.GetValue(json);
            var report = ServeBenchmark.RunAsync(options, progress: line => console.Error.WriteLine($"frugal: {line}"))
                .GetAwaiter().GetResult();
            console.Out.Write(asJson ? ServeBenchmark.FormatJson(report) + Environment.NewLine : ServeBenchmark.FormatTable(report));
            return report.Levels.All(level => level.Succeeded > 0) ? CommandLineApp.ExitOk : CommandLineApp.ExitFailure;
        });
        return command;
    }

    private static Uri ParseUrl(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            result.AddError($"--url: '{text}' is not an http(s) URL such as http://127.0.0.1:8080");
            return null!;
        }
        return uri;
    }

    private static int[] ParseLevels(ArgumentResult result)
    {
        string text = string.Join(",", result.Tokens.Select(token => token.Value));
        var levels = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int level) || level < 1)
            {
                result.AddError($"--concurrency: '{part}' is not a positive whole number (expected e.g. 1,4,8,16)");
                return [];
            }
            levels.Add(level);
        }
        if (levels.Count == 0) result.AddError("--concurrency needs at least one level, e.g. 1,4,8,16");
        return levels.ToArray();
    }
}
