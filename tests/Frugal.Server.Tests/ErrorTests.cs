using Frugal.Server.Tests.Support;
using Frugal.TestSupport;

namespace Frugal.Server.Tests;

/// <summary>Every way a request can be wrong gets its status code and OpenAI's error object.</summary>
public sealed class ErrorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;
    private const string Invalid = "invalid_request_error";

    [SharedTheory]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x",""")]
    [InlineData("/v1/chat/completions", """{"model": stories260K}""")]
    [InlineData("/tokenize", "not json at all")]
    [InlineData("/v1/completions", "")]
    public async Task MalformedJsonIs400(string path, string body)
    {
        var (status, error, _) = await Server.PostAsync(path, body);
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, null, "invalid_json");
    }

    [SharedFact]
    public async Task BodyThatIsNotAnObjectIs400()
    {
        var (status, error, _) = await Server.PostAsync("/v1/completions", """["a"]""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, null, "invalid_json");
    }

    [SharedTheory]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","temperature":"hot"}""", "temperature")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","max_tokens":"ten"}""", "max_tokens")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","max_tokens":1.5}""", "max_tokens")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","stream":"yes"}""", "stream")]
    [InlineData("/v1/completions", """{"model":7,"prompt":"x"}""", "model")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":{"text":"x"}}""", "prompt")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":["x",5]}""", "prompt")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","stop":7}""", "stop")]
    [InlineData("/v1/completions", """{"model":"stories260K","prompt":"x","logit_bias":{"5":"up"}}""", "logit_bias.5")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K","messages":"hello"}""", "messages")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K","messages":[{"role":"user","content":"hi"}],"logprobs":3}""", "logprobs")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K","messages":[{"role":"user","content":42}]}""", "messages[0].content")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K","messages":[{"role":5,"content":"hi"}]}""", "messages[0].role")]
    [InlineData("/detokenize", """{"tokens":"1,2"}""", "tokens")]
    public async Task WrongTypesAre400NamingTheParameter(string path, string body, string param)
    {
        var (status, error, _) = await Server.PostAsync(path, body);
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, param, "invalid_type");
    }

    [SharedTheory]
    [InlineData("/v1/completions", """{"prompt":"x"}""", "model")]
    [InlineData("/v1/completions", """{"model":"stories260K"}""", "prompt")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K"}""", "messages")]
    [InlineData("/v1/chat/completions", """{"model":"stories260K","messages":[{"content":"hi"}]}""", "messages[0].role")]
    [InlineData("/tokenize", """{}""", "content")]
    [InlineData("/detokenize", """{}""", "tokens")]
    public async Task MissingRequiredFieldsAre400(string path, string body, string param)
    {
        var (status, error, _) = await Server.PostAsync(path, body);
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, param, "missing_required_parameter");
    }

    [SharedTheory]
    [InlineData("/v1/completions", """{"model":"gpt-4o","prompt":"x"}""")]
    [InlineData("/v1/chat/completions", """{"model":"llama","messages":[{"role":"user","content":"hi"}]}""")]
    public async Task UnknownModelIs404(string path, string body)
    {
        var (status, error, _) = await Server.PostAsync(path, body);
        Assert.Equal(404, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "model", "model_not_found");
    }

    [SharedFact]
    public async Task UnknownModelInTheModelsRouteIs404()
    {
        var response = await Server.Http.GetAsync("/v1/models/gpt-4o");
        Assert.Equal(404, (int)response.StatusCode);
        var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        ErrorAssert.IsOpenAiError(body, Invalid, "model", "model_not_found");
        Assert.Equal(200, (int)(await Server.Http.GetAsync("/v1/models/stories260K")).StatusCode);
    }

    [SharedFact]
    public async Task PromptLongerThanTheContextIs400()
    {
        string ids = string.Join(",", Enumerable.Repeat(100, 300));   // context is 256
        var (status, error, _) = await Server.PostAsync("/v1/completions", $$"""{"model":"stories260K","prompt":[{{ids}}]}""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "prompt", "context_length_exceeded");

        string longText = string.Concat(Enumerable.Repeat("Lily and Ben played with the red ball in the park. ", 40));
        var (chatStatus, chatError, _) = await Server.PostAsync("/v1/chat/completions",
            $$"""{"model":"stories260K","messages":[{"role":"user","content":"{{longText}}"}]}""");
        Assert.Equal(400, chatStatus);
        ErrorAssert.IsOpenAiError(chatError, Invalid, "messages", "context_length_exceeded");
    }

    [SharedTheory]
    [InlineData("/v1/completions", "\"temperature\":2.5", "temperature")]
    [InlineData("/v1/completions", "\"temperature\":-0.1", "temperature")]
    [InlineData("/v1/completions", "\"top_p\":1.5", "top_p")]
    [InlineData("/v1/completions", "\"n\":0", "n")]
    [InlineData("/v1/completions", "\"n\":129", "n")]
    [InlineData("/v1/completions", "\"max_tokens\":0", "max_tokens")]
    [InlineData("/v1/completions", "\"presence_penalty\":3", "presence_penalty")]
    [InlineData("/v1/completions", "\"frequency_penalty\":-2.5", "frequency_penalty")]
    [InlineData("/v1/completions", "\"logprobs\":6", "logprobs")]
    [InlineData("/v1/completions", "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop")]
    [InlineData("/v1/completions", "\"logit_bias\":{\"abc\":1}", "logit_bias")]
    [InlineData("/v1/completions", "\"logit_bias\":{\"99999\":1}", "logit_bias")]
    [InlineData("/v1/completions", "\"logit_bias\":{\"5\":101}", "logit_bias")]
    [InlineData("/v1/completions", "\"best_of\":3", "best_of")]
    [InlineData("/v1/chat/completions", "\"top_logprobs\":21,\"logprobs\":true", "top_logprobs")]
    [InlineData("/v1/chat/completions", "\"top_logprobs\":2", "top_logprobs")]
    [InlineData("/v1/chat/completions", "\"max_completion_tokens\":0", "max_completion_tokens")]
    public async Task ParametersOutOfRangeAre400NamingTheParameter(string path, string field, string param)
    {
        string body = path == "/v1/completions"
            ? $$"""{"model":"stories260K","prompt":"x",{{field}}}"""
            : $$"""{"model":"stories260K","messages":[{"role":"user","content":"hi"}],{{field}}}""";
        var (status, error, _) = await Server.PostAsync(path, body);
        Assert.Equal(400, status);
        var details = ErrorAssert.IsOpenAiError(error, Invalid, param, error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(details.GetProperty("code").GetString(), new[] { "invalid_value", "unsupported_parameter" });
    }

    [SharedFact]
    public async Task TokenIdsOutsideTheVocabularyAre400()
    {
        var (status, error, _) = await Server.PostAsync("/v1/completions", """{"model":"stories260K","prompt":[1,512]}""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "prompt", "invalid_value");
        var (detokStatus, detokError, _) = await Server.PostAsync("/detokenize", """{"tokens":[-1]}""");
        Assert.Equal(400, detokStatus);
        ErrorAssert.IsOpenAiError(detokError, Invalid, "tokens", "invalid_value");
    }

    [SharedFact]
    public async Task TemplateRefusingTheConversationIs400AndATemplateBugIs500()
    {
        var (status, error, _) = await Server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"tool","content":"42"}]}""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "messages", "invalid_conversation");

        var (bugStatus, bugError, _) = await Server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"crash","content":"x"}]}""");
        Assert.Equal(500, bugStatus);
        ErrorAssert.IsOpenAiError(bugError, "server_error", null, "chat_template_error");
    }

    [SharedFact]
    public async Task NonTextContentPartsAre400()
    {
        var (status, error, _) = await Server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "messages[0].content[0].type", "unsupported_content");
    }

    [SharedFact]
    public async Task UnknownUrlIs404AndOversizedBodyIs413()
    {
        var (status, error, _) = await Server.PostAsync("/v1/embeddings", "{}");
        Assert.Equal(404, status);
        ErrorAssert.IsOpenAiError(error, Invalid, null, "unknown_url");

        string huge = new('a', (1 << 20) + 10);   // the test server accepts 1 MiB
        var (bigStatus, bigError, _) = await Server.PostAsync("/v1/completions", $$"""{"model":"stories260K","prompt":"{{huge}}"}""", expectContinue: true);
        Assert.Equal(413, bigStatus);
        ErrorAssert.IsOpenAiError(bigError, Invalid, null, "request_too_large");
    }

    [SharedFact]
    public async Task UnknownFieldsAndUserAreIgnored()
    {
        var (status, body, _) = await Server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"user":"u-1","some_future_field":{"a":[1]},"max_tokens":3}""");
        Assert.Equal(200, status);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }
}
