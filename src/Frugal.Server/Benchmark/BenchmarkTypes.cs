namespace Frugal.Server.Benchmark;

public enum BenchmarkEndpoint { Completions, Chat }

/// <summary>What <see cref="ServeBenchmark"/> sends: for each concurrency level, <see cref="Requests"/> streaming requests.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>The server's root, e.g. http://127.0.0.1:8080 (a trailing /v1 is accepted too).</summary>
    public required Uri Url { get; init; }
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 4, 8, 16];
    public int Requests { get; init; } = 32;
    public int PromptTokens { get; init; } = 128;
    public int MaxTokens { get; init; } = 64;
    /// <summary>Model id to send; null = the first one GET /v1/models lists.</summary>
    public string? Model { get; init; }
    public string? ApiKey { get; init; }
    public BenchmarkEndpoint Endpoint { get; init; } = BenchmarkEndpoint.Completions;
    /// <summary>Tokens (about) that every prompt starts with, to exercise prefix caching; 0 = all prompts differ from the start.</summary>
    public int SharedPrefixTokens { get; init; }
    /// <summary>Machine price for the cost column when the server reports no usage.frugal.cost_usd.</summary>
    public double? PricePerHour { get; init; }
    /// <summary>Ask the server to ignore end-of-generation so every request produces MaxTokens (llama-server understands it too).</summary>
    public bool IgnoreEos { get; init; } = true;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public int Seed { get; init; } = 1;

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Url);
        if (!Url.IsAbsoluteUri || (Url.Scheme != Uri.UriSchemeHttp && Url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"the URL must be an absolute http(s) URL, got '{Url}'", nameof(Url));
        if (Concurrency.Count == 0) throw new ArgumentException("give at least one concurrency level", nameof(Concurrency));
        foreach (int level in Concurrency)
            if (level < 1) throw new ArgumentException($"concurrency levels must be >= 1, got {level}", nameof(Concurrency));
        if (Requests < 1) throw new ArgumentException($"the number of requests must be >= 1, got {Requests}", nameof(Requests));
        if (PromptTokens < 1) throw new ArgumentException($"the prompt length must be >= 1 token, got {PromptTokens}", nameof(PromptTokens));
        if (MaxTokens < 1) throw new ArgumentException($"max tokens must be >= 1, got {MaxTokens}", nameof(MaxTokens));
        if (SharedPrefixTokens < 0 || SharedPrefixTokens > PromptTokens)
            throw new ArgumentException($"the shared prefix must be between 0 and the prompt length ({PromptTokens}), got {SharedPrefixTokens}", nameof(SharedPrefixTokens));
        if (PricePerHour is double price && (!double.IsFinite(price) || price < 0))
            throw new ArgumentException($"the price per hour must be >= 0, got {price}", nameof(PricePerHour));
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException("the request timeout must be positive", nameof(RequestTimeout));
    }
}

/// <summary>p50 / p90 / p99 of a latency, in milliseconds (0 when nothing was measured).</summary>
public sealed record Percentiles(double P50, double P90, double P99, int Samples)
{
    public static Percentiles Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return new Percentiles(0, 0, 0, 0);
        double[] sorted = values.Order().ToArray();
        return new Percentiles(At(sorted, 0.50), At(sorted, 0.90), At(sorted, 0.99), sorted.Length);
    }

    /// <summary>Linear interpolation between the closest ranks (numpy's default).</summary>
    public static double At(IReadOnlyList<double> sorted, double quantile)
    {
        if (sorted.Count == 0) throw new ArgumentException("no values", nameof(sorted));
        double rank = quantile * (sorted.Count - 1);
        int below = (int)Math.Floor(rank);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
    }
}

/// <summary>One concurrency level's results.</summary>
public sealed record BenchmarkLevel
{
    public required int Concurrency { get; init; }
    public required int Requests { get; init; }
    public required int Succeeded { get; init; }
    public required int Errors { get; init; }
    /// <summary>The first error seen, to tell the user what went wrong.</summary>
    public string? FirstError { get; init; }
    public required double WallSeconds { get; init; }
    public required long PromptTokens { get; init; }
    public required long OutputTokens { get; init; }
    /// <summary>Output tokens of all requests / wall time of the level.</summary>
    public required double OutputTokensPerSecond { get; init; }
    public required double RequestsPerSecond { get; init; }
    public required Percentiles TimeToFirstTokenMs { get; init; }
    public required Percentiles InterTokenLatencyMs { get; init; }
    /// <summary>USD per million output tokens; null when neither the server nor --price-per-hour gives a price.</summary>
    public double? CostPerMillionOutputTokens { get; init; }
    /// <summary>"server" (summed usage.frugal.cost_usd) or "price-per-hour" (the whole machine for the level's wall time).</summary>
    public string? CostSource { get; init; }
    /// <summary>True when every successful request reported its token counts in usage (else streamed chunks were counted).</summary>
    public required bool UsageReported { get; init; }
}

public sealed record BenchmarkReport(string Url, string Model, string Endpoint, int PromptTokens, int MaxTokens, int SharedPrefixTokens,
    IReadOnlyList<BenchmarkLevel> Levels);
