using Xunit;

namespace Frugal.TestSupport;

/// <summary>
/// Tests that measure process-wide quantities (allocated bytes, timings) join this collection: it runs alone,
/// after the parallel tests, so no other test's allocations are counted.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (process-wide measurements)";
}
