using Frugal.Engine.Serving;
using Frugal.Models;
using Frugal.Server.Cost;
using Frugal.Server.Telemetry;

namespace Frugal.Server;

/// <summary>Everything the endpoints share: the model, the scheduler, the chat renderer, settings, metrics and pricing.</summary>
public sealed class ServerState(Model model, IGenerationScheduler scheduler, IChatRenderer? chat, ServerSettings settings,
    string modelId, ServerMetrics metrics, CostMeter cost)
{
    public Model Model { get; } = model;
    public IGenerationScheduler Scheduler { get; } = scheduler;
    public IChatRenderer? Chat { get; } = chat;
    public ServerSettings Settings { get; } = settings;
    public string ModelId { get; } = modelId;
    public ServerMetrics Metrics { get; } = metrics;
    public CostMeter Cost { get; } = cost;

    /// <summary>Unix time the server started; reported as the model's "created".</summary>
    public long StartedUnixSeconds { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Accepts the configured id and the model's file name (with or without ".gguf").</summary>
    public bool ServesModel(string requested) =>
        requested == ModelId
        || requested == Path.GetFileName(Model.File.Path)
        || requested == Path.GetFileNameWithoutExtension(Model.File.Path);
}
