using Microsoft.Extensions.Logging;

namespace Frugal.Server;

/// <summary>How the OpenAI-compatible server listens, names its model, authenticates and prices requests.</summary>
public sealed record ServerSettings
{
    /// <summary>Interface to listen on: an IP address, "localhost" (= 127.0.0.1) or "*" / "0.0.0.0" (every interface).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (read it back from <see cref="FrugalServer.GetBaseAddress"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The id clients name in "model"; null = the model file's name without ".gguf".</summary>
    public string? ModelId { get; init; }

    /// <summary>When set, every endpoint but /health and /metrics needs "Authorization: Bearer &lt;key&gt;".</summary>
    public string? ApiKey { get; init; }

    /// <summary>What the whole machine costs per hour (USD); a request pays its share of the cores it used.</summary>
    public double PricePerHour { get; init; }

    /// <summary>Power drawn by one fully busy core when no RAPL counters can be read (the energy estimate).</summary>
    public double EstimatedWattsPerBusyCore { get; init; } = 10.0;

    /// <summary>Where the RAPL energy counters live (tests point this at a fake tree).</summary>
    public string PowercapRoot { get; init; } = "/sys/class/powercap";

    /// <summary>Longest a request may run before its jobs are cancelled and the client gets an error.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest accepted request body (bytes); larger bodies get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Minimum level of ASP.NET Core's console log (LogLevel.None silences it).</summary>
    public LogLevel ConsoleLogLevel { get; init; } = LogLevel.Warning;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad value.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("the host must not be empty", nameof(Host));
        if (Port is < 0 or > 65535) throw new ArgumentException($"the port must be between 0 and 65535, got {Port}", nameof(Port));
        if (ModelId is not null && string.IsNullOrWhiteSpace(ModelId)) throw new ArgumentException("the model id must not be blank", nameof(ModelId));
        if (ApiKey is not null && ApiKey.Length == 0) throw new ArgumentException("the API key must not be empty (leave it unset for no key)", nameof(ApiKey));
        if (!double.IsFinite(PricePerHour) || PricePerHour < 0)
            throw new ArgumentException($"the price per hour must be a finite number >= 0, got {PricePerHour}", nameof(PricePerHour));
        if (!double.IsFinite(EstimatedWattsPerBusyCore) || EstimatedWattsPerBusyCore < 0)
            throw new ArgumentException($"the estimated watts per busy core must be a finite number >= 0, got {EstimatedWattsPerBusyCore}", nameof(EstimatedWattsPerBusyCore));
        if (RequestTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"the request timeout must be positive, got {RequestTimeout}", nameof(RequestTimeout));
        if (MaxRequestBodyBytes <= 0)
            throw new ArgumentException($"the maximum request body size must be positive, got {MaxRequestBodyBytes}", nameof(MaxRequestBodyBytes));
    }
}
