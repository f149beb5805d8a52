using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Frugal.Server.Benchmark;

/// <summary>
/// Prompts of about N tokens made of varied English words (each request its own words, so a prefix cache
/// cannot make the benchmark trivial), optionally all starting with the same shared prefix. The
/// words-per-token ratio is measured once through the server's /tokenize when it has one.
/// </summary>
public sealed class PromptFactory
{
    private static readonly string[] Words =
    [
        "the", "little", "dog", "ran", "across", "green", "field", "while", "children", "played", "near", "old", "river",
        "bright", "morning", "sun", "rose", "over", "quiet", "village", "baker", "opened", "shop", "fresh", "bread",
        "smell", "filled", "street", "cat", "slept", "warm", "window", "teacher", "told", "story", "about", "brave",
        "knight", "dragon", "mountain", "castle", "stone", "bridge", "boat", "sailed", "far", "away", "island",
        "happy", "friends", "shared", "lunch", "under", "tall", "tree", "birds", "sang", "songs", "wind", "blew",
        "softly", "through", "leaves", "girl", "found", "shiny", "red", "ball", "garden", "flowers", "bloomed",
        "spring", "rain", "fell", "gently", "roof", "farmer", "planted", "seeds", "rows", "careful", "hands",
        "moon", "stars", "night", "sky", "dark", "blue", "light", "lamp", "book", "read", "every", "evening",
        "mother", "father", "brother", "sister", "walked", "school", "learned", "numbers", "letters", "painted",
        "picture", "yellow", "house", "door", "key", "lost", "searched", "everywhere", "finally", "pocket", "laughed",
    ];

    /// <summary>Tokens per English word when the server has no /tokenize (typical of BPE and SentencePiece vocabularies).</summary>
    public const double FallbackTokensPerWord = 1.3;

    private readonly BenchmarkOptions _options;
    private readonly double _tokensPerWord;
    private readonly string _sharedPrefix;

    private PromptFactory(BenchmarkOptions options, double tokensPerWord)
    {
        _options = options;
        _tokensPerWord = tokensPerWord;
        _sharedPrefix = options.SharedPrefixTokens > 0
            ? WordsFor(options.SharedPrefixTokens, new Random(options.Seed))
            : "";
    }

    /// <summary>Tokens per word measured on the server (or the fallback estimate).</summary>
    public double TokensPerWord => _tokensPerWord;

    public static async Task<PromptFactory> CreateAsync(HttpClient http, Uri root, BenchmarkOptions options, CancellationToken cancellation)
    {
        double? measured = await MeasureTokensPerWordAsync(http, root, cancellation);
        return new PromptFactory(options, measured ?? FallbackTokensPerWord);
    }

    /// <summary>The prompt of request <paramref name="number"/> (deterministic for a given seed).</summary>
    public string Prompt(int number)
    {
        int ownTokens = Math.Max(1, _options.PromptTokens - _options.SharedPrefixTokens);
        string own = WordsFor(ownTokens, new Random(HashCode.Combine(_options.Seed, number)));
        return _sharedPrefix.Length == 0 ? own : _sharedPrefix + " " + own;
    }

    private string WordsFor(int tokens, Random random)
    {
        int count = Math.Max(1, (int)Math.Round(tokens / _tokensPerWord));
        var text = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            if (i > 0) text.Append(' ');
            text.Append(Words[random.Next(Words.Length)]);
        }
        return text.ToString();
    }

    private static async Task<double?> MeasureTokensPerWordAsync(HttpClient http, Uri root, CancellationToken cancellation)
    {
        var random = new Random(12345);
        const int sampleWords = 200;
        var sample = string.Join(' ', Enumerable.Range(0, sampleWords).Select(_ => Words[random.Next(Words.Length)]));
        try
        {
            using var response = await http.PostAsync(new Uri(root, "tokenize"),
                new StringContent(new JsonObject { ["content"] = sample }.ToJsonString(), Encoding.UTF8, "application/json"), cancellation);
            if (!response.IsSuccessStatusCode) return null;
            var tokens = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellation))?["tokens"] as JsonArray;
            return tokens is { Count: > 0 } ? (double)tokens.Count / sampleWords : null;
        }
        catch (Exception error) when (error is HttpRequestException or JsonException or IOException)
        {
            return null;   // no /tokenize: the estimate will do
        }
    }
}
