using Frugal.Gguf;
using Frugal.Models.Architectures;
using Frugal.Models.Tokenization;
using Frugal.Numerics.Threading;

namespace Frugal.Models;

/// <summary>Options for loading a model.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Worker threads for the forward pass (0 = every core).</summary>
    public int Threads { get; init; }
}

/// <summary>
/// A loaded model: its GGUF file (memory-mapped, weights never copied), hyper-parameters, tokenizer, weights
/// and the worker pool that runs its forward passes. Sessions (one per sequence) are created from it.
/// </summary>
public sealed class Model : IDisposable
{
    /// <summary>Default cap on a session's context when the caller does not choose one.</summary>
    public const int DefaultContextCap = 4096;

    private readonly ArchitectureBinding _binding;
    private readonly WorkerPool _pool;

    private Model(GgufFile file, ArchitectureBinding binding, Tokenizer tokenizer, WorkerPool pool)
    {
        File = file;
        _binding = binding;
        Tokenizer = tokenizer;
        _pool = pool;
    }

    /// <summary>Opens and validates a model; throws <see cref="GgufException"/> or <see cref="ModelLoadException"/> with one clear line.</summary>
    public static Model Load(string path, ModelLoadOptions? options = null)
    {
        int threads = options?.Threads ?? 0;
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(options), $"thread count must be positive, got {threads}");
        var file = GgufFile.Open(path);
        try
        {
            var binding = ArchitectureRegistry.Get(file).Bind(file);
            var tokenizer = Tokenizer.FromGguf(file);
            if (tokenizer.VocabSize != binding.Config.VocabSize)
                throw new ModelLoadException(path, $"the tokenizer has {tokenizer.VocabSize} tokens but the model has {binding.Config.VocabSize} embeddings");
            var pool = new WorkerPool(threads == 0 ? WorkerPool.DefaultThreadCount : threads);
            return new Model(file, binding, tokenizer, pool);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public ModelConfig Config => _binding.Config;

    public Tokenizer Tokenizer { get; }

    public GgufFile File { get; }

    /// <summary>The weights and switches bound from the file (for the reference forward pass and tools).</summary>
    public ArchitectureBinding Binding => _binding;

    public int Threads => _pool.ThreadCount;

    /// <summary>The worker pool running this model's forward passes (for diagnostics such as allocation checks).</summary>
    public WorkerPool Pool => _pool;

    /// <summary>A fresh sequence state (KV cache) of up to <paramref name="contextSize"/> tokens (0 = the model's, capped at 4096).</summary>
    public InferenceSession CreateSession(int contextSize = 0)
    {
        if (contextSize < 0) throw new ArgumentOutOfRangeException(nameof(contextSize), $"context size must be positive, got {contextSize}");
        int size = contextSize == 0 ? Math.Min(Config.ContextLength, DefaultContextCap) : contextSize;
        return new InferenceSession(_binding, _pool, size);
    }

    public void Dispose()
    {
        _pool.Dispose();
        _binding.Weights.Dispose();
        File.Dispose();
    }
}
