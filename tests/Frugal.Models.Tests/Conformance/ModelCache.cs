using System.Collections.Concurrent;

namespace Frugal.Models.Tests.Conformance;

/// <summary>Loads each shared model once per test run (loading the 32k-vocabulary tokenizers is not free).</summary>
public static class ModelCache
{
    private static readonly ConcurrentDictionary<string, Lazy<Model>> Models = new();

    public static Model Get(string path, int threads = 1) =>
        Models.GetOrAdd($"{path}|{threads}", _ => new Lazy<Model>(() => Model.Load(path, new ModelLoadOptions { Threads = threads }))).Value;
}
