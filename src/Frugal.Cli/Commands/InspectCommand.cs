using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Frugal.Gguf;

namespace Frugal.Cli.Commands;

/// <summary><c>frugal inspect MODEL [--json]</c>: metadata, tensor table and totals of a GGUF file (weights are not read).</summary>
public static class InspectCommand
{
    /// <summary>How many leading items of a metadata array are shown.</summary>
    private const int ArrayItemsShown = 5;

    public static Command Create(CliConsole console)
    {
        var model = new Argument<string>("model") { Description = "Path of the GGUF file" };
        var json = CommonOptions.Json();
        var command = new Command("inspect", "Print a GGUF file's metadata, tensors and totals") { model, json };
        command.SetAction(parse =>
        {
            using var file = GgufFile.Open(parse.GetValue(model)!);
            var report = Describe(file);
            if (parse.GetValue(json)) console.Out.WriteLine(JsonSerializer.Serialize(report, CliJsonContext.Readable.InspectJson));
            else WriteText(report, console.Out);
            return CommandLineApp.ExitOk;
        });
        return command;
    }

    public static InspectJson Describe(GgufFile file)
    {
        var metadata = file.MetadataInOrder.Select(entry => DescribeValue(entry.Key, entry.Value)).ToArray();
        var tensors = file.Tensors
            .Select(tensor => new TensorJson(tensor.Name, tensor.TypeInfo.Name, tensor.Shape, tensor.ByteSize))
            .ToArray();
        long parameters = file.Tensors.Sum(tensor => tensor.ElementCount);
        long bytes = file.Tensors.Sum(tensor => tensor.ByteSize);
        var totals = new TotalsJson(tensors.Length, parameters, bytes, parameters == 0 ? 0 : (double)bytes / parameters);
        return new InspectJson(file.Path, file.Version, file.Alignment, file.FileSize, file.DataOffset, metadata, tensors, totals);
    }

    private static MetadataJson DescribeValue(string key, GgufValue value)
    {
        string type = GgufValueTypes.Name(value.Type);
        if (value.Value is GgufArray array)
        {
            var first = Enumerable.Range(0, Math.Min(array.Count, ArrayItemsShown)).Select(i => ToNode(array[i])).ToArray();
            return new MetadataJson(key, type, null, GgufValueTypes.Name(array.ElementType), array.Count, first);
        }
        return new MetadataJson(key, type, ToNode(value.Value), null, null, null);
    }

    private static JsonNode? ToNode(object value) => value switch
    {
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        byte v => JsonValue.Create(v),
        sbyte v => JsonValue.Create(v),
        ushort v => JsonValue.Create(v),
        short v => JsonValue.Create(v),
        uint v => JsonValue.Create(v),
        int v => JsonValue.Create(v),
        ulong v => JsonValue.Create(v),
        long v => JsonValue.Create(v),
        float v => float.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture)),
        double v => double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture)),
        GgufArray nested => JsonValue.Create(nested.ToString()),
        _ => JsonValue.Create(value.ToString()),
    };

    private static void WriteText(InspectJson report, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine($"file: {report.Path}");
        output.WriteLine(string.Create(inv, $"GGUF v{report.Version}, {report.FileSize:N0} bytes, alignment {report.Alignment}, tensor data at offset {report.DataOffset:N0}"));
        output.WriteLine();

        output.WriteLine($"metadata ({report.Metadata.Length} keys):");
        int keyWidth = report.Metadata.Select(m => m.Key.Length).DefaultIfEmpty(0).Max();
        foreach (var entry in report.Metadata)
        {
            string shown = entry.Count is long count
                ? $"[{entry.ElementType} × {count}{(count > 0 ? ": " : "")}{string.Join(", ", entry.First!.Select(Show))}{(count > ArrayItemsShown ? ", ..." : "")}]"
                : Show(entry.Value);
            output.WriteLine($"  {entry.Key.PadRight(keyWidth)}  {entry.Type,-7}  {shown}");
        }
        output.WriteLine();

        output.WriteLine($"tensors ({report.Tensors.Length}):");
        int nameWidth = Math.Max(4, report.Tensors.Select(t => t.Name.Length).DefaultIfEmpty(0).Max());
        output.WriteLine($"  {"name".PadRight(nameWidth)}  {"type",-6}  {"shape",-20}  {"bytes",14}");
        foreach (var tensor in report.Tensors)
        {
            string shape = "[" + string.Join(", ", tensor.Shape) + "]";
            output.WriteLine(string.Create(inv, $"  {tensor.Name.PadRight(nameWidth)}  {tensor.Type,-6}  {shape,-20}  {tensor.Bytes,14:N0}"));
        }
        output.WriteLine();

        var totals = report.Totals;
        output.WriteLine(string.Create(inv,
            $"totals: {totals.Tensors} tensors, {totals.Parameters:N0} parameters, {totals.Bytes:N0} bytes, {totals.BytesPerWeight:0.####} bytes per weight ({totals.BytesPerWeight * 8:0.##} bits)"));
    }

    // Text of a metadata value as JSON would write it (strings quoted and escaped), cut when very long.
    private static string Show(JsonNode? node)
    {
        string text = node?.ToJsonString(CliJsonContext.Readable.Options) ?? "null";
        return text.Length > 100 ? text[..97] + "..." : text;
    }
}
