using Frugal.Gguf;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Loading;

/// <summary>
/// Models that cannot run are refused with one line naming the file and the problem. Each case rewrites a copy
/// of stories260K with one thing broken.
/// </summary>
public sealed class ModelLoadErrorTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("frugal-model-load-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Broken(string name, Action<GgufWriter, GgufFile> breakIt)
    {
        string path = Path.Combine(_directory, name + ".gguf");
        using var source = GgufFile.Open(SharedData.Model("stories260K.gguf"));
        var writer = GgufWriter.CopyFrom(source);
        breakIt(writer, source);
        writer.WriteTo(path);
        return path;
    }

    private static string LoadError(string path)
    {
        var error = Assert.ThrowsAny<Exception>(() => Model.Load(path, new ModelLoadOptions { Threads = 1 }));
        Assert.True(error is ModelLoadException or GgufException, $"unexpected {error.GetType().Name}: {error.Message}");
        Assert.StartsWith(path, error.Message);
        Assert.DoesNotContain('\n', error.Message);
        return error.Message;
    }

    [SharedFact]
    public void Unsupported_architecture()
    {
        string path = Broken("arch", (w, _) => w.SetMetadata("general.architecture", GgufValue.FromString("mamba")));
        Assert.Contains("unsupported architecture 'mamba' (supported: llama, qwen2)", LoadError(path));
    }

    [SharedFact]
    public void Missing_required_tensor()
    {
        string path = Broken("tensor", (w, _) => w.RemoveTensor("blk.3.ffn_down.weight"));
        Assert.Contains("missing required tensor 'blk.3.ffn_down.weight'", LoadError(path));
    }

    [SharedFact]
    public void Missing_required_key()
    {
        string path = Broken("key", (w, _) => w.RemoveMetadata("llama.block_count"));
        Assert.Contains("missing required key 'llama.block_count'", LoadError(path));
    }

    [SharedFact]
    public void Tensor_with_the_wrong_shape()
    {
        string path = Broken("shape", (w, source) =>
        {
            var tensor = source.GetTensor("blk.0.attn_q.weight");
            w.RemoveTensor(tensor.Name);
            w.AddTensor(tensor.Name, [64, 32], GgmlType.F32, new byte[64 * 32 * 4]);
        });
        Assert.Contains("tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [64, 64]", LoadError(path));
    }

    [SharedFact]
    public void Tensor_type_without_kernels()
    {
        string path = Broken("type", (w, source) =>
        {
            var tensor = source.GetTensor("blk.0.attn_q.weight");
            w.RemoveTensor(tensor.Name);
            w.AddTensor(tensor.Name, [64, 64], GgmlType.I32, new byte[64 * 64 * 4]);
        });
        Assert.Contains("tensor 'blk.0.attn_q.weight' has type I32, which Frugal cannot compute yet", LoadError(path));
    }

    [SharedFact]
    public void Heads_that_do_not_divide()
    {
        string path = Broken("heads", (w, _) => w.SetMetadata("llama.attention.head_count_kv", GgufValue.FromUInt32(3)));
        Assert.Contains("head count 8 is not a multiple of the KV head count 3", LoadError(path));
    }

    [Fact]
    public void Missing_file()
    {
        string path = Path.Combine(_directory, "nothing-here.gguf");
        var error = Assert.Throws<GgufException>(() => Model.Load(path));
        Assert.StartsWith(path, error.Message);
    }
}
