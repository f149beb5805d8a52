using System.Globalization;
using System.Text.RegularExpressions;

namespace Frugal.Server.Cost;

/// <summary>
/// Cumulative energy of the machine's CPU packages from Linux RAPL counters
/// (<c>/sys/class/powercap/intel-rapl:N/energy_uj</c>; the sub-domains intel-rapl:N:M are already inside their
/// package and are not added again). Each counter wraps at its <c>max_energy_range_uj</c>; every read folds the
/// step since the last read into a running total, so the total only grows. Thread-safe.
/// </summary>
public sealed partial class RaplEnergyMeter
{
    private readonly Domain[] _domains;
    private readonly Lock _lock = new();

    private RaplEnergyMeter(Domain[] domains) => _domains = domains;

    /// <summary>The package domains found, e.g. "intel-rapl:0".</summary>
    public IReadOnlyList<string> DomainNames => _domains.Select(domain => domain.Name).ToArray();

    /// <summary>A meter over every readable package domain under <paramref name="powercapRoot"/>, or null when
    /// there is none (no RAPL, or counters readable by root only, as on most kernels since 2020).</summary>
    public static RaplEnergyMeter? TryOpen(string powercapRoot)
    {
        if (!Directory.Exists(powercapRoot)) return null;
        var domains = new List<Domain>();
        string[] directories;
        try
        {
            directories = Directory.GetDirectories(powercapRoot);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        foreach (string directory in directories.Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(directory);
            if (!PackageDomainName().IsMatch(name)) continue;
            string energyPath = Path.Combine(directory, "energy_uj");
            ulong? energy = TryReadCounter(energyPath);
            ulong? range = TryReadCounter(Path.Combine(directory, "max_energy_range_uj"));
            if (energy is null || range is null or 0) return null; // a package we cannot read would make the sum wrong
            domains.Add(new Domain(name, energyPath, range.Value, energy.Value));
        }
        return domains.Count == 0 ? null : new RaplEnergyMeter(domains.ToArray());
    }

    /// <summary>Joules consumed by all packages since this meter was opened, or null when a counter became unreadable.</summary>
    public double? ReadJoules()
    {
        lock (_lock)
        {
            ulong totalMicrojoules = 0;
            foreach (var domain in _domains)
            {
                ulong? now = TryReadCounter(domain.EnergyPath);
                if (now is null || now.Value > domain.RangeMicrojoules) return null;
                // The counter only grows until it wraps past its range back to zero.
                ulong step = now.Value >= domain.LastMicrojoules
                    ? now.Value - domain.LastMicrojoules
                    : domain.RangeMicrojoules - domain.LastMicrojoules + now.Value;
                domain.LastMicrojoules = now.Value;
                domain.TotalMicrojoules += step;
                totalMicrojoules += domain.TotalMicrojoules;
            }
            return totalMicrojoules / 1e6;
        }
    }

    private static ulong? TryReadCounter(string path)
    {
        try
        {
            string text = File.ReadAllText(path).Trim();
            return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) ? value : null;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^intel-rapl:\d+$")]
    private static partial Regex PackageDomainName();

    // One package: where its counter is, where it wraps, the last raw value and the energy summed so far.
    private sealed class Domain(string name, string energyPath, ulong rangeMicrojoules, ulong lastMicrojoules)
    {
        public string Name { get; } = name;
        public string EnergyPath { get; } = energyPath;
        public ulong RangeMicrojoules { get; } = rangeMicrojoules;
        public ulong LastMicrojoules { get; set; } = lastMicrojoules;
        public ulong TotalMicrojoules { get; set; }
    }
}
