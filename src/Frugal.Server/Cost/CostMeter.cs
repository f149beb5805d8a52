using System.Diagnostics;

namespace Frugal.Server.Cost;

/// <summary>What one request cost: money from its CPU time, energy measured (RAPL) or estimated.</summary>
public readonly record struct RequestCost(double CpuSeconds, double CostUsd, double EnergyJoules, string EnergySource);

/// <summary>Where a request started, for apportioning the energy the machine used while it ran.</summary>
public readonly record struct CostStart(long Timestamp, double? MachineJoules);

/// <summary>
/// Prices requests (formulas in docs/SERVER.md):
/// USD = CPU-seconds / cores × price-per-hour / 3600 (the request's share of the whole machine for that time);
/// energy = RAPL joules over the request × CPU-seconds / (wall seconds × cores) when RAPL is readable,
/// else CPU-seconds × watts-per-busy-core, labelled "estimate".
/// </summary>
public sealed class CostMeter
{
    public const string SourceRapl = "rapl";
    public const string SourceEstimate = "estimate";

    private readonly RaplEnergyMeter? _rapl;

    public CostMeter(double pricePerHour, double estimatedWattsPerBusyCore, RaplEnergyMeter? rapl, int cores)
    {
        if (!double.IsFinite(pricePerHour) || pricePerHour < 0) throw new ArgumentOutOfRangeException(nameof(pricePerHour), pricePerHour, "price per hour must be >= 0");
        if (!double.IsFinite(estimatedWattsPerBusyCore) || estimatedWattsPerBusyCore < 0)
            throw new ArgumentOutOfRangeException(nameof(estimatedWattsPerBusyCore), estimatedWattsPerBusyCore, "watts per busy core must be >= 0");
        if (cores <= 0) throw new ArgumentOutOfRangeException(nameof(cores), cores, "core count must be > 0");
        PricePerHour = pricePerHour;
        EstimatedWattsPerBusyCore = estimatedWattsPerBusyCore;
        Cores = cores;
        _rapl = rapl;
    }

    public double PricePerHour { get; }
    public double EstimatedWattsPerBusyCore { get; }
    public int Cores { get; }
    public bool HasRapl => _rapl is not null;

    public CostStart Start() => new(Stopwatch.GetTimestamp(), _rapl?.ReadJoules());

    public RequestCost Finish(CostStart start, double cpuSeconds)
    {
        cpuSeconds = Math.Max(0, cpuSeconds);
        double usd = cpuSeconds / Cores * PricePerHour / 3600.0;
        double? endJoules = start.MachineJoules is null ? null : _rapl!.ReadJoules();
        double wallSeconds = Stopwatch.GetElapsedTime(start.Timestamp).TotalSeconds;
        if (start.MachineJoules is double before && endJoules is double after && wallSeconds > 0)
        {
            double share = Math.Clamp(cpuSeconds / (wallSeconds * Cores), 0, 1);
            return new RequestCost(cpuSeconds, usd, Math.Max(0, after - before) * share, SourceRapl);
        }
        return new RequestCost(cpuSeconds, usd, cpuSeconds * EstimatedWattsPerBusyCore, SourceEstimate);
    }
}
