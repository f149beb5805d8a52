using System.Text.Json;
using Frugal.Cli.Commands;
using Frugal.Server.Benchmark;
using Frugal.Server.Tests.Support;
using Frugal.TestSupport;

namespace Frugal.Server.Tests;

/// <summary>The load generator and <c>frugal bench-serve</c>, against the in-process server with tiny numbers.</summary>
public sealed class BenchmarkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public void PercentilesInterpolateBetweenRanks()
    {
        var values = Enumerable.Range(1, 101).Select(i => (double)i).ToArray();   // 1..101
        var p = Percentiles.Of(values);
        Assert.Equal(51, p.P50);
        Assert.Equal(91, p.P90);
        Assert.Equal(100, p.P99);
        Assert.Equal(101, p.Samples);
        Assert.Equal(2.5, Percentiles.At([1.0, 2.0, 3.0, 4.0], 0.5));
        Assert.Equal(new Percentiles(0, 0, 0, 0), Percentiles.Of([]));
    }

    [Theory]
    [InlineData("http://h:8080", "http://h:8080/")]
    [InlineData("http://h:8080/", "http://h:8080/")]
    [InlineData("http://h:8080/v1", "http://h:8080/")]
    [InlineData("http://h:8080/v1/", "http://h:8080/")]
    public void ServerRootAcceptsTheV1Suffix(string url, string root) => Assert.Equal(root, ServeBenchmark.ServerRoot(new Uri(url)).ToString());

    [SharedFact]
    public async Task CompletionsBenchmarkCountsEveryTokenAndPricesIt()
    {
        var options = new BenchmarkOptions
        {
            Url = fixture.Server.BaseAddress,
            Concurrency = [1, 2],
            Requests = 3,
            PromptTokens = 24,
            MaxTokens = 8,
        };
        var report = await ServeBenchmark.RunAsync(options);
        Assert.Equal("stories260K", report.Model);
        Assert.Equal(2, report.Levels.Count);
        foreach (var level in report.Levels)
        {
            Assert.Equal(0, level.Errors);
            Assert.Equal(3, level.Succeeded);
            Assert.Equal(3 * 8, level.OutputTokens);   // ignore_eos: every request makes max_tokens
            Assert.True(level.UsageReported);
            Assert.InRange(level.PromptTokens, 3 * 12, 3 * 48);   // "about 24 tokens" each
            Assert.Equal(3, level.TimeToFirstTokenMs.Samples);
            Assert.Equal(3 * 7, level.InterTokenLatencyMs.Samples);
            Assert.True(level.OutputTokensPerSecond > 0);
            Assert.Equal("server", level.CostSource);
            Assert.True(level.CostPerMillionOutputTokens > 0);
        }
        Assert.Contains("conc", ServeBenchmark.FormatTable(report));
    }

    [SharedFact]
    public async Task ChatBenchmarkWithASharedPrefix()
    {
        var options = new BenchmarkOptions
        {
            Url = new Uri(fixture.Server.BaseAddress, "v1"),
            Concurrency = [2],
            Requests = 2,
            PromptTokens = 20,
            SharedPrefixTokens = 10,
            MaxTokens = 4,
            Endpoint = BenchmarkEndpoint.Chat,
            Model = "stories260K",
        };
        var report = await ServeBenchmark.RunAsync(options);
        var level = Assert.Single(report.Levels);
        Assert.Equal(0, level.Errors);
        Assert.Equal(8, level.OutputTokens);
        Assert.Equal("chat", report.Endpoint);
    }

    [SharedFact]
    public async Task ErrorsAreCountedNotThrown()
    {
        var options = new BenchmarkOptions
        {
            Url = fixture.Server.BaseAddress,
            Concurrency = [1],
            Requests = 2,
            PromptTokens = 4,
            MaxTokens = 2,
            Model = "no-such-model",
            PricePerHour = 1,
        };
        var level = Assert.Single((await ServeBenchmark.RunAsync(options)).Levels);
        Assert.Equal(2, level.Errors);
        Assert.StartsWith("HTTP 404", level.FirstError);
        Assert.Null(level.CostPerMillionOutputTokens);
    }

    [SharedFact]
    public void BenchServeCommandPrintsJson()
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var console = new CliConsole(output, errors);
        int exit = CommandLineApp.Invoke(CommandLineApp.Build(console),
            ["bench-serve", "--url", fixture.Server.BaseAddress.ToString(), "--concurrency", "1,2", "--requests", "2",
             "--prompt-tokens", "8", "--max-tokens", "3", "--json"], console);
        Assert.True(exit == 0, errors.ToString());
        var report = JsonDocument.Parse(output.ToString()).RootElement;
        var levels = report.GetProperty("levels").EnumerateArray().ToArray();
        Assert.Equal([1, 2], levels.Select(l => l.GetProperty("concurrency").GetInt32()));
        Assert.All(levels, l => Assert.Equal(6, l.GetProperty("output_tokens").GetInt64()));
        Assert.All(levels, l => Assert.True(l.GetProperty("time_to_first_token_ms").GetProperty("p99").GetDouble() > 0));
        Assert.Contains("concurrency 2", errors.ToString());
    }

    [Theory]
    [InlineData("--concurrency", "0")]
    [InlineData("--concurrency", "1,x")]
    [InlineData("--requests", "0")]
    [InlineData("--url", "ftp://example")]
    public void BenchServeRejectsBadValues(string option, string value)
    {
        var errors = new StringWriter();
        var console = new CliConsole(new StringWriter(), errors);
        string[] args = option == "--url"
            ? ["bench-serve", "--url", value]
            : ["bench-serve", "--url", "http://127.0.0.1:9", option, value];
        Assert.Equal(CommandLineApp.ExitUsage, CommandLineApp.Invoke(CommandLineApp.Build(console), args, console));
        Assert.StartsWith("frugal: ", errors.ToString());
        Assert.Contains(option, errors.ToString());
    }
}
