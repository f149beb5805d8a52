using System.Diagnostics;
using System.Diagnostics.Metrics;
using Frugal.Engine.Serving;

namespace Frugal.Server.Telemetry;

/// <summary>
/// The server's instruments on the meter "Frugal.Server" (exported at /metrics by OpenTelemetry's Prometheus
/// exporter; names there gain unit suffixes, e.g. frugal_server_time_to_first_token_seconds). Gauges read the
/// scheduler's stats when scraped. Thread-safe.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Frugal.Server";

    // Latency buckets in seconds: 1 ms … 60 s (TTFT of a long prompt on a busy CPU reaches seconds).
    private static readonly double[] LatencyBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];

    private readonly Meter _meter;
    private readonly IGenerationScheduler _scheduler;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _interTokenLatency;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _cachedPromptTokens;
    private readonly Counter<long> _completionTokens;
    private readonly Counter<long> _requests;
    private readonly Counter<double> _costUsd;
    private readonly Counter<double> _cpuSeconds;
    private readonly Counter<double> _energyJoules;
    private readonly SlidingRate _completionTokenRate = new(TimeSpan.FromSeconds(10));
    private readonly Lock _totalsLock = new();
    private double _totalCostUsd;      // for cost per million tokens
    private long _totalTokens;         // prompt + completion tokens of finished requests

    public ServerMetrics(IGenerationScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _scheduler = scheduler;
        _meter = new Meter(MeterName);
        var latencyAdvice = new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets };
        _timeToFirstToken = _meter.CreateHistogram("frugal.server.time_to_first_token", "s",
            "Time from a request's arrival to its first generated token", advice: latencyAdvice);
        _interTokenLatency = _meter.CreateHistogram("frugal.server.inter_token_latency", "s",
            "Time between consecutive tokens of one sequence", advice: latencyAdvice);
        _requestDuration = _meter.CreateHistogram("frugal.server.request_duration", "s",
            "Time from a generation request's arrival to its last byte", advice: latencyAdvice);
        _promptTokens = _meter.CreateCounter<long>("frugal.server.prompt_tokens", "{token}", "Prompt tokens of finished requests");
        _cachedPromptTokens = _meter.CreateCounter<long>("frugal.server.cached_prompt_tokens", "{token}", "Prompt tokens served from the prefix cache");
        _completionTokens = _meter.CreateCounter<long>("frugal.server.completion_tokens", "{token}", "Generated tokens");
        _requests = _meter.CreateCounter<long>("frugal.server.requests", "{request}", "HTTP requests by endpoint and status code");
        _costUsd = _meter.CreateCounter<double>("frugal.server.cost_usd", "{USD}", "Machine cost attributed to requests");
        _cpuSeconds = _meter.CreateCounter<double>("frugal.server.cpu_time", "s", "CPU time attributed to requests");
        _energyJoules = _meter.CreateCounter<double>("frugal.server.energy", "J", "Energy attributed to requests (RAPL or estimate)");

        _meter.CreateObservableGauge("frugal.server.queue_depth", () => (long)Stats().Waiting, "{sequence}", "Sequences waiting to start");
        _meter.CreateObservableGauge("frugal.server.running_sequences", () => (long)Stats().Running, "{sequence}", "Sequences being generated");
        _meter.CreateObservableGauge("frugal.server.kv_blocks_used", () => (long)Stats().KvBlocksUsed, "{block}", "KV-cache blocks in use");
        _meter.CreateObservableGauge("frugal.server.kv_blocks_total", () => (long)Stats().KvBlocksTotal, "{block}", "KV-cache blocks in the pool");
        _meter.CreateObservableGauge("frugal.server.prefix_cache_hit_ratio", PrefixCacheHitRatio, null, "Share of looked-up prompt tokens found in the prefix cache");
        _meter.CreateObservableGauge("frugal.server.completion_tokens_per_second", () => _completionTokenRate.PerSecond(), "{token}/s", "Generated tokens per second over the last 10 s");
        _meter.CreateObservableGauge("frugal.server.cost_per_million_tokens_usd", CostPerMillionTokens, "{USD}", "Cost of finished requests per million (prompt + completion) tokens");
    }

    public void RecordTimeToFirstToken(TimeSpan elapsed) => _timeToFirstToken.Record(elapsed.TotalSeconds);

    public void RecordInterTokenLatency(TimeSpan elapsed) => _interTokenLatency.Record(elapsed.TotalSeconds);

    public void RecordCompletionTokenProduced() => _completionTokenRate.Add(1);

    public void RecordRequest(string endpoint, int statusCode) =>
        _requests.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("status", statusCode));

    /// <summary>Adds a finished generation request's tokens and cost.</summary>
    public void RecordUsage(string endpoint, TimeSpan duration, int promptTokens, int cachedPromptTokens, int completionTokens,
        double cpuSeconds, double costUsd, double energyJoules, string energySource)
    {
        var endpointTag = new KeyValuePair<string, object?>("endpoint", endpoint);
        _requestDuration.Record(duration.TotalSeconds, endpointTag);
        _promptTokens.Add(promptTokens, endpointTag);
        _cachedPromptTokens.Add(cachedPromptTokens, endpointTag);
        _completionTokens.Add(completionTokens, endpointTag);
        _cpuSeconds.Add(cpuSeconds, endpointTag);
        _costUsd.Add(costUsd, endpointTag);
        _energyJoules.Add(energyJoules, endpointTag, new KeyValuePair<string, object?>("source", energySource));
        lock (_totalsLock)
        {
            _totalCostUsd += costUsd;
            _totalTokens += promptTokens + completionTokens;
        }
    }

    // A scrape must not fail because the scheduler is shutting down.
    private SchedulerStats Stats()
    {
        try
        {
            return _scheduler.Stats;
        }
        catch (ObjectDisposedException)
        {
            return new SchedulerStats();
        }
    }

    private double PrefixCacheHitRatio()
    {
        var stats = Stats();
        return stats.PrefixCacheLookupTokens == 0 ? 0 : (double)stats.PrefixCacheHitTokens / stats.PrefixCacheLookupTokens;
    }

    private double CostPerMillionTokens()
    {
        lock (_totalsLock) return _totalTokens == 0 ? 0 : _totalCostUsd / _totalTokens * 1e6;
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Events per second over a trailing window, kept in one-second buckets. Thread-safe.</summary>
public sealed class SlidingRate
{
    private readonly long[] _counts;      // [window seconds] events counted in each second
    private readonly long[] _seconds;     // [window seconds] which absolute second each bucket currently holds
    private readonly Lock _lock = new();
    private readonly Func<long> _clockSeconds;

    public SlidingRate(TimeSpan window, Func<long>? clockSeconds = null)
    {
        int buckets = (int)Math.Ceiling(window.TotalSeconds);
        if (buckets < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "the window must be at least one second");
        _counts = new long[buckets];
        _seconds = new long[buckets];
        Array.Fill(_seconds, -1);
        _clockSeconds = clockSeconds ?? (() => Stopwatch.GetTimestamp() / Stopwatch.Frequency);
    }

    public void Add(long events)
    {
        long now = _clockSeconds();
        lock (_lock)
        {
            int bucket = (int)(now % _counts.Length);
            if (_seconds[bucket] != now)
            {
                _seconds[bucket] = now;
                _counts[bucket] = 0;
            }
            _counts[bucket] += events;
        }
    }

    /// <summary>Events in the buckets still inside the window, divided by the window length.</summary>
    public double PerSecond()
    {
        long now = _clockSeconds();
        long total = 0;
        lock (_lock)
        {
            for (int i = 0; i < _counts.Length; i++)
                if (_seconds[i] > now - _counts.Length && _seconds[i] <= now) total += _counts[i];
        }
        return (double)total / _counts.Length;
    }
}
