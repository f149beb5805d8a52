using System.Globalization;
using Frugal.Server.Cost;
using Frugal.Server.Telemetry;

namespace Frugal.Server.Tests;

public sealed class CostTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "frugal-rapl-" + Guid.NewGuid().ToString("N"));

    private void WriteDomain(string name, ulong energy, ulong range = 1_000_000)
    {
        string directory = Path.Combine(_root, name);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "energy_uj"), energy.ToString(CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(directory, "max_energy_range_uj"), range.ToString(CultureInfo.InvariantCulture) + "\n");
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void RaplSumsPackagesButNotTheirSubdomains()
    {
        WriteDomain("intel-rapl:0", 100);
        WriteDomain("intel-rapl:1", 500);
        WriteDomain("intel-rapl:0:0", 7);   // core sub-domain: inside package 0 already
        var meter = RaplEnergyMeter.TryOpen(_root)!;
        Assert.Equal(["intel-rapl:0", "intel-rapl:1"], meter.DomainNames);
        Assert.Equal(0, meter.ReadJoules());
        WriteDomain("intel-rapl:0", 2_100);
        WriteDomain("intel-rapl:1", 1_500);
        WriteDomain("intel-rapl:0:0", 999_999);
        Assert.Equal(0.003, meter.ReadJoules()!.Value, 9);
    }

    [Fact]
    public void RaplHandlesWrapAround()
    {
        WriteDomain("intel-rapl:0", 900_000);
        var meter = RaplEnergyMeter.TryOpen(_root)!;
        WriteDomain("intel-rapl:0", 100_000);          // wrapped at 1,000,000 µJ: 100,000 + 100,000 consumed
        Assert.Equal(0.2, meter.ReadJoules()!.Value, 9);
        WriteDomain("intel-rapl:0", 400_000);
        Assert.Equal(0.5, meter.ReadJoules()!.Value, 9);
    }

    [Fact]
    public void RaplIsUnavailableWithoutReadableCounters()
    {
        Assert.Null(RaplEnergyMeter.TryOpen(Path.Combine(_root, "missing")));
        Directory.CreateDirectory(Path.Combine(_root, "intel-rapl:0"));   // no energy_uj in it
        Assert.Null(RaplEnergyMeter.TryOpen(_root));
    }

    [Fact]
    public void RaplBecomingUnreadableGivesNull()
    {
        WriteDomain("intel-rapl:0", 10);
        var meter = RaplEnergyMeter.TryOpen(_root)!;
        File.Delete(Path.Combine(_root, "intel-rapl:0", "energy_uj"));
        Assert.Null(meter.ReadJoules());
    }

    [Fact]
    public void PriceIsTheRequestsShareOfTheMachine()
    {
        // 8 cores at $3.60/hour: 1 CPU-second is 1/8 of the machine for a second, $0.000125.
        var meter = new CostMeter(pricePerHour: 3.6, estimatedWattsPerBusyCore: 10, rapl: null, cores: 8);
        var cost = meter.Finish(meter.Start(), cpuSeconds: 1.0);
        Assert.Equal(0.000125, cost.CostUsd, 12);
        Assert.Equal(10.0, cost.EnergyJoules, 9);
        Assert.Equal(CostMeter.SourceEstimate, cost.EnergySource);
    }

    [Fact]
    public void RaplEnergyIsApportionedByCpuShare()
    {
        WriteDomain("intel-rapl:0", 0, range: 1UL << 40);
        var meter = new CostMeter(0, 10, RaplEnergyMeter.TryOpen(_root), cores: 2);
        var start = meter.Start();
        Thread.Sleep(50);
        WriteDomain("intel-rapl:0", 1_000_000, range: 1UL << 40); // 1 J over the request
        var cost = meter.Finish(start, cpuSeconds: 0.001);
        Assert.Equal(CostMeter.SourceRapl, cost.EnergySource);
        Assert.InRange(cost.EnergyJoules, 0.0001, 0.011); // share = 0.001 / (≥0.05 s × 2 cores) ≤ 1 %
    }

    [Fact]
    public void SlidingRateCountsOnlyTheWindow()
    {
        long now = 100;
        var rate = new SlidingRate(TimeSpan.FromSeconds(4), () => now);
        rate.Add(8);
        now = 101;
        rate.Add(4);
        Assert.Equal(3.0, rate.PerSecond());
        now = 104;   // the events of second 100 have left the 4-second window
        Assert.Equal(1.0, rate.PerSecond());
        now = 200;
        Assert.Equal(0.0, rate.PerSecond());
    }
}
