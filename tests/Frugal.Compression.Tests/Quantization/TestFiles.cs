using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Compression.Tests.Quantization;

/// <summary>Files under tests/Frugal.Compression.Tests/Data, found from the test binary by walking up to the checkout.</summary>
internal static class TestData
{
    public static string Path(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "tests", "Frugal.Compression.Tests", "Data", name);
            if (System.IO.File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"test data {name} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Children's stories written for the tests (about 1,000 tokens of the stories260K vocabulary).</summary>
    public static string CalibrationText => System.IO.File.ReadAllText(Path("calibration.txt"));
}

/// <summary>A fresh folder under the system temp folder, deleted with everything in it on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("frugal-quantize-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// The tokens and llama.cpp's top-k logits of one ../shared/reference file (see the shared README): position i
/// holds the logits after token i of prompt_tokens followed by greedy_tokens.
/// </summary>
internal sealed record ReferenceLogits(int[] Tokens, int[][] Ids, float[][] Logits)
{
    public static ReferenceLogits Load(string fileName)
    {
        using var document = JsonDocument.Parse(System.IO.File.ReadAllText(SharedData.Path("reference", fileName)));
        var root = document.RootElement;
        int[] Ints(JsonElement array) => array.EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var positions = root.GetProperty("positions").EnumerateArray().ToArray();
        return new ReferenceLogits(
            [.. Ints(root.GetProperty("prompt_tokens")), .. Ints(root.GetProperty("greedy_tokens"))],
            positions.Select(p => Ints(p.GetProperty("ids"))).ToArray(),
            positions.Select(p => p.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray());
    }

    /// <summary>The largest |ours − llama.cpp's| over every recorded logit; <paramref name="logits"/> is [positions, vocab].</summary>
    public double WorstDifference(float[] logits, int vocab)
    {
        double worst = 0;
        for (int p = 0; p < Ids.Length; p++)
            for (int k = 0; k < Ids[p].Length; k++)
                worst = Math.Max(worst, Math.Abs(logits[p * vocab + Ids[p][k]] - Logits[p][k]));
        return worst;
    }
}
