using System.Text;
using System.Text.Json;
using Frugal.Engine;
using Frugal.Engine.Sampling;
using Frugal.Models;
using Frugal.TestSupport;

namespace Frugal.Server.Tests.Support;

/// <summary>One server shared by a test class, plus a separate copy of the model for reference generations.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly Lock _referenceLock = new();
    private TestServer? _server;
    private Model? _reference;

    public TestServer Server => _server ?? throw new InvalidOperationException(SharedData.MissingMessage);

    public async Task InitializeAsync()
    {
        if (!SharedData.Available) return;
        _server = await TestServer.StartAsync();
        _reference = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 1 });
    }

    /// <summary>What frugal run computes: greedy generation by <see cref="Generator"/> on a fresh session.</summary>
    public GenerationResult Greedy(int[] promptTokens, int maxTokens)
    {
        lock (_referenceLock)
        {
            using var session = _reference!.CreateSession(256);
            return Generator.Generate(session, _reference.Tokenizer, promptTokens,
                new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy });
        }
    }

    /// <summary>Greedy continuation of a text prompt tokenized as frugal run does (BOS added, special tokens parsed).</summary>
    public GenerationResult Greedy(string prompt, int maxTokens) =>
        Greedy(_reference!.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true), maxTokens);

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        _reference?.Dispose();
    }
}

/// <summary>Reads server-sent events: the payload of every "data:" line, in order.</summary>
public static class Sse
{
    public static async Task<List<string>> ReadAllAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        while (await reader.ReadLineAsync() is string line)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add(line[6..]);
        return events;
    }

    /// <summary>The JSON events (everything but the final [DONE]).</summary>
    public static List<JsonElement> Json(IEnumerable<string> events) =>
        events.Where(e => e != "[DONE]").Select(e => JsonDocument.Parse(e).RootElement.Clone()).ToList();
}

/// <summary>Asserts OpenAI's error object: {"error": {"message", "type", "param", "code"}}.</summary>
public static class ErrorAssert
{
    public static JsonElement IsOpenAiError(JsonElement body, string type, string? param, string? code)
    {
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(type, error.GetProperty("type").GetString());
        var paramElement = error.GetProperty("param");
        if (param is null) Assert.Equal(JsonValueKind.Null, paramElement.ValueKind);
        else Assert.Equal(param, paramElement.GetString());
        var codeElement = error.GetProperty("code");
        if (code is null) Assert.Equal(JsonValueKind.Null, codeElement.ValueKind);
        else Assert.Equal(code, codeElement.GetString());
        return error;
    }
}
